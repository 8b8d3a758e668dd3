/**
 * The `berth` command line against a real daemon: docker's commands, output, exit codes and
 * error messages; push and pull through a real registry; -it through a real pty; starting the
 * daemon on first use.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BERTH, DaemonFixture, ok } from "../helpers/daemon.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
// The CLI stores logins where the daemon reads them (docker's config file): a private one here.
process.env["DOCKER_CONFIG"] = join(d.root, "docker-config");
let registry: TestRegistry;
before(async () => {
  await d.importBusybox();
  await d.start(["--insecure-registry", "127.0.0.1"]);
  registry = await startRegistry();
});
after(async () => {
  await registry?.stop();
  await d.cleanup();
});

const berth = (args: string[], input?: string) => d.berth(args, input === undefined ? {} : { input });
const NONE = ["--network", "none"];

test("run --rm: output on the right streams, the exit status, nothing left", () => {
  const r = berth(["run", "--rm", ...NONE, "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
  assert.equal(r.status, 3);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(ok(berth(["ps", "-aq"])).stdout, "");
});

test("run -i passes stdin through; -e, -w, -u, -h and --entrypoint shape the process", () => {
  assert.equal(
    ok(berth(["run", "--rm", "-i", ...NONE, "busybox", "tr", "a-z", "A-Z"], "shout\n")).stdout,
    "SHOUT\n",
  );
  const r = ok(
    berth([
      "run",
      "--rm",
      ...NONE,
      "-e",
      "GREETING=hi",
      "-w",
      "/tmp",
      "-u",
      "1000:1000",
      "-h",
      "boat",
      "--entrypoint",
      "sh",
      "busybox",
      "-c",
      'echo "$GREETING $(pwd) $(id -u):$(id -g) $(hostname)"',
    ]),
  );
  assert.equal(r.stdout, "hi /tmp 1000:1000 boat\n");
});

test("a detached container: ps, exec, logs, inspect, top, pause, rename, stop, wait, rm", () => {
  const id = ok(
    berth(["run", "-d", "--name", "cli-web", ...NONE, "busybox", "sh", "-c", "echo ready; exec sleep 300"]),
  ).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = ok(berth(["ps"])).stdout.split("\n");
  assert.match(ps[0]!, /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
  assert.match(
    ps[1]!,
    new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"sh -c .*"\\s+.* ago\\s+Up .*\\s+cli-web$`),
  );
  assert.equal(ok(berth(["ps", "--format", "{{.Names}}:{{.State}}"])).stdout, "cli-web:running\n");
  assert.equal(ok(berth(["ps", "-q", "--no-trunc"])).stdout, `${id}\n`);
  assert.equal(
    ok(berth(["exec", "cli-web", "cat", "/proc/1/cmdline"]))
      .stdout.replace(/\0/g, " ")
      .trim(),
    "sleep 300",
  );
  assert.equal(berth(["exec", "cli-web", "sh", "-c", "exit 7"]).status, 7);
  assert.equal(ok(berth(["exec", "-i", "cli-web", "cat"], "via stdin")).stdout, "via stdin");
  assert.equal(ok(berth(["logs", "cli-web"])).stdout, "ready\n");
  assert.match(ok(berth(["logs", "-t", "cli-web"])).stdout, /^\d{4}-\d\d-\d\dT\S+Z ready\n$/);
  assert.equal(
    ok(berth(["inspect", "-f", "{{.State.Status}} {{.Config.Image}}", "cli-web"])).stdout,
    "running busybox\n",
  );
  assert.equal((JSON.parse(ok(berth(["inspect", "cli-web"])).stdout) as { Id: string }[])[0]!.Id, id);
  assert.match(ok(berth(["top", "cli-web"])).stdout, /^UID\s+PID\s+PPID.*\n.*sleep 300/);
  assert.match(ok(berth(["stats", "--no-stream", "cli-web"])).stdout, /cli-web\s+\d+\.\d\d%\s+\S+ \/ \S+/);
  ok(berth(["pause", "cli-web"]));
  assert.match(ok(berth(["ps", "--format", "{{.Status}}"])).stdout, /\(Paused\)/);
  ok(berth(["unpause", "cli-web"]));
  ok(berth(["rename", "cli-web", "cli-web2"]));
  assert.equal(ok(berth(["stop", "-t", "1", "cli-web2"])).stdout, "cli-web2\n");
  assert.equal(ok(berth(["wait", "cli-web2"])).stdout, "137\n");
  assert.match(ok(berth(["ps", "-a", "--format", "{{.Status}}"])).stdout, /^Exited \(137\) /);
  assert.equal(ok(berth(["rm", "cli-web2"])).stdout, "cli-web2\n");
  assert.equal(ok(berth(["ps", "-aq"])).stdout, "");
});

test("named volumes keep data between containers; volume ls, inspect, rm", () => {
  ok(berth(["volume", "create", "cli-data"]));
  ok(berth(["run", "--rm", ...NONE, "-v", "cli-data:/data", "busybox", "sh", "-c", "echo kept > /data/f"]));
  assert.equal(
    ok(berth(["run", "--rm", ...NONE, "-v", "cli-data:/data:ro", "busybox", "cat", "/data/f"])).stdout,
    "kept\n",
  );
  assert.match(ok(berth(["volume", "ls"])).stdout, /^DRIVER\s+VOLUME NAME\nlocal\s+cli-data\n$/);
  assert.equal(
    ok(berth(["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "cli-data"])).stdout,
    "cli-data local\n",
  );
  ok(berth(["volume", "rm", "cli-data"]));
  assert.equal(ok(berth(["volume", "ls", "-q"])).stdout, "");
});

test("resource flags reach the cgroup; --read-only, --cap-drop, --tmpfs, --ulimit take effect", () => {
  const r = ok(
    berth([
      "run",
      "--rm",
      ...NONE,
      "--memory",
      "64m",
      "--pids-limit",
      "50",
      "--read-only",
      "--tmpfs",
      "/scratch",
      "--cap-drop",
      "MKNOD",
      "--ulimit",
      "nofile=512:512",
      "busybox",
      "sh",
      "-c",
      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; " +
        "touch /x 2>/dev/null || echo ro; touch /scratch/y && echo tmpfs; mknod /scratch/n c 1 3 2>/dev/null || echo nomknod; ulimit -n",
    ]),
  );
  assert.equal(r.stdout, `${64 * 1024 * 1024}\n50\nro\ntmpfs\nnomknod\n512\n`);
});

test("images: import, images, tag, history, push to and pull from a registry, rmi", () => {
  const rootfs = mkdtempSync("/tmp/berth-cli-rootfs-");
  try {
    writeFileSync(join(rootfs, "hello.txt"), "from a tar\n");
    const tar = spawnSync("tar", ["-C", rootfs, "-c", "."]).stdout;
    const imported = spawnSync(
      process.execPath,
      [BERTH, "-H", `unix://${d.socket}`, "import", "-", "cli-imported:v1"],
      {
        input: tar,
        encoding: "utf8",
      },
    );
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
  assert.match(
    ok(berth(["images"])).stdout,
    /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n(.*\n)*cli-imported\s+v1\s+[0-9a-f]{12}\s/,
  );
  const remote = `${registry.host}/cli/busybox:1`;
  ok(berth(["tag", "busybox", remote]));
  assert.match(ok(berth(["history", "busybox"])).stdout, /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT\n/);
  const pushed = ok(berth(["push", remote]));
  assert.match(pushed.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+/);
  ok(berth(["rmi", remote]));
  assert.doesNotMatch(ok(berth(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout, /cli\/busybox/);
  ok(berth(["pull", remote]));
  assert.equal(ok(berth(["run", "--rm", ...NONE, remote, "echo", "pulled"])).stdout, "pulled\n");
  const rmi = ok(berth(["rmi", remote, "cli-imported:v1"])).stdout;
  assert.match(rmi, /Untagged: .*cli\/busybox:1\n/);
  assert.match(rmi, /Deleted: sha256:/);
});

test("healthchecks: status in ps and inspect, failures counted to unhealthy, events on change", async () => {
  ok(
    berth([
      "run",
      "-d",
      "--name",
      "cli-health",
      ...NONE,
      "--health-cmd",
      "test -e /tmp/ok && echo fine",
      "--health-interval",
      "200ms",
      "--health-retries",
      "2",
      "busybox",
      "sh",
      "-c",
      "touch /tmp/ok; exec sleep 300",
    ]),
  );
  const status = () => ok(berth(["inspect", "-f", "{{.State.Health.Status}}", "cli-health"])).stdout.trim();
  await until("healthy", () => status() === "healthy", 10_000);
  assert.match(ok(berth(["ps", "--format", "{{.Status}}"])).stdout, /^Up .* \(healthy\)\n$/);
  const log = JSON.parse(ok(berth(["inspect", "-f", "{{json .State.Health.Log}}", "cli-health"])).stdout) as {
    ExitCode: number;
    Output: string;
  }[];
  assert.deepEqual([log.at(-1)!.ExitCode, log.at(-1)!.Output], [0, "fine\n"]);
  ok(berth(["exec", "cli-health", "rm", "/tmp/ok"]));
  await until("unhealthy", () => status() === "unhealthy", 10_000);
  assert.match(
    ok(berth(["inspect", "-f", "{{.State.Health.FailingStreak}}", "cli-health"])).stdout,
    /^[2-9]\d*\n$/,
  );
  const events = ok(
    berth([
      "events",
      "--since",
      "0",
      "--until",
      String(Math.ceil(Date.now() / 1000) + 1),
      "--filter",
      "container=cli-health",
    ]),
  ).stdout;
  assert.match(events, /health_status: healthy/);
  assert.match(events, /health_status: unhealthy/);
  ok(berth(["rm", "-f", "cli-health"]));
  const bad = berth(["run", ...NONE, "--health-interval", "soon", "busybox", "true"]);
  assert.equal(bad.status, 125);
});

test("cp both ways (symlinks stay inside the container), diff, export, commit", () => {
  ok(
    berth([
      "run",
      "-d",
      "--name",
      "cli-files",
      ...NONE,
      "busybox",
      "sh",
      "-c",
      "echo made > /tmp/made; rm /bin/cat; mkdir /data; ln -s /etc /data/etc; ln -s ../../../../etc /data/up; exec sleep 300",
    ]),
  );
  assert.equal(
    ok(berth(["diff", "cli-files"])).stdout,
    "C /bin\nD /bin/cat\nA /data\nA /data/etc\nA /data/up\nC /tmp\nA /tmp/made\n",
  );
  const dir = mkdtempSync("/tmp/berth-cli-cp-");
  try {
    ok(berth(["cp", "cli-files:/tmp/made", join(dir, "copy")]));
    assert.equal(readFileSync(join(dir, "copy"), "utf8"), "made\n");
    ok(berth(["cp", "cli-files:/tmp", dir]));
    assert.equal(readFileSync(join(dir, "tmp", "made"), "utf8"), "made\n");
    // Through the container's symlinks, absolute or climbing: the container's /etc, not the host's.
    const hostname = ok(berth(["exec", "cli-files", "hostname"])).stdout.trim();
    for (const via of ["/data/etc/hostname", "/data/up/hostname"]) {
      ok(berth(["cp", `cli-files:${via}`, join(dir, "hn")]));
      assert.equal(readFileSync(join(dir, "hn"), "utf8").trim(), hostname);
    }
    writeFileSync(join(dir, "in.txt"), "into the container\n");
    chownSync(join(dir, "in.txt"), 1234, 1234);
    symlinkSync("in.txt", join(dir, "link.txt"));
    ok(berth(["cp", "-L", join(dir, "link.txt"), "cli-files:/tmp/"]));
    assert.equal(
      ok(berth(["exec", "cli-files", "stat", "-c", "%F %u", "/tmp/link.txt"])).stdout,
      "regular file 0\n",
    );
    ok(berth(["cp", "-a", join(dir, "in.txt"), "cli-files:/tmp/owned.txt"]));
    assert.equal(ok(berth(["exec", "cli-files", "stat", "-c", "%u", "/tmp/owned.txt"])).stdout, "1234\n");
    ok(berth(["cp", join(dir, "in.txt"), "cli-files:/tmp/renamed.txt"]));
    assert.equal(
      ok(berth(["exec", "cli-files", "sh", "-c", "echo $(cat /tmp/renamed.txt)"])).stdout,
      "into the container\n",
    );
    const missing = berth(["cp", "cli-files:/no/such", dir]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /Could not find the file \/no\/such in container cli-files/);
    ok(berth(["export", "-o", join(dir, "fs.tar"), "cli-files"]));
    const names = spawnSync("tar", ["-tf", join(dir, "fs.tar")], { encoding: "utf8" }).stdout.split("\n");
    assert.ok(names.includes("tmp/made") && names.includes("bin/sh") && !names.includes("bin/cat"));
    assert.ok(!names.some((n) => n.startsWith("proc/") && n !== "proc/"), "nothing of /proc");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const id = ok(
    berth(["commit", "-c", 'CMD ["cat", "/tmp/made"]', "-m", "a note", "cli-files", "cli-committed:1"]),
  ).stdout.trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(
    ok(berth(["run", "--rm", ...NONE, "--entrypoint", "sh", "cli-committed:1", "-c", "head /tmp/made"]))
      .stdout,
    "made\n",
  );
  assert.match(ok(berth(["history", "cli-committed:1"])).stdout, /a note/);
  ok(berth(["rm", "-f", "cli-files"]));
  ok(berth(["rmi", "cli-committed:1"]));
});

test("save and load: docker archives and OCI layout directories (skopeo reads Berth's)", () => {
  const dir = mkdtempSync("/tmp/berth-cli-save-");
  try {
    ok(berth(["tag", "busybox", "saved:1"]));
    ok(berth(["save", "-o", join(dir, "img.tar"), "saved:1"]));
    assert.ok(
      spawnSync("tar", ["-tf", join(dir, "img.tar")], { encoding: "utf8" }).stdout.includes("manifest.json"),
    );
    ok(berth(["save", "--format", "oci-dir", "-o", join(dir, "layout"), "saved:1"]));
    const skopeo = spawnSync("skopeo", ["inspect", `oci:${join(dir, "layout")}:1`], {
      encoding: "utf8",
    });
    assert.equal(skopeo.status, 0, skopeo.stderr);
    assert.equal((JSON.parse(skopeo.stdout) as { Layers: string[] }).Layers.length, 1);
    ok(berth(["rmi", "saved:1"]));
    assert.match(ok(berth(["load", "-i", join(dir, "img.tar")])).stdout, /^Loaded image: saved:1\n$/);
    ok(berth(["rmi", "saved:1"]));
    assert.equal(ok(berth(["load", "-i", join(dir, "layout")])).stdout, "Loaded image: saved:1\n");
    assert.equal(ok(berth(["run", "--rm", ...NONE, "saved:1", "echo", "loaded"])).stdout, "loaded\n");
    const bad = berth(["load", "-i", join(dir, "nope.tar")]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /no such file or directory/);
    writeFileSync(join(dir, "junk.tar"), "not a tar at all");
    assert.match(
      berth(["load", "-i", join(dir, "junk.tar")]).stderr,
      /not an image archive|not a docker image archive/,
    );
    ok(berth(["rmi", "saved:1"]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("login and logout against a registry with basic auth; push needs the login", async () => {
  const secured = await startRegistry({ kind: "basic", username: "sailor", password: "s3cret" });
  try {
    const remote = `${secured.host}/private/busybox:1`;
    ok(berth(["tag", "busybox", remote]));
    assert.notEqual(berth(["push", remote]).status, 0, "anonymous push is refused");
    const wrong = berth(["login", "-u", "sailor", "-p", "nope", secured.host]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /unauthorized/);
    const login = berth(["login", "-u", "sailor", "--password-stdin", secured.host], "s3cret\n");
    assert.equal(login.status, 0, login.stderr);
    assert.equal(login.stdout, "Login Succeeded\n");
    const config = JSON.parse(readFileSync(join(d.root, "docker-config", "config.json"), "utf8")) as {
      auths: Record<string, { auth: string }>;
    };
    assert.equal(Buffer.from(config.auths[secured.host]!.auth, "base64").toString(), "sailor:s3cret");
    ok(berth(["push", remote]));
    ok(berth(["rmi", remote]));
    ok(berth(["pull", remote]));
    assert.equal(
      ok(berth(["logout", secured.host])).stdout,
      `Removing login credentials for ${secured.host}\n`,
    );
    ok(berth(["rmi", remote]));
    assert.notEqual(berth(["pull", remote]).status, 0, "after logout the registry refuses");
  } finally {
    await secured.stop();
  }
});

test("system df counts images, containers and volumes; system prune removes the stopped", () => {
  ok(berth(["run", "-d", "--name", "cli-df-up", ...NONE, "busybox", "sleep", "300"]));
  ok(
    berth([
      "run",
      "--name",
      "cli-df-down",
      ...NONE,
      "busybox",
      "sh",
      "-c",
      "head -c 100000 /dev/zero > /tmp/fill",
    ]),
  );
  const df = ok(berth(["system", "df"])).stdout.split("\n");
  assert.match(df[0]!, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
  assert.match(df[2]!, /^Containers\s+2\s+1\s+\d/);
  const pruned = ok(berth(["system", "prune", "-f"])).stdout;
  assert.match(pruned, /^Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.equal(ok(berth(["ps", "-a", "--format", "{{.Names}}"])).stdout, "cli-df-up\n");
  assert.match(berth(["system", "prune"]).stderr, /confirm with --force/);
  ok(berth(["rm", "-f", "cli-df-up"]));
});

test("docker's errors and exit codes for bad input, and nothing is created", () => {
  const cases: [string[], number, RegExp][] = [
    [["run", "--bogus", "busybox"], 125, /unknown flag: --bogus/],
    [["run", ...NONE, "--memory", "lots", "busybox", "true"], 125, /invalid memory: 'lots'/],
    [
      ["run", ...NONE, "--restart", "sometimes", "busybox", "true"],
      125,
      /invalid restart policy format: sometimes/,
    ],
    [["run", ...NONE, "--cpus", "many", "busybox", "true"], 125, /--cpus/],
    [["run", ...NONE, "--mount", "type=nfs,target=/x", "busybox", "true"], 125, /unknown mount type "nfs"/],
    [
      ["run", ...NONE, "--ulimit", "nofile=9:1", "busybox", "true"],
      125,
      /soft limit 9 is above hard limit 1/,
    ],
    [
      ["run", ...NONE, "--health-interval", "soon", "busybox", "true"],
      125,
      /invalid --health-interval "soon"/,
    ],
    [["run", ...NONE, "no-such-image:1", "true"], 125, /no-such-image/],
    [["run", ...NONE, "busybox", "/no/such/program"], 127, /no such file or directory/],
    [["stop", "no-such-container"], 1, /No such container: no-such-container/],
    [["logs"], 1, /"logs" requires exactly 1 argument/],
    [["frobnicate"], 125, /'frobnicate' is not a berth command/],
  ];
  for (const [args, status, message] of cases) {
    const r = berth(args);
    assert.equal(r.status, status, `berth ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, `berth ${args.join(" ")}`);
  }
  // Only the container whose program is missing was created (as with docker), and it says why.
  const left = ok(berth(["ps", "-a", "--format", "{{.Command}} {{.State}}"]))
    .stdout.trim()
    .split("\n");
  assert.deepEqual(left, ['"/no/such/program" created']);
  assert.match(ok(berth(["container", "prune", "-f"])).stdout, /^Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.equal(ok(berth(["ps", "-aq"])).stdout, "");
  ok(berth(["create", "--name", "dup", ...NONE, "busybox"]));
  const dup = berth(["run", "--name", "dup", ...NONE, "busybox"]);
  assert.equal(dup.status, 125);
  assert.match(dup.stderr, /Conflict\. The container name "\/dup" is already in use/);
  ok(berth(["rm", "dup"]));
});

test("20 parallel `berth run -d` succeed with unique ids and names", async () => {
  const { spawn } = await import("node:child_process");
  const ids = await Promise.all(
    Array.from(
      { length: 20 },
      () =>
        new Promise<string>((resolve, reject) => {
          const p = spawn(process.execPath, [
            BERTH,
            "-H",
            `unix://${d.socket}`,
            "run",
            "-d",
            ...NONE,
            "busybox",
            "sleep",
            "60",
          ]);
          let out = "";
          let err = "";
          p.stdout.on("data", (x) => (out += x));
          p.stderr.on("data", (x) => (err += x));
          p.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err))));
        }),
    ),
  );
  assert.equal(new Set(ids).size, 20);
  const names = ok(berth(["ps", "--format", "{{.Names}}"]))
    .stdout.trim()
    .split("\n");
  assert.equal(new Set(names).size, 20);
  ok(berth(["rm", "-f", ...ids]));
});

test("run -it gets a terminal: a tty inside, input echoed, the exit status back", () => {
  // script(1) gives the CLI a real pty as its terminal.
  const r = spawnSync(
    "script",
    [
      "-qec",
      `${process.execPath} ${BERTH} -H unix://${d.socket} run -it --rm --network none busybox sh -c 'tty; read line; echo "got $line"; exit 6'`,
      "/dev/null",
    ],
    { input: "typed\n", encoding: "utf8", timeout: 30_000 },
  );
  assert.equal(r.status, 6, r.stdout + r.stderr);
  assert.match(r.stdout, /\/dev\/pts\/\d+/);
  assert.match(r.stdout, /got typed/);
});

test("with no daemon on the default socket, the CLI starts one", {
  skip:
    existsSync("/var/lib/berth") || existsSync("/run/berth/berth.sock")
      ? "a Berth install already uses the default paths"
      : false,
}, async () => {
  const r = spawnSync(process.execPath, [BERTH, "version", "--format", "{{.Server.Version}}"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(readFileSync("/run/berth/berth.pid", "utf8"));
  try {
    assert.match(r.stderr, /Started the Berth daemon/);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  } finally {
    process.kill(pid, "SIGTERM");
    await until("the daemon to stop", () => !existsSync(`/proc/${pid}`), 10_000);
    rmSync("/var/lib/berth", { recursive: true, force: true });
    rmSync("/run/berth", { recursive: true, force: true });
  }
});
