/**
 * The engine behind `berth serve`, driven by the real docker CLI: the lifecycle, exec, logs,
 * restart policies, OOM kills, concurrency, and live restore across a daemon crash.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { sleep, until } from "../helpers/wait.js";

const d = new DaemonFixture();
before(async () => {
  await d.importBusybox();
  await d.start();
});
after(() => d.cleanup());

const inspect = (name: string, format: string) =>
  ok(d.docker(["inspect", "--format", format, name])).stdout.trim();

test("run --rm prints the output, exits with the status, and leaves no container", () => {
  const r = d.docker([
    "run",
    "--rm",
    "--network",
    "none",
    "busybox",
    "sh",
    "-c",
    "echo out; echo err >&2; exit 3",
  ]);
  assert.equal(r.status, 3);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(ok(d.docker(["ps", "-aq"])).stdout.trim(), "");
});

test("a detached container runs, exec enters it, logs show its output, stop and rm end it", () => {
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "lifecycle",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "echo started; exec sleep 300",
    ]),
  );
  assert.equal(inspect("lifecycle", "{{.State.Status}}"), "running");
  assert.match(ok(d.docker(["ps", "--format", "{{.Names}} {{.Status}}"])).stdout, /^lifecycle Up /m);
  assert.equal(
    ok(d.docker(["exec", "lifecycle", "cat", "/proc/1/cmdline"]))
      .stdout.replace(/\0/g, " ")
      .trim(),
    "sleep 300",
  );
  assert.equal(d.docker(["exec", "lifecycle", "sh", "-c", "exit 5"]).status, 5);
  assert.equal(
    ok(d.docker(["exec", "-i", "lifecycle", "cat"], { input: "through stdin" })).stdout,
    "through stdin",
  );
  // An input that ends at once (the client half-closes before the output comes) loses nothing.
  assert.equal(
    ok(d.docker(["exec", "-i", "lifecycle", "echo", "still read"], { input: "" })).stdout,
    "still read\n",
  );
  assert.equal(ok(d.docker(["logs", "lifecycle"])).stdout, "started\n");
  ok(d.docker(["stop", "-t", "1", "lifecycle"]));
  assert.equal(inspect("lifecycle", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
  ok(d.docker(["rm", "lifecycle"]));
  assert.match(
    d.docker(["inspect", "lifecycle"]).stderr,
    /No such object: lifecycle|No such container: lifecycle/,
  );
});

test("docker's errors: a name in use, an unknown container, removing a running one", () => {
  ok(d.docker(["create", "--name", "taken", "--network", "none", "busybox", "true"]));
  // `docker run` reports a daemon's refusal with 125, `docker create` with 1, as against dockerd.
  const dup = d.docker(["run", "--name", "taken", "--network", "none", "busybox", "true"]);
  assert.equal(dup.status, 125);
  assert.match(
    dup.stderr,
    /Conflict\. The container name "\/taken" is already in use by container "[0-9a-f]{64}"/,
  );
  assert.match(d.docker(["stop", "no-such-thing"]).stderr, /No such container: no-such-thing/);
  ok(d.docker(["start", "taken"]));
  ok(d.docker(["run", "-d", "--name", "busy", "--network", "none", "busybox", "sleep", "300"]));
  const rm = d.docker(["rm", "busy"]);
  assert.equal(rm.status, 1);
  assert.match(
    rm.stderr,
    /You cannot remove a running container [0-9a-f]{64}\. Stop the container before attempting removal or force remove/,
  );
  ok(d.docker(["rm", "-f", "busy", "taken"]));
  const missing = d.docker(["run", "--rm", "--network", "none", "busybox", "/no/such/program"]);
  assert.equal(missing.status, 127);
  assert.match(missing.stderr, /no\/such\/program/);
  assert.equal(ok(d.docker(["ps", "-aq"])).stdout, "", "the failed container is gone and the daemon answers");
});

test("a pids limit of 1 holds the container process alone (its parent joins no cgroup)", () => {
  const r = d.docker(["run", "--rm", "--pids-limit", "1", "--network", "none", "busybox", "echo", "alone"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "alone\n");
  // and a second process is refused by that limit
  const two = d.docker([
    "run",
    "--rm",
    "--pids-limit",
    "1",
    "--network",
    "none",
    "busybox",
    "sh",
    "-c",
    "true & wait",
  ]);
  assert.notEqual(two.status, 0);
});

test("a memory limit's OOM kill shows as OOMKilled in inspect", async () => {
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "oom",
      "--network",
      "none",
      "--memory",
      "16m",
      "busybox",
      "dd",
      "if=/dev/zero",
      "of=/dev/null",
      "bs=64M",
      "count=1",
    ]),
  );
  await until("the OOM kill", () => inspect("oom", "{{.State.Status}}") === "exited");
  assert.equal(inspect("oom", "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137");
  ok(d.docker(["rm", "oom"]));
});

test("20 parallel `run -d` all succeed with unique names and ids", async () => {
  const { spawn } = await import("node:child_process");
  const runs = Array.from(
    { length: 20 },
    () =>
      new Promise<string>((resolve, reject) => {
        const p = spawn("docker", ["run", "-d", "--network", "none", "busybox", "sleep", "300"], {
          env: { ...process.env, DOCKER_HOST: `unix://${d.socket}` },
        });
        let out = "";
        let err = "";
        p.stdout.on("data", (x) => (out += x));
        p.stderr.on("data", (x) => (err += x));
        p.on("exit", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err))));
      }),
  );
  const ids = await Promise.all(runs);
  assert.equal(new Set(ids).size, 20);
  const names = ok(d.docker(["ps", "--format", "{{.Names}}"]))
    .stdout.trim()
    .split("\n");
  assert.equal(names.length, 20);
  assert.equal(new Set(names).size, 20);
  ok(d.docker(["rm", "-f", ...ids]));
});

test("restart policy on-failure:2 restarts a failing container twice, then leaves it exited", async () => {
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "flaky",
      "--network",
      "none",
      "--restart",
      "on-failure:2",
      "busybox",
      "sh",
      "-c",
      "exit 1",
    ]),
  );
  await until(
    "the retries to end",
    () => inspect("flaky", "{{.RestartCount}} {{.State.Status}}") === "2 exited",
    20_000,
  );
  ok(d.docker(["rm", "flaky"]));
});

test("live restore: after kill -9 of the daemon, containers still run and are managed again", async () => {
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "survivor",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    ]),
  );
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "ends-meanwhile",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "sleep 1; exit 42",
    ]),
  );
  const pid = Number(inspect("survivor", "{{.State.Pid}}"));
  await d.crash();
  await sleep(1500);
  assert.ok(existsSync(`/proc/${pid}`), "the container outlived its daemon");
  await d.start();
  assert.equal(inspect("survivor", "{{.State.Status}}"), "running");
  assert.equal(inspect("ends-meanwhile", "{{.State.Status}} {{.State.ExitCode}}"), "exited 42");
  assert.equal(ok(d.docker(["exec", "survivor", "echo", "still here"])).stdout, "still here\n");
  assert.match(ok(d.docker(["logs", "--tail", "1", "survivor"])).stdout, /^tick \d+\n$/);
  ok(d.docker(["stop", "-t", "1", "survivor"]));
  assert.equal(inspect("survivor", "{{.State.Status}}"), "exited");
  ok(d.docker(["rm", "survivor", "ends-meanwhile"]));
});

test("docker cp both ways, diff, export and commit", () => {
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "files",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "echo x > /tmp/x; exec sleep 300",
    ]),
  );
  assert.equal(ok(d.docker(["diff", "files"])).stdout, "C /tmp\nA /tmp/x\n");
  const dir = mkdtempSync("/tmp/berth-docker-cp-");
  try {
    ok(d.docker(["cp", "files:/tmp/x", join(dir, "x")]));
    assert.equal(readFileSync(join(dir, "x"), "utf8"), "x\n");
    writeFileSync(join(dir, "y"), "y\n");
    ok(d.docker(["cp", join(dir, "y"), "files:/tmp/"]));
    assert.equal(ok(d.docker(["exec", "files", "cat", "/tmp/y"])).stdout, "y\n");
    ok(d.docker(["export", "-o", join(dir, "fs.tar"), "files"]));
    assert.ok(
      spawnSync("tar", ["-tf", join(dir, "fs.tar")], { encoding: "utf8" })
        .stdout.split("\n")
        .includes("tmp/y"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  ok(d.docker(["commit", "files", "committed:1"]));
  assert.equal(
    ok(d.docker(["run", "--rm", "--network", "none", "committed:1", "cat", "/tmp/x", "/tmp/y"])).stdout,
    "x\ny\n",
  );
  ok(d.docker(["rm", "-f", "files"]));
  ok(d.docker(["rmi", "committed:1"]));
});

test("docker save and docker load through Berth's API", () => {
  const dir = mkdtempSync("/tmp/berth-docker-save-");
  try {
    ok(d.docker(["tag", "busybox", "roundtrip:1"]));
    ok(d.docker(["save", "-o", join(dir, "img.tar"), "roundtrip:1"]));
    ok(d.docker(["rmi", "roundtrip:1"]));
    assert.match(ok(d.docker(["load", "-i", join(dir, "img.tar")])).stdout, /Loaded image: roundtrip:1/);
    assert.equal(
      ok(d.docker(["run", "--rm", "--network", "none", "roundtrip:1", "echo", "ok"])).stdout,
      "ok\n",
    );
    ok(d.docker(["rmi", "roundtrip:1"]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a created container costs one small record file", () => {
  const id = ok(d.docker(["create", "--network", "none", "busybox", "true"])).stdout.trim();
  const dir = join(d.root, "containers");
  assert.ok(existsSync(join(dir, `${id}.json`)));
  assert.ok(!readdirSync(dir).includes(id), "no directory until it starts");
  ok(d.docker(["rm", id]));
});
