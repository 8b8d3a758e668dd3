/**
 * The console server's access control, against a stand-in daemon on a unix socket that records
 * what reaches it: what is refused must never get there.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseListenAddress } from "../../../src/console/listen-address.js";
import { ConsoleServer } from "../../../src/console/server.js";
import { consoleRequest } from "../../helpers/console-client.js";

const dir = mkdtempSync(join(tmpdir(), "berth-console-"));
const socketPath = join(dir, "daemon.sock");
const reached: string[] = [];
const daemon = createServer((req: IncomingMessage, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    reached.push(`${req.method} ${req.url} ${body}`);
    if (req.url?.startsWith("/events")) {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write('{"Type":"container"}\n');
      return;
    }
    res.writeHead(req.method === "POST" ? 201 : 200, { "Content-Type": "application/json", "X-Daemon": "1" });
    res.end(JSON.stringify({ echo: req.url }));
  });
});
const assets = new Map([["index.html", { body: Buffer.from("<html>console</html>"), type: "text/html" }]]);
let server: ConsoleServer;
let loginUrl: string;
let base: string;

before(async () => {
  await new Promise<void>((r) => daemon.listen(socketPath, r));
  server = await ConsoleServer.start({
    address: parseListenAddress("127.0.0.1:0"),
    daemon: { socketPath },
    assets,
  });
  loginUrl = server.loginUrl;
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server.close();
  daemon.close();
  rmSync(dir, { recursive: true, force: true });
});

test("without a session nothing is served and nothing reaches the daemon", async () => {
  for (const path of ["/", "/session", "/api/containers/json", "/api/_ping"])
    assert.equal((await consoleRequest(base, "GET", path)).status, 401, path);
  const wrong = await consoleRequest(base, "GET", "/?token=guess");
  assert.equal(wrong.status, 401);
  assert.match(wrong.body, /wrong or was already used/);
  const forged = await consoleRequest(base, "GET", "/api/containers/json", {
    Cookie: `berth_console_${server.port}=guess`,
  });
  assert.equal(forged.status, 401);
  assert.deepEqual(reached, []);
});

test("the token gives an HttpOnly, SameSite=Strict cookie once, and the redirect drops it from the URL", async () => {
  const first = await consoleRequest(
    base,
    "GET",
    new URL(loginUrl).search ? `/${new URL(loginUrl).search}` : "/",
  );
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, "/");
  const cookie = String(first.headers["set-cookie"]?.[0]);
  assert.match(
    cookie,
    new RegExp(`^berth_console_${server.port}=[A-Za-z0-9_-]{40,}; Path=/; HttpOnly; SameSite=Strict$`),
  );
  assert.equal(first.headers["referrer-policy"], "no-referrer");
  const again = await consoleRequest(base, "GET", `/${new URL(loginUrl).search}`);
  assert.equal(again.status, 401, "the token works once");

  const session = cookie.split(";")[0]!;
  const page = await consoleRequest(base, "GET", "/", { Cookie: session });
  assert.equal(page.status, 200);
  assert.equal(page.body, "<html>console</html>");
  assert.match(String(page.headers["content-security-policy"]), /default-src 'self'/);
  assert.equal(
    (await consoleRequest(base, "GET", "/assets/../../etc/passwd", { Cookie: session })).status,
    404,
  );
  assert.equal((await consoleRequest(base, "GET", "/assets/nothing.js", { Cookie: session })).status, 404);

  const csrf = (
    JSON.parse((await consoleRequest(base, "GET", "/session", { Cookie: session })).body) as { csrf: string }
  ).csrf;
  const origin = base;
  const list = await consoleRequest(base, "GET", "/api/containers/json?all=1", { Cookie: session });
  assert.equal(list.status, 200);
  assert.deepEqual(JSON.parse(list.body), { echo: "/containers/json?all=1" });
  assert.equal(list.headers["x-daemon"], undefined, "the daemon's own headers stay behind");

  reached.length = 0;
  const create = (headers: Record<string, string>) =>
    consoleRequest(
      base,
      "POST",
      "/api/containers/create",
      { Cookie: session, "Content-Type": "application/json", ...headers },
      '{"Image":"busybox"}',
    );
  assert.equal((await create({ Origin: origin })).status, 403, "no CSRF token");
  assert.equal((await create({ Origin: origin, "X-CSRF-Token": "guess" })).status, 403, "a wrong CSRF token");
  assert.equal((await create({ "X-CSRF-Token": csrf })).status, 403, "no Origin");
  assert.equal(
    (await create({ Origin: "http://evil.example", "X-CSRF-Token": csrf })).status,
    403,
    "a foreign Origin",
  );
  assert.equal(
    (await create({ Origin: "http://evil.example:1", Host: "evil.example:1", "X-CSRF-Token": csrf })).status,
    403,
    "a rebound name",
  );
  assert.deepEqual(reached, [], "no refused call reached the daemon");
  const made = await create({ Origin: origin, "X-CSRF-Token": csrf });
  assert.equal(made.status, 201);
  assert.deepEqual(reached, ['POST /containers/create {"Image":"busybox"}']);

  reached.length = 0;
  const write = { Cookie: session, Origin: origin, "X-CSRF-Token": csrf };
  for (const [method, path] of [
    ["POST", "/api/build"],
    ["POST", "/api/containers/abc/kill"],
    ["GET", "/api/containers/abc/archive?path=/etc"],
    ["POST", "/api/exec/abc/start"],
    ["GET", "/api/containers/%2e%2e/json"],
    ["POST", "/api/v1.50/containers/create"],
  ])
    assert.equal((await consoleRequest(base, method!, path!, write)).status, 403, `${method} ${path}`);
  const big = await consoleRequest(
    base,
    "POST",
    "/api/containers/create",
    write,
    "x".repeat(2 * 1024 * 1024),
  );
  assert.equal(big.status, 413);
  assert.deepEqual(reached, []);

  const preflight = await consoleRequest(base, "OPTIONS", "/api/containers/create", {
    Cookie: session,
    Origin: "http://evil.example",
    "Access-Control-Request-Method": "POST",
  });
  assert.equal(preflight.status, 403);
  for (const answer of [list, made, preflight, page])
    assert.ok(!Object.keys(answer.headers).some((h) => h.startsWith("access-control-")), "no CORS header");

  const events = await new Promise<string>((resolve, reject) => {
    const url = new URL("/api/events", base);
    import("node:http").then(({ request }) => {
      const req = request(url, { headers: { Cookie: session }, agent: false }, (res) => {
        res.once("data", (c: Buffer) => {
          resolve(c.toString());
          req.destroy();
        });
      });
      req.on("error", reject);
      req.end();
    });
  });
  assert.equal(events, '{"Type":"container"}\n', "a stream flows before it ends");
});

test("a non-loopback address without TLS is refused before anything listens", async () => {
  await assert.rejects(
    ConsoleServer.start({ address: parseListenAddress("0.0.0.0:0"), daemon: { socketPath }, assets }),
    /refusing to serve the console on 0\.0\.0\.0:0 without TLS/,
  );
});
