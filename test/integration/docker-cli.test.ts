/**
 * The real docker CLI (28.x) against `berth serve` for the commands the other docker tests do
 * not cover, with their output checked; and malformed requests, which get Docker's error shapes
 * and leave the daemon healthy.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
let registry: TestRegistry;
before(async () => {
  await d.importBusybox();
  await d.start();
  registry = await startRegistry({ kind: "basic", username: "ci", password: "pw" });
});
after(async () => {
  await registry?.stop();
  await d.cleanup();
});

const docker = (args: string[], input?: string) => d.docker(args, input === undefined ? {} : { input });
const NONE = ["--network", "none"];

test("version and info", () => {
  assert.match(ok(docker(["version", "--format", "{{.Server.APIVersion}}"])).stdout, /^1\.\d+\n$/);
  const info = ok(
    docker(["info", "--format", "{{.Containers}} {{.OperatingSystem}} {{.CgroupVersion}}"]),
  ).stdout;
  assert.match(info, /^\d+ .+ [12]\n$/);
});

test("start -a, logs -f, wait, kill, restart, rename, top, stats, pause, update", async () => {
  ok(docker(["create", "--name", "attached", ...NONE, "busybox", "sh", "-c", "echo hi; exit 4"]));
  const started = docker(["start", "-a", "attached"]);
  assert.equal(started.stdout, "hi\n");
  assert.equal(started.status, 4);
  assert.equal(ok(docker(["wait", "attached"])).stdout, "4\n");
  ok(docker(["rm", "attached"]));

  ok(
    docker([
      "run",
      "-d",
      "--name",
      "svc",
      ...NONE,
      "busybox",
      "sh",
      "-c",
      "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done",
    ]),
  );
  const follow = spawnSync("docker", ["-H", `unix://${d.socket}`, "logs", "-f", "svc"], {
    encoding: "utf8",
    timeout: 1500,
  });
  assert.match(follow.stdout, /^line 0\nline 1\n/, "logs -f streams until interrupted");
  assert.match(ok(docker(["top", "svc"])).stdout, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n/);
  assert.match(
    ok(docker(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "svc"])).stdout,
    /^svc \d+\n$/,
  );
  ok(docker(["pause", "svc"]));
  assert.equal(ok(docker(["inspect", "-f", "{{.State.Status}}", "svc"])).stdout, "paused\n");
  ok(docker(["unpause", "svc"]));
  ok(docker(["update", "--memory", "64m", "--memory-swap", "128m", "svc"]));
  assert.equal(
    ok(docker(["inspect", "-f", "{{.HostConfig.Memory}}", "svc"])).stdout,
    `${64 * 1024 * 1024}\n`,
  );
  ok(docker(["rename", "svc", "svc2"]));
  const before = ok(docker(["inspect", "-f", "{{.State.StartedAt}}", "svc2"])).stdout;
  ok(docker(["restart", "-t", "1", "svc2"]));
  assert.notEqual(ok(docker(["inspect", "-f", "{{.State.StartedAt}}", "svc2"])).stdout, before);
  ok(docker(["kill", "-s", "KILL", "svc2"]));
  await until(
    "the kill",
    () => ok(docker(["inspect", "-f", "{{.State.Status}}", "svc2"])).stdout === "exited\n",
  );
  assert.equal(ok(docker(["inspect", "-f", "{{.State.ExitCode}}", "svc2"])).stdout, "137\n");
  ok(docker(["rm", "svc2"]));
});

test("run -it --rm with -e: a terminal, the environment, the exit status", () => {
  const r = spawnSync(
    "script",
    [
      "-qec",
      `docker -H unix://${d.socket} run -it --rm --network none -e GREETING=ahoy busybox sh -c 'tty; read l; echo "$GREETING $l"; exit 5'`,
      "/dev/null",
    ],
    { input: "sailor\n", encoding: "utf8", timeout: 20_000 },
  );
  assert.equal(r.status, 5, r.stdout + r.stderr);
  assert.match(r.stdout, /\/dev\/pts\/\d+/);
  assert.match(r.stdout, /ahoy sailor/);
  assert.equal(ok(docker(["ps", "-aq"])).stdout, "");
});

test("exec -it and attach through a real pty", () => {
  ok(docker(["run", "-d", "-it", "--name", "term", ...NONE, "busybox", "sh"]));
  const exec = spawnSync(
    "script",
    ["-qec", `docker -H unix://${d.socket} exec -it term sh -c 'tty; read l; echo "got $l"'`, "/dev/null"],
    { input: "typed\n", encoding: "utf8", timeout: 20_000 },
  );
  assert.match(exec.stdout, /\/dev\/pts\/\d+/);
  assert.match(exec.stdout, /got typed/);
  // attach: what we type reaches the shell; its output comes back; exit ends it.
  const attach = spawnSync("script", ["-qec", `docker -H unix://${d.socket} attach term`, "/dev/null"], {
    input: "echo from-attach\nexit 3\n",
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.match(attach.stdout, /from-attach/);
  assert.equal(ok(docker(["wait", "term"])).stdout, "3\n");
  ok(docker(["rm", "term"]));
});

test("images: tag, history, rmi, import, login, push, pull", () => {
  ok(docker(["tag", "busybox", "mine:1"]));
  assert.match(ok(docker(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout, /^mine:1$/m);
  assert.match(ok(docker(["history", "mine:1"])).stdout, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n/);
  const dir = mkdtempSync("/tmp/berth-docker-import-");
  try {
    writeFileSync(join(dir, "hello"), "imported\n");
    const tar = spawnSync("tar", ["-C", dir, "-c", "."]).stdout;
    const imported = spawnSync("docker", ["-H", `unix://${d.socket}`, "import", "-", "imported:1"], {
      input: tar,
      encoding: "utf8",
    });
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const remote = `${registry.host}/ci/busybox:1`;
  ok(docker(["tag", "busybox", remote]));
  assert.notEqual(docker(["push", remote]).status, 0, "a push without login is refused");
  assert.match(
    ok(docker(["login", "-u", "ci", "--password-stdin", registry.host], "pw\n")).stdout,
    /Login Succeeded/,
  );
  ok(docker(["push", remote]));
  ok(docker(["rmi", remote]));
  ok(docker(["pull", remote]));
  assert.equal(ok(docker(["run", "--rm", ...NONE, remote, "echo", "pulled"])).stdout, "pulled\n");
  assert.match(ok(docker(["rmi", "mine:1", "imported:1", remote])).stdout, /Untagged: mine:1/);
});

test("volumes, system df, system prune, events", () => {
  ok(docker(["volume", "create", "--label", "kind=test", "vol-a"]));
  assert.match(ok(docker(["volume", "ls", "--filter", "label=kind=test"])).stdout, /vol-a/);
  assert.equal(ok(docker(["volume", "inspect", "-f", "{{.Labels.kind}}", "vol-a"])).stdout, "test\n");
  ok(docker(["run", "--name", "gone", ...NONE, "-v", "vol-a:/v", "busybox", "true"]));
  assert.match(ok(docker(["system", "df"])).stdout, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
  const since = Math.floor(Date.now() / 1000) - 60;
  const pruned = ok(docker(["system", "prune", "-f", "--volumes"])).stdout;
  assert.match(pruned, /Total reclaimed space/);
  assert.equal(ok(docker(["ps", "-aq"])).stdout, "");
  ok(docker(["volume", "rm", "vol-a"]));
  const events = ok(
    docker([
      "events",
      "--since",
      String(since),
      "--until",
      String(Math.ceil(Date.now() / 1000)),
      "--filter",
      "container=gone",
      "--format",
      "{{.Action}}",
    ]),
  ).stdout;
  assert.match(events, /^create\n(.*\n)*start\n(.*\n)*die\n(.*\n)*destroy\n/);
});

/** A raw request to the daemon: status and parsed body. */
function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const req = request(
      {
        socketPath: d.socket,
        agent: false,
        method,
        path,
        headers: { "Content-Type": "application/json", ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("malformed requests get Docker's error shapes and leave the daemon healthy", async () => {
  const cases: [string, string, string | Buffer | undefined, number][] = [
    ["POST", "/v1.45/containers/create", "{not json", 400],
    ["POST", "/v1.45/containers/create", JSON.stringify({ Image: 42 }), 400],
    [
      "POST",
      "/v1.45/containers/create",
      JSON.stringify({ Image: "busybox", HostConfig: { Memory: "lots" } }),
      400,
    ],
    ["POST", "/v1.45/containers/create?name=bad/name", JSON.stringify({ Image: "busybox" }), 400],
    ["GET", "/v1.45/no/such/endpoint", undefined, 404],
    ["GET", "/v1.45/containers/nope/json", undefined, 404],
    ["PUT", "/v1.45/containers/create", "{}", 405],
    ["GET", "/v9.99/version", undefined, 400],
  ];
  for (const [method, path, body, status] of cases) {
    const r = await raw(method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(
      typeof (r.body as { message?: unknown }).message,
      "string",
      `${method} ${path} has a message`,
    );
  }
  // A huge body: refused once it passes the limit (the reply comes while we are still sending).
  const huge = await new Promise<string>((resolve) => {
    const sock = connect(d.socket);
    let reply = "";
    sock.on("data", (c) => (reply += c));
    sock.on("close", () => resolve(reply));
    sock.on("error", () => {});
    const size = 40 * 1024 * 1024;
    sock.write(
      `POST /v1.45/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    sock.end(Buffer.alloc(size, 0x20));
  });
  assert.match(huge, /^HTTP\/1\.1 413 /);
  assert.match(huge, /"message":"request body is larger than/);
  // Unknown fields are ignored, as dockerd does.
  const created = await raw(
    "POST",
    "/v1.45/containers/create",
    JSON.stringify({ Image: "busybox", Frobnicate: true, HostConfig: { NetworkMode: "none" } }),
  );
  assert.equal(created.status, 201);
  ok(docker(["rm", (created.body as { Id: string }).Id]));
  // Bodies nested 100,000 deep, and an exec whose Cmd holds arrays: 400, not a stack overflow.
  ok(docker(["run", "-d", "--name", "exec-target", ...NONE, "busybox", "sleep", "600"]));
  const deep = `{"Cmd":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
  for (const path of ["/v1.45/containers/exec-target/exec", "/v1.45/containers/create"]) {
    const r = await raw("POST", path, deep);
    assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
    assert.match((r.body as { message: string }).message, /nested more than \d+ levels deep/);
  }
  const nested = await raw("POST", "/v1.45/containers/exec-target/exec", JSON.stringify({ Cmd: [["sh"]] }));
  assert.equal(nested.status, 400);
  assert.match(
    (nested.body as { message: string }).message,
    /cannot unmarshal array into Go struct field ExecConfig\.Cmd/,
  );
  ok(docker(["rm", "-f", "exec-target"]));
  assert.equal((await raw("GET", "/_ping")).status, 200, "still healthy");
  assert.equal(ok(docker(["ps", "-aq"])).stdout, "");
});
