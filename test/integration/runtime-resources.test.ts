import assert from "node:assert/strict";
import { after, test } from "node:test";
import { exited } from "../helpers/processes.js";
import { ok, RuntimeFixture } from "../helpers/runtime.js";
import { sleep, until } from "../helpers/wait.js";

const rt = new RuntimeFixture();
after(() => rt.cleanup());

const state = (id: string) => JSON.parse(ok(rt.cli(["state", id])).stdout);
const stats = (id: string) => JSON.parse(ok(rt.cli(["events", "--stats", id])).stdout).data;

test("a memory limit OOM-kills the container, and events and stats report it", async () => {
  const id = rt.id();
  // dd's 64 MiB block buffer cannot fit in 16 MiB
  const bundle = rt.bundle(
    ["sh", "-c", "sleep 0.5; exec dd if=/dev/zero of=/dev/null bs=64M count=4"],
    (s) => {
      s.linux!.resources!.memory = { limit: 16 * 1024 * 1024 };
    },
  );
  ok(rt.cli(["create", "--bundle", bundle, id]));
  const events = rt.spawnCli(["events", "--interval", "100ms", id]);
  const eventsDone = exited(events);
  let output = "";
  events.stdout.on("data", (d) => {
    output += d;
  });
  ok(rt.cli(["start", id]));
  await until("the container to stop", () => state(id).status === "stopped");
  await eventsDone;
  const types = output
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).type);
  assert.ok(types.includes("oom"), `events printed ${types.join(",")}`);
  const data = stats(id);
  assert.ok(data.memory.usage.failcnt > 0 || data.memory.usage.max >= 16 * 1024 * 1024 - 4096);
  ok(rt.cli(["delete", id]));
});

test("a fork bomb stops at the pids limit", () => {
  const r = rt.run(
    // busybox sh gives up when fork fails: the bomb runs in a subshell that may die of it
    [
      "sh",
      "-c",
      "(i=0; while [ $i -lt 60 ]; do sleep 3 & i=$((i+1)); done) 2>/dev/null; cat /sys/fs/cgroup/pids/pids.current /sys/fs/cgroup/pids/pids.max",
    ],
    (s) => {
      s.linux!.resources!.pids = { limit: 20 };
    },
  );
  const [current, max] = r.stdout.trim().split("\n");
  assert.equal(max, "20");
  assert.ok(Number(current) <= 20, `pids.current ${current}`);
});

test("a CPU quota of half a core holds a busy loop near 50% of a CPU", async () => {
  const id = rt.id();
  const bundle = rt.bundle(["sh", "-c", "while :; do :; done"], (s) => {
    s.linux!.resources!.cpu = { quota: 50_000, period: 100_000 };
  });
  ok(rt.cli(["create", "--bundle", bundle, id]));
  ok(rt.cli(["start", id]));
  await sleep(300);
  const t0 = process.hrtime.bigint();
  const u0 = stats(id).cpu.usage.total as number;
  await sleep(2000);
  const u1 = stats(id).cpu.usage.total as number;
  const t1 = process.hrtime.bigint();
  const share = (u1 - u0) / Number(t1 - t0);
  assert.ok(share > 0.35 && share < 0.65, `used ${(share * 100).toFixed(1)}% of a CPU`);
  ok(rt.cli(["delete", "--force", id]));
});

test("update changes a running container's limits", () => {
  const id = rt.id();
  ok(rt.cli(["create", "--bundle", rt.bundle(["sleep", "60"]), id]));
  ok(rt.cli(["start", id]));
  ok(rt.cli(["update", "--pids-limit", "33", "--memory", "50000000", id]));
  const data = stats(id);
  assert.equal(data.pids.limit, 33);
  assert.equal(data.memory.usage.limit, 49999872); // the kernel rounds down to pages
  ok(rt.cli(["delete", "--force", id]));
});
