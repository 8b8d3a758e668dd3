import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ok, RuntimeFixture } from "../helpers/runtime.js";
import { until } from "../helpers/wait.js";

const rt = new RuntimeFixture();
after(() => rt.cleanup());

const status = (id: string) => JSON.parse(ok(rt.cli(["state", id])).stdout).status as string;

test("create, start, state, kill and delete walk through created, running and stopped", async () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "60"]);
  const pidFile = join(bundle, "pid");
  ok(rt.cli(["create", "--bundle", bundle, "--pid-file", pidFile, id]));
  const created = JSON.parse(ok(rt.cli(["state", id])).stdout);
  assert.equal(created.status, "created");
  assert.equal(created.bundle, bundle);
  assert.equal(readFileSync(pidFile, "utf8"), String(created.pid));
  // before start, the process has not exec'd the program yet
  assert.ok(!readFileSync(`/proc/${created.pid}/cmdline`, "utf8").startsWith("sleep"));
  ok(rt.cli(["start", id]));
  assert.equal(status(id), "running");
  assert.ok(readFileSync(`/proc/${created.pid}/cmdline`, "utf8").startsWith("sleep"));
  const list = ok(rt.cli(["list", "--format", "json"])).stdout;
  assert.ok(
    JSON.parse(list).some((c: { id: string; status: string }) => c.id === id && c.status === "running"),
  );
  ok(rt.cli(["kill", id, "KILL"]));
  await until("stopped", () => status(id) === "stopped");
  ok(rt.cli(["delete", id]));
  assert.equal(existsSync(join(rt.root, id)), false);
  assert.match(rt.cli(["state", id]).stderr, new RegExp(`container "${id}" does not exist`));
});

test("start of a started container and delete of a running one are refused", () => {
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["sleep", "60"]), id]));
  ok(rt.cli(["start", id]));
  const again = rt.cli(["start", id]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /cannot be started: it is running/);
  const del = rt.cli(["delete", id]);
  assert.equal(del.status, 1);
  assert.match(del.stderr, /cannot be deleted: it is running/);
  assert.equal(status(id), "running");
  ok(rt.cli(["delete", "--force", id]));
});

test("run and exec exit with the process's exit status, 128 + the signal when killed", () => {
  assert.equal(rt.run(["sh", "-c", "exit 7"]).status, 7);
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["sleep", "60"]), id]));
  ok(rt.cli(["start", id]));
  // not PID 1, which a pid namespace shields from its own signals
  assert.equal(rt.cli(["exec", id, "sh", "-c", "kill -TERM $$; sleep 5"]).status, 143);
  ok(rt.cli(["delete", "--force", id]));
});

test("a program that does not exist fails at create with a clear error and leaves nothing", () => {
  const id = rt.id();
  const r = rt.cli(["create", "--bundle", rt.bundle(["/no/such/program"]), id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exec `\/no\/such\/program`: no such file or directory/);
  assert.equal(existsSync(join(rt.root, id)), false);
});

test("exec runs in the container's namespaces, with its own user, env and exit status", () => {
  const id = rt.id();
  ok(
    rt.cli([
      "create",
      "--bundle",
      rt.bundle(["sleep", "60"], (s) => {
        s.hostname = "exec-box";
      }),
      id,
    ]),
  );
  ok(rt.cli(["start", id]));
  const script = "hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; echo $X; id -u; pwd";
  const r = ok(
    rt.cli(["exec", "--env", "X=42", "--user", "1000:1000", "--cwd", "/tmp", id, "sh", "-c", script]),
  );
  assert.deepEqual(
    r.stdout.split("\n").map((l) => l.trim()),
    ["exec-box", "sleep 60", "42", "1000", "/tmp", ""],
  );
  assert.equal(rt.cli(["exec", id, "sh", "-c", "exit 3"]).status, 3);
  const ps = ok(rt.cli(["ps", "--format", "json", id]));
  assert.ok(JSON.parse(ps.stdout).length >= 1);
  ok(rt.cli(["delete", "--force", id]));
});

test("exec into a stopped container is refused", async () => {
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["true"]), id]));
  ok(rt.cli(["start", id]));
  await until("stopped", () => status(id) === "stopped");
  const r = rt.cli(["exec", id, "true"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot exec in container .*: it is stopped/);
  ok(rt.cli(["delete", id]));
});

