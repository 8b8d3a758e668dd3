/**
 * The cgroup v2 backend on this host's cgroup2 mount. On a hybrid host the v2 hierarchy has no
 * memory/cpu/pids controllers (they are bound to v1), but processes, freezing, cgroup.kill and
 * the device filter all work there, so this exercises the v2 code for real.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { after, test } from "node:test";
import { hostLayout } from "../../src/runtime/cgroups/hierarchy.js";
import { openCgroup } from "../../src/runtime/cgroups/index.js";
import { exited } from "../helpers/processes.js";

const layout = hostLayout();
const skip = layout.v2Mount ? false : "no cgroup2 mount on this host";
const path = `/berth-test-v2-${process.pid}/c1`;
const cg = () => openCgroup(path, { version: 2 });
const children: number[] = [];
after(async () => {
  for (const pid of children) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  if (!skip) {
    await cg().destroy();
    await openCgroup(`/berth-test-v2-${process.pid}`, { version: 2 }).destroy();
  }
});

function sleeper(): number {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(child.pid!);
  return child.pid!;
}

const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[0];

test("v2: a process joins, freezes, thaws and is killed through the unified hierarchy", {
  skip,
}, async () => {
  const c = cg();
  c.create();
  const pid = sleeper();
  await c.addProcess(pid);
  assert.deepEqual(c.processes(), [pid]);
  assert.match(readFileSync(`/proc/${pid}/cgroup`, "utf8"), new RegExp(`^0::${path}$`, "m"));
  await c.freeze();
  assert.equal(c.isFrozen(), true);
  c.thaw();
  assert.equal(c.isFrozen(), false);
  await c.killAll();
  for (let i = 0; i < 100 && existsSync(`/proc/${pid}`) && state(pid) !== "Z"; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.ok(!existsSync(`/proc/${pid}`) || state(pid) === "Z", "killed");
});

test("v2: the device filter denies writes to /dev/null and allows reads", { skip }, async () => {
  const c = cg();
  c.create();
  c.apply({
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "r" },
    ],
  });
  // A shell that waits for a go-ahead, so that it is in the cgroup before it opens anything.
  const child = spawn(
    "sh",
    ["-c", "read go; (echo x > /dev/null) 2>&1 && echo write-ok; cat /dev/null && echo read-ok"],
    {
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  children.push(child.pid!);
  await c.addProcess(child.pid!);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stdin.end("go\n");
  await exited(child);
  assert.match(out, /Operation not permitted/);
  assert.doesNotMatch(out, /write-ok/);
  assert.match(out, /read-ok/);
});
