/** The API server's dispatch: a route failing after its answer went out leaves the daemon up. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ApiServer, jsonDepth } from "../../../src/api/server.js";

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, agent: false }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("a route that fails after its answer ended is logged, and the server keeps answering", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-api-"));
  const logged: string[] = [];
  const api = new ApiServer((m) => logged.push(m));
  api.route("GET", "/late-failure", async (_req, res) => {
    res.writeHead(201).end("done");
    throw new Error("a clean-up failed");
  });
  api.route("GET", "/_ping", () => "OK");
  try {
    await api.listen({ path: join(dir, "api.sock") });
    const r = await get(join(dir, "api.sock"), "/late-failure");
    assert.deepEqual(r, { status: 201, body: "done" });
    assert.equal((await get(join(dir, "api.sock"), "/_ping")).body, "OK");
    assert.ok(logged.some((m) => m.includes("a clean-up failed")));
  } finally {
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("JSON depth counts arrays and objects, not brackets in strings", () => {
  assert.equal(jsonDepth('{"a":[1,{"b":"[[[{{{"}]}'), 3);
  assert.equal(jsonDepth('"\\"[["'), 0);
  assert.equal(jsonDepth(`${"[".repeat(1000)}${"]".repeat(1000)}`), 1000);
});
