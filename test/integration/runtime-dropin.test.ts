/**
 * berth-runtime as a drop-in for runc: under a caller that reaps (a containerd shim, conmon), the
 * container process becomes that caller's child and no monitor stays; the flags and commands
 * shims use work; and dockerd runs containers with Berth as its runtime.
 */
import assert from "node:assert/strict";
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { detectCgroupVersion } from "../../src/runtime/cgroups/index.js";
import { processStartTime } from "../../src/runtime/state.js";
import { busyboxRootfs } from "../helpers/busybox.js";
import { startDockerd } from "../helpers/dockerd.js";
import { hostProcesses } from "../helpers/processes.js";
import { ok, RUNTIME_BIN, RUNTIME_LAUNCHER, RuntimeFixture } from "../helpers/runtime.js";

const rt = new RuntimeFixture();
after(() => rt.cleanup());

/**
 * A reaping caller as a shim is one: a child subreaper that runs berth-runtime commands, then
 * reaps children until the container process (named by the pid file) is among them. Prints the
 * container's parent as seen while it ran, its wait status as we reaped it, and what else we reaped.
 */
const SUBREAPER = `
import ctypes, json, os, subprocess, sys, time
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
# The container inherits the commands' stdio: a file, not our pipe, which it would hold open.
log = open(cfg["log"], "w+")
for step in cfg["steps"]:
    if subprocess.run(cfg["runtime"] + step, stdin=subprocess.DEVNULL, stdout=log, stderr=log).returncode:
        log.seek(0)
        sys.exit("%s: %s" % (step[0], log.read()))
pid = int(open(cfg["pidFile"]).read())
parent = 0
deadline = time.time() + 5
while time.time() < deadline:
    try:
        status = open("/proc/%d/status" % pid).read()
    except OSError:
        break
    parent = int(status.split("PPid:")[1].split()[0])
    if parent == os.getpid():
        break
    time.sleep(0.005)
reaped = []
while True:
    child, status = os.waitpid(-1, 0)
    if child == pid:
        break
    reaped.append(child)
print(json.dumps({"me": os.getpid(), "parent": parent, "exitCode": os.waitstatus_to_exitcode(status), "reaped": reaped}))
`;

interface Reaped {
  me: number;
  parent: number;
  exitCode: number;
  reaped: number[];
}

function underSubreaper(steps: string[][], pidFile: string): Reaped {
  const runtime = [process.execPath, RUNTIME_BIN, "--root", rt.root];
  const log = `${pidFile}.log`;
  const r = spawnSync("python3", ["-c", SUBREAPER, JSON.stringify({ runtime, steps, pidFile, log })], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Reaped;
}

function monitorGone(id: string): boolean {
  const record = JSON.parse(readFileSync(join(rt.root, id, "state.json"), "utf8"));
  return processStartTime(record.monitorPid) !== record.monitorStartTime;
}

test("after create and start, the container is the reaping caller's child, no monitor stays, and the caller reaps its status", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sh", "-c", "sleep 0.5; exit 3"]);
  const pidFile = join(bundle, "init.pid");
  const r = underSubreaper(
    [
      ["create", "--bundle", bundle, "--pid-file", pidFile, id],
      ["start", id],
    ],
    pidFile,
  );
  assert.equal(r.parent, r.me, "the container process's parent is the caller that reaps");
  assert.equal(r.exitCode, 3, "the caller reaps the status itself, as a shim does");
  assert.ok(monitorGone(id), "no monitor stays once the process runs");
  assert.equal(JSON.parse(ok(rt.cli(["state", id])).stdout).status, "stopped");
  ok(rt.cli(["delete", id]));
});

test("run --detach hands the container to the caller too, and exec --detach --pid-file its process", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "60"]);
  const pidFile = join(bundle, "init.pid");
  const execPid = join(bundle, "exec.pid");
  const processFile = join(bundle, "process.json");
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  writeFileSync(processFile, JSON.stringify({ ...spec.process, args: ["sh", "-c", "sleep 0.3; exit 5"] }));
  const r = underSubreaper(
    [
      ["run", "--detach", "--bundle", bundle, "--pid-file", pidFile, id],
      ["exec", "--process", processFile, "--detach", "--pid-file", execPid, id],
    ],
    execPid,
  );
  assert.equal(r.parent, r.me);
  assert.equal(r.exitCode, 5);
  const state = JSON.parse(ok(rt.cli(["state", id])).stdout);
  assert.equal(state.status, "running");
  assert.ok(monitorGone(id));
  ok(rt.cli(["delete", "--force", id]));
});