test("pause freezes the container and resume thaws it", async () => {
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["sleep", "60"]), id]));
  ok(rt.cli(["start", id]));
  ok(rt.cli(["pause", id]));
  assert.equal(status(id), "paused");
  assert.match(rt.cli(["pause", id]).stderr, /cannot be paused: it is paused/);
  ok(rt.cli(["resume", id]));
  assert.equal(status(id), "running");
  ok(rt.cli(["delete", "--force", id]));
});

test("hooks run at their stages with the state on stdin, in the right namespaces", () => {
  const id = rt.id();
  const bundle = rt.bundle(["true"]);
  const log = join(bundle, "hooks.log");
  const script = join(bundle, "hook.sh");
  writeFileSync(
    script,
    `#!/bin/sh\n{ printf '%s ' "$1"; cat; echo " mnt=$(readlink /proc/self/ns/mnt)"; } >> ${log}\n`,
  );
  chmodSync(script, 0o755);
  const hook = (stage: string) => [{ path: script, args: ["hook.sh", stage] }];
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  spec.hooks = {
    prestart: hook("prestart"),
    createRuntime: hook("createRuntime"),
    createContainer: hook("createContainer"),
    poststart: hook("poststart"),
    poststop: hook("poststop"),
    // runs inside the container after pivot_root: a path in the container's root
    startContainer: [{ path: "/bin/sh", args: ["sh", "-c", "cat > /tmp/startContainer.json"] }],
  };
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
  ok(rt.cli(["create", "--bundle", bundle, id]));
  ok(rt.cli(["start", id]));
  ok(rt.cli(["delete", "--force", id]));
  const hostMnt = spawnSync("readlink", ["/proc/self/ns/mnt"], { encoding: "utf8" }).stdout.trim();
  const lines = readFileSync(log, "utf8").trim().split("\n");
  const stages = lines.map((l) => l.split(" ")[0]);
  assert.deepEqual(stages, ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]);
  for (const line of lines) {
    const state = JSON.parse(line.slice(line.indexOf(" ") + 1, line.lastIndexOf(" mnt=")));
    assert.equal(state.id, id);
    assert.equal(state.bundle, bundle);
  }
  const mnt = (stage: string) => lines.find((l) => l.startsWith(stage))!.split(" mnt=")[1];
  assert.equal(mnt("prestart"), hostMnt);
  assert.notEqual(mnt("createContainer"), hostMnt, "createContainer runs in the container's mount namespace");
  assert.equal(JSON.parse(readFileSync(join(bundle, "rootfs/tmp/startContainer.json"), "utf8")).id, id);
});

test("a failing createRuntime hook fails create and leaves nothing behind", () => {
  const id = rt.id();
  const r = rt.cli([
    "create",
    "--bundle",
    rt.bundle(["true"], (s) => {
      s.hooks = { createRuntime: [{ path: "/bin/false" }] };
    }),
    id,
  ]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /createRuntime hook \/bin\/false exited with status 1/);
  assert.equal(existsSync(join(rt.root, id)), false);
});

test("the pty goes to the console socket and is the process's controlling terminal", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sh", "-c", "tty; test -t 0 && echo is-a-tty"], (s) => {
    s.process!.terminal = true;
  });
  const socket = join(bundle, "console.sock");
  // Node cannot receive file descriptors: a few lines of Python take the pty master and read it.
  const receiver = `
import socket, sys, os, array, subprocess
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
p = subprocess.Popen(sys.argv[2:])
c, _ = s.accept()
msg, fds, flags, addr = socket.recv_fds(c, 64, 1)
out = b""
while True:
    try:
        chunk = os.read(fds[0], 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait()
print(msg.decode()); print(out.decode().replace("\\r", ""))
sys.exit(p.returncode)
`;
  const r = spawnSync(
    "python3",
    [
      "-c",
      receiver,
      socket,
      process.execPath,
      join(process.cwd(), "bin/berth-runtime.cjs"),
      "--root",
      rt.root,
      "run",
      "--console-socket",
      socket,
      "--bundle",
      bundle,
      id,
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const [name, tty, isTty] = r.stdout.trim().split("\n");
  assert.match(name!, /^\/dev\/pts\/\d+$/);
  assert.match(tty!, /^\/dev\/pts\/\d+$/);
  assert.equal(isTty, "is-a-tty");
});

