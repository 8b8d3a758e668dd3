/**
 * Many daemons (and runtime commands) on one host share the "berth" cgroup parent: one removes
 * it when it finds it empty while another is making a container's cgroup below it. Both must
 * go on without error, and nothing stays.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { openCgroup } from "../../src/runtime/cgroups/index.js";

const CGROUPS = fileURLToPath(new URL("../../src/runtime/cgroups/index.js", import.meta.url));

/** A process that makes and removes `n` cgroups under berth/, one after another. */
function churn(n: number): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { openCgroup } = await import(${JSON.stringify(CGROUPS)});
    for (let i = 0; i < ${n}; i++) {
      const c = openCgroup(\`berth/race-\${process.pid}-\${i}\`);
      c.create();
      await c.destroy();
    }`;
  const p = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  p.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  return new Promise((resolve) => p.on("close", (code) => resolve({ code, stderr })));
}

test("processes making and removing cgroups under the shared parent at once all succeed, and leave nothing", async () => {
  const results = await Promise.all([churn(300), churn(300), churn(300)]);
  for (const r of results) assert.equal(r.code, 0, r.stderr);
  const parent = openCgroup("berth/probe")
    .mountSources()[0]!
    .hostPath.replace(/\/probe$/, "");
  assert.equal(existsSync(parent), false, `${parent} was left behind`);
});