test("a terminal with no --console-socket to receive it is refused at create, leaving nothing", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sh"], (s) => {
    s.process!.terminal = true;
  });
  const r = rt.cli(["create", "--bundle", bundle, id]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /process\.terminal: .* needs --console-socket/);
  assert.equal(existsSync(join(rt.root, id)), false);
  const exec = rt.cli(["run", "--detach", "--bundle", bundle, id]);
  assert.match(exec.stderr, /needs --console-socket/);
  assert.equal(rt.cli(["list", "-q"]).stdout.includes(id), false);
});

test("features prints the OCI features document, read from what the runtime applies", () => {
  const doc = JSON.parse(ok(rt.cli(["features"])).stdout);
  assert.equal(doc.ociVersionMin, "1.0.0");
  assert.match(doc.ociVersionMax, /^1\.\d+\.\d+$/);
  assert.ok(doc.hooks.includes("createRuntime"));
  for (const o of ["rbind", "ro", "nosuid", "rprivate"]) assert.ok(doc.mountOptions.includes(o), o);
  for (const n of ["pid", "network", "mount", "ipc", "uts", "user", "cgroup"])
    assert.ok(doc.linux.namespaces.includes(n), n);
  assert.ok(doc.linux.capabilities.includes("CAP_SYS_ADMIN"));
  assert.equal(doc.linux.seccomp.enabled, true);
  assert.ok(doc.linux.seccomp.actions.includes("SCMP_ACT_ERRNO"));
  assert.ok(!doc.linux.seccomp.actions.includes("SCMP_ACT_NOTIFY"), "refused actions are not claimed");
  assert.ok(doc.linux.seccomp.archs.includes("SCMP_ARCH_X86_64"));
  assert.equal(doc.linux.apparmor.enabled, false);
});