test("events --stats prints the container's cgroup statistics", () => {
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["sleep", "60"]), id]));
  ok(rt.cli(["start", id]));
  const event = JSON.parse(ok(rt.cli(["events", "--stats", id])).stdout);
  assert.equal(event.type, "stats");
  assert.equal(event.id, id);
  assert.ok(event.data.pids.current >= 1);
  assert.ok(event.data.memory.usage.usage > 0);
  ok(rt.cli(["delete", "--force", id]));
});

test("bad input gets a one-line error, a non-zero exit, and leaves nothing behind", () => {
  const before = readdirSync(rt.root).length;
  const bundle = rt.bundle(["true"]);
  const cases: [string[], RegExp, () => void][] = [
    [
      ["create", "--bundle", bundle, rt.id()],
      /config\.json: invalid JSON/,
      () => writeFileSync(join(bundle, "config.json"), "{ not json"),
    ],
    [
      ["create", "--bundle", "/no/such/bundle", rt.id()],
      /bundle \/no\/such\/bundle has no config\.json/,
      () => {},
    ],
    [
      [
        "create",
        "--bundle",
        rt.bundle(["true"], (s) => {
          s.root!.path = "missing-rootfs";
        }),
        rt.id(),
      ],
      /root\.path: .*missing-rootfs is not a directory/,
      () => {},
    ],
    [
      [
        "create",
        "--bundle",
        rt.bundle(["true"], (s) => s.linux!.namespaces!.push({ type: "nonsense" as "pid" })),
        rt.id(),
      ],
      /unknown namespace type "nonsense"/,
      () => {},
    ],
    [
      ["create", "--bundle", rt.bundle([]), rt.id()],
      /process\.args: at least the program to run is required/,
      () => {},
    ],
    [["create", "--bundle", bundle, "bad/id"], /invalid container id "bad\/id"/, () => {}],
    [["kill", "no-such-container", "KILL"], /container "no-such-container" does not exist/, () => {}],
    [["frobnicate"], /unknown command "frobnicate"/, () => {}],
    [["create", "--no-such-flag", "x"], /unknown flag: --no-such-flag/, () => {}],
  ];
  for (const [args, message, prepare] of cases) {
    prepare();
    const r = rt.cli(args);
    assert.notEqual(r.status, 0, `${args.join(" ")} should fail`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
  }
  assert.equal(readdirSync(rt.root).length, before, "no state directory was left");
});

test("a duplicate id and a signal that does not exist are refused without touching the running container", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "60"]);
  ok(rt.cli(["create", "--bundle", bundle, id]));
  const dup = rt.cli(["create", "--bundle", bundle, id]);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, new RegExp(`container "${id}" already exists`));
  const sig = rt.cli(["kill", id, "SIGNOPE"]);
  assert.equal(sig.status, 1);
  assert.match(sig.stderr, /unknown signal "SIGNOPE"/);
  assert.equal(status(id), "created");
  ok(rt.cli(["delete", "--force", id]));
});

test('delete takes back the mounts of a container without a mount namespace whose root is "."', async () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "60"], (s) => {
    s.root!.path = ".";
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "mount");
    s.linux!.maskedPaths = [];
    s.linux!.readonlyPaths = [];
    s.mounts = [{ destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid"] }];
  });
  // The bundle is the root itself: busybox's tree beside config.json.
  cpSync(join(bundle, "rootfs"), bundle, { recursive: true, verbatimSymlinks: true });
  const mountsUnder = () =>
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((l) => l.includes(` ${bundle}/`));
  ok(rt.cli(["create", "--bundle", bundle, id]));
  ok(rt.cli(["start", id]));
  assert.equal(mountsUnder().length, 1, "the tmpfs is mounted in the runtime's namespace");
  ok(rt.cli(["delete", "--force", id]));
  assert.deepEqual(mountsUnder(), [], "nothing is left mounted under the bundle");
});

test('rootfsPropagation "unbindable" is applied once the root is in place', () => {
  // The root's line in mountinfo: mount point (field 5) "/", optional fields before " - ".
  const r = rt.run(["awk", '$5 == "/"', "/proc/self/mountinfo"], (s) => {
    s.linux!.rootfsPropagation = "unbindable";
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, / unbindable .*- /);
});
