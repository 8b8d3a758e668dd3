/**
 * The web console against a real daemon: `berth console` and `berth serve --console` log in with
 * their token and pass the views' calls on; a terminal is an exec with a pty over a WebSocket;
 * bad addresses and missing TLS are refused.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import { consoleLogin, consoleRequest, startConsole } from "../helpers/console-client.js";
import { BERTH, DaemonFixture } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
before(async () => {
  await d.importBusybox();
  await d.start(["--console", "127.0.0.1:0"]);
});
after(async () => {
  await d.cleanup();
});

test("berth serve --console prints a login address that opens the console once", async () => {
  await until("the console's address in the daemon's log", () => /web console: open/.test(d.log));
  const loginUrl = /web console: open (\S+)/.exec(d.log)![1]!;
  const { cookie, base } = await consoleLogin(loginUrl);
  const page = await consoleRequest(base, "GET", "/", { Cookie: cookie });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/assets\/app.js">/);
  const script = await consoleRequest(base, "GET", "/assets/app.js", { Cookie: cookie });
  assert.equal(script.status, 200);
  assert.match(String(script.headers["content-type"]), /^text\/javascript/);
  const version = await consoleRequest(base, "GET", "/api/version", { Cookie: cookie });
  assert.equal(JSON.parse(version.body).ApiVersion, "1.50");
  const u = new URL(loginUrl);
  assert.equal((await consoleRequest(base, "GET", `/${u.search}`)).status, 401, "the token works once");
});

async function exchange(ws: WebSocket, send: string, expect: RegExp): Promise<string> {
  let seen = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${expect} in the terminal: ${JSON.stringify(seen)}`)),
      10_000,
    );
    const onData = (data: Buffer) => {
      seen += data.toString();
      if (expect.test(seen)) {
        clearTimeout(timer);
        ws.off("message", onData);
        resolve(seen);
      }
    };
    ws.on("message", onData);
    ws.send(send);
  });
}

test("berth console: run a container, a terminal into it over a WebSocket, resize, stop and remove", async () => {
  const webConsole = await startConsole(d.socket);
  try {
    const { cookie, csrf, base } = await consoleLogin(webConsole.loginUrl);
    const write = { Cookie: cookie, Origin: base, "X-CSRF-Token": csrf, "Content-Type": "application/json" };
    const created = await consoleRequest(
      base,
      "POST",
      "/api/containers/create?name=console-term",
      write,
      JSON.stringify({ Image: "busybox", Cmd: ["sleep", "300"], HostConfig: { NetworkMode: "none" } }),
    );
    assert.equal(created.status, 201, created.body);
    const id = JSON.parse(created.body).Id as string;
    assert.equal((await consoleRequest(base, "POST", `/api/containers/${id}/start`, write)).status, 204);
    const exec = await consoleRequest(
      base,
      "POST",
      `/api/containers/${id}/exec`,
      write,
      JSON.stringify({ AttachStdin: true, AttachStdout: true, Tty: true, Cmd: ["sh"] }),
    );
    const execId = JSON.parse(exec.body).Id as string;
    const wsUrl = `${base.replace("http", "ws")}/ws/exec/${execId}`;

    const refusal = (url: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("open", () => reject(new Error("a refused WebSocket opened")));
        ws.on("error", () => {});
      });
    assert.equal(await refusal(`${wsUrl}?csrf=${csrf}`, { Origin: base }), 401, "no session");
    assert.equal(await refusal(wsUrl, { Cookie: cookie, Origin: base }), 403, "no CSRF token");
    assert.equal(
      await refusal(`${wsUrl}?csrf=${csrf}`, { Cookie: cookie, Origin: "http://evil.example" }),
      403,
      "another site's page",
    );

    const ws = new WebSocket(`${wsUrl}?csrf=${csrf}`, { headers: { Cookie: cookie, Origin: base } });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    await exchange(ws, "echo h''i\n", /\r\nhi\r\n/);
    const resized = await consoleRequest(base, "POST", `/api/exec/${execId}/resize?h=31&w=101`, write);
    assert.ok(resized.status === 200 || resized.status === 204, `${resized.status} ${resized.body}`);
    await exchange(ws, "stty size\n", /31 101/);
    const closed = new Promise((r) => ws.once("close", r));
    ws.send("exit\n");
    await closed;

    assert.equal((await consoleRequest(base, "POST", `/api/containers/${id}/stop?t=1`, write)).status, 204);
    const inspect = JSON.parse(
      (await consoleRequest(base, "GET", `/api/containers/${id}/json`, { Cookie: cookie })).body,
    );
    assert.equal(inspect.State.Running, false);
    assert.equal((await consoleRequest(base, "DELETE", `/api/containers/${id}`, write)).status, 204);
    const left = JSON.parse(
      (await consoleRequest(base, "GET", "/api/containers/json?all=1", { Cookie: cookie })).body,
    );
    assert.deepEqual(left, []);
  } finally {
    await webConsole.stop();
  }
});

test("berth console refuses bad addresses, and any address off loopback without TLS", () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, [BERTH, "-H", `unix://${d.socket}`, "console", ...args], {
      encoding: "utf8",
      timeout: 20_000,
    });
  for (const [args, message] of [
    [["--listen", "nonsense"], /invalid console address "nonsense"/],
    [["--listen", "example.com:80"], /must be an IP address or localhost/],
    [["--listen", "127.0.0.1:70000"], /over 65535/],
    [["--listen", "0.0.0.0:0"], /refusing to serve the console on 0\.0\.0\.0:0 without TLS/],
    [["--tls-cert", "/nonexistent.pem"], /needs both a certificate and a key/],
    [
      ["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"],
      /cannot read the console's TLS certificate \/nonexistent.pem/,
    ],
    [["extra"], /takes no arguments/],
  ] as [string[], RegExp][]) {
    const r = run(args);
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, message, args.join(" "));
  }
  const daemon = spawnSync(
    process.execPath,
    [
      BERTH,
      "serve",
      "--root",
      "/nonexistent-root",
      "--exec-root",
      "/nonexistent-run",
      "--console",
      "10.1.2.3:9900",
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  assert.notEqual(daemon.status, 0);
  assert.match(daemon.stderr, /refusing to serve the console on 10\.1\.2\.3:9900 without TLS/);
  assert.equal(spawnSync("test", ["-e", "/nonexistent-root"]).status, 1, "the refused daemon made nothing");
});

test("with a certificate, the console serves HTTPS off loopback and its cookie is Secure", async () => {
  const dir = mkdtempSync("/tmp/berth-console-tls-");
  try {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = spawnSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=console.test",
      "-keyout",
      key,
      "-out",
      cert,
    ]);
    assert.equal(made.status, 0, String(made.stderr));
    const webConsole = await startConsole(d.socket, [
      "--listen",
      "0.0.0.0:0",
      "--tls-cert",
      cert,
      "--tls-key",
      key,
    ]);
    try {
      const url = new URL(webConsole.loginUrl);
      assert.equal(url.protocol, "https:");
      const answer = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
        const req = httpsRequest(
          `https://127.0.0.1:${url.port}/${url.search}`,
          { rejectUnauthorized: false, agent: false },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, cookie: String(res.headers["set-cookie"]?.[0]) });
          },
        );
        req.on("error", reject);
        req.end();
      });
      assert.equal(answer.status, 303);
      assert.match(answer.cookie, /HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      await webConsole.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