test("checkpoint and restore are refused with a clear error, whatever their flags, and change nothing", () => {
  const id = rt.id();
  ok(rt.cli(["run", "--detach", "--bundle", rt.bundle(["sleep", "60"]), id]));
  for (const command of ["checkpoint", "restore"]) {
    const r = rt.cli([command, "--image-path", "/tmp/nowhere", "--work-path", "/tmp/nowhere", id]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${command} is not supported: .*no CRIU`));
  }
  assert.equal(JSON.parse(ok(rt.cli(["state", id])).stdout).status, "running");
  ok(rt.cli(["delete", "--force", id]));
});

test("--systemd-cgroup makes the cgroup where systemd would put slice:prefix:name", () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "60"], (s) => {
    s.linux!.cgroupsPath = `berthtest-a.slice:unit:${id}`;
  });
  try {
    ok(rt.cli(["--systemd-cgroup", "run", "--detach", "--bundle", bundle, id]));
    const pid = JSON.parse(ok(rt.cli(["state", id])).stdout).pid;
    const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
      .split("\n")
      .find((l) => (detectCgroupVersion() === 2 ? l.startsWith("0::") : /:memory(,|:)/.test(l)));
    assert.ok(line?.endsWith(`:/berthtest.slice/berthtest-a.slice/unit-${id}.scope`), line);
    ok(rt.cli(["delete", "--force", id]));
    const bad = rt.cli([
      "--systemd-cgroup",
      "create",
      "--bundle",
      rt.bundle(["true"], (s) => {
        s.linux!.cgroupsPath = "/not/a/slice";
      }),
      rt.id(),
    ]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /is not "slice:prefix:name"/);
  } finally {
    // The slices stay, as systemd's would; this test made them, so it takes them back.
    for (const controller of readdirSync("/sys/fs/cgroup")) {
      const slice = join("/sys/fs/cgroup", controller, "berthtest.slice");
      for (const dir of [join(slice, "berthtest-a.slice"), slice]) if (existsSync(dir)) rmdirSync(dir);
    }
  }
});

test("ps prints ps(1)'s lines of the container's processes, and their pids as JSON", () => {
  const id = rt.id();
  ok(rt.cli(["run", "--detach", "--bundle", rt.bundle(["sleep", "61"]), id]));
  const pid = JSON.parse(ok(rt.cli(["state", id])).stdout).pid;
  assert.deepEqual(JSON.parse(ok(rt.cli(["ps", "--format", "json", id])).stdout), [pid]);
  const table = ok(rt.cli(["ps", id]))
    .stdout.trim()
    .split("\n");
  assert.match(table[0]!, /\bPID\b/);
  assert.equal(table.length, 2);
  assert.match(table[1]!, /sleep 61/);
  const custom = ok(rt.cli(["ps", id, "-o", "pid,comm"]))
    .stdout.trim()
    .split("\n");
  assert.deepEqual(custom[1]!.trim().split(/\s+/), [String(pid), "sleep"]);
  ok(rt.cli(["kill", id, "KILL"]));
  for (let i = 0; i < 200 && JSON.parse(rt.cli(["state", id]).stdout).status !== "stopped"; i++)
    spawnSync("sleep", ["0.01"]);
  // The phrase containerd looks for to take a kill of a finished process as done.
  assert.match(rt.cli(["kill", id]).stderr, /container not running/);
  ok(rt.cli(["delete", id]));
});

test("the global flags runc's callers pass are taken, and bad values refused", () => {
  const log = join(rt.root, "log.json");
  ok(rt.cli(["--log", log, "--log-format", "json", "--rootless=false", "list"]));
  const r = rt.cli(["--log", log, "--log-format", "json", "state", "no-such"]);
  assert.equal(r.status, 1);
  const line = JSON.parse(readFileSync(log, "utf8").trim().split("\n").at(-1)!);
  assert.equal(line.level, "error");
  assert.match(line.msg, /container "no-such" does not exist/);
  const bad = rt.cli(["--rootless", "maybe", "list"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--rootless: "maybe" is not true, false or auto/);
});

/**
 * One life cycle through a client's command line (docker's and podman's take the same words):
 * output and exit codes of `run`, then `-d`, exec, top, stop (the process's own exit code) and rm.
 */
function lifeCycle(cli: (args: string[]) => SpawnSyncReturns<string>, run: string[]): void {
  const hi = cli([...run, "--rm", "bb:dropin", "echo", "hi"]);
  assert.deepEqual([hi.status, hi.stdout], [0, "hi\n"], hi.stderr);
  assert.equal(cli([...run, "--rm", "bb:dropin", "sh", "-c", "exit 3"]).status, 3);
  const d = cli([...run, "-d", "bb:dropin", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"]);
  assert.equal(d.status, 0, d.stderr);
  const id = d.stdout.trim();
  const exec = cli(["exec", id, "sh", "-c", "echo in-exec; exit 5"]);
  assert.deepEqual([exec.status, exec.stdout], [5, "in-exec\n"], exec.stderr);
  assert.match(cli(["top", id]).stdout, /trap/);
  const stop = cli(["stop", "-t", "5", id]);
  assert.equal(stop.status, 0, stop.stderr);
  assert.equal(cli(["inspect", "-f", "{{.State.ExitCode}}", id]).stdout.trim(), "7");
  assert.equal(cli(["rm", id]).status, 0);
}

test("dockerd runs containers with berth-runtime as its runtime: run, exit codes, -d with exec and stop, -it, OOM", async (t) => {
  const dockerd = await startDockerd({ runtimes: { berth: RUNTIME_LAUNCHER } });
  if (!dockerd) return t.skip("dockerd is not installed");
  try {
    const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 30 }).stdout;
    await dockerd.docker(["import", "-c", "ENV PATH=/bin", "-", "bb:dropin"], tar);
    const docker = (args: string[]) =>
      spawnSync("docker", ["-H", `unix://${dockerd.socket}`, ...args], { encoding: "utf8", timeout: 60_000 });

    lifeCycle(docker, ["run", "--runtime", "berth"]);

    const tty = spawnSync(
      "script",
      [
        "-qec",
        `docker -H unix://${dockerd.socket} run -it --rm --runtime berth bb:dropin sh -c 'tty; exit 4'`,
        "/dev/null",
      ],
      { encoding: "utf8", timeout: 60_000, input: "" },
    );
    assert.equal(tty.status, 4, tty.stdout);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);

    const oom = docker([
      "run",
      "--name",
      "oom",
      "--runtime",
      "berth",
      "--memory",
      "16m",
      "--memory-swap",
      "16m",
      "bb:dropin",
      "sh",
      "-c",
      "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert.equal(oom.status, 137, oom.stdout + oom.stderr);
    assert.equal(docker(["inspect", "-f", "{{.State.OOMKilled}}", "oom"]).stdout.trim(), "true");
    assert.equal(docker(["rm", "oom"]).status, 0);

    // Every container's shim saw its exit and left; no monitor of Berth's stays behind.
    assert.deepEqual(monitorsUnder(/^containerd-shim/), [], "no berth-monitor stays under a shim");
    const shims = spawnSync("pgrep", ["-f", `containerd-shim.*${dockerd.dir}`], { encoding: "utf8" }).stdout;
    assert.equal(shims.trim(), "", "every shim has exited");
  } finally {
    await dockerd.stop();
  }
});

test("podman runs containers with berth-runtime under conmon: run, exit codes, -d with exec and stop, -it", (t) => {
  if (spawnSync("podman", ["--version"]).status !== 0) return t.skip("podman is not installed");
  // A private store and configuration: this host's hard rlimits are below podman's default ulimits.
  const dir = mkdtempSync(join(tmpdir(), "berth-podman-"));
  writeFileSync(
    join(dir, "containers.conf"),
    `[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\ntmp_dir = "${join(dir, "tmp")}"\n`,
  );
  const podman = (args: string[], options: { input?: Buffer } = {}) =>
    spawnSync(
      "podman",
      [
        "--root",
        join(dir, "root"),
        "--runroot",
        join(dir, "run"),
        "--storage-driver",
        "vfs",
        "--runtime",
        RUNTIME_LAUNCHER,
        ...args,
      ],
      {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, CONTAINERS_CONF: join(dir, "containers.conf") },
        ...options,
      },
    );
  const parentsBefore = new Set(libpodParents().filter((p) => existsSync(p)));
  // podman keeps a blob cache there whatever --root says: made by this test, it goes with it.
  const systemStoreBefore = existsSync("/var/lib/containers");
  try {
    const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 30 }).stdout;
    const imported = podman(["import", "--change", "ENV PATH=/bin", "-", "bb:dropin"], { input: tar });
    assert.equal(imported.status, 0, imported.stderr);
    lifeCycle(podman, ["run", "--network", "none"]);

    const base = ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "vfs"];
    const tty = spawnSync(
      "script",
      [
        "-qec",
        `podman ${base.join(" ")} --runtime ${RUNTIME_LAUNCHER} run -it --rm --network none bb:dropin sh -c 'tty; exit 4'`,
        "/dev/null",
      ],
      {
        encoding: "utf8",
        timeout: 60_000,
        input: "",
        env: { ...process.env, CONTAINERS_CONF: join(dir, "containers.conf") },
      },
    );
    assert.equal(tty.status, 4, tty.stdout);
    assert.match(tty.stdout, /\/dev\/pts\/\d+/);
    assert.deepEqual(monitorsUnder(/^conmon$/), [], "no berth-monitor stays under conmon");
    const left = spawnSync("ps", ["-eo", "comm="], { encoding: "utf8" }).stdout.split("\n");
    assert.ok(!left.includes("conmon"), "every conmon saw its container exit and left");
  } finally {
    podman(["rm", "-af"]);
    spawnSync("sh", ["-c", `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
    rmSync(dir, { recursive: true, force: true });
    if (!systemStoreBefore) rmSync("/var/lib/containers", { recursive: true, force: true });
    // podman's cgroup parent under cgroupfs stays (with conmon's cgroup in it), as it does with
    // runc: take back what it made. A container's cgroup left in it would fail this.
    for (const parent of libpodParents())
      if (!parentsBefore.has(parent) && existsSync(parent)) removeCgroupTree(parent);
  }
});

/**
 * The berth-monitor processes whose parent's name matches: under a shim or conmon, a monitor
 * that stayed (other daemons' monitors on the host are left out of the count).
 */
function monitorsUnder(parent: RegExp): number[] {
  const all = hostProcesses();
  const comm = new Map(all.map((p) => [p.pid, p.comm]));
  return all
    .filter((p) => p.comm === "berth-monitor" && parent.test(comm.get(p.ppid) ?? ""))
    .map((p) => p.pid);
}

function removeCgroupTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}

function libpodParents(): string[] {
  return [
    "/sys/fs/cgroup/libpod_parent",
    ...readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}/libpod_parent`),
  ];
}
