import assert from "node:assert/strict";
import { test } from "node:test";
import { parseLayout, resolveCgroupPath } from "../../../src/runtime/cgroups/hierarchy.js";
import {
  blkioToIoWeight,
  sharesToWeight,
  v1Writes,
  v2Writes,
} from "../../../src/runtime/cgroups/resources.js";
import { parseIoStat, parseKeyValues } from "../../../src/runtime/cgroups/stats.js";

const pick = (w: { controller: string; file: string; value: string }[]) =>
  w.map((x) => `${x.controller}/${x.file}=${x.value}`);

test("v1: memory, cpu, pids and devices become the files runc writes", () => {
  const w = v1Writes({
    memory: { limit: 256 * 1024 * 1024, swap: 512 * 1024 * 1024, reservation: 1024 },
    cpu: { shares: 512, quota: 50000, period: 100000, cpus: "0" },
    pids: { limit: 0 },
    devices: [
      { allow: false, access: "rwm" },
      { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
    ],
  });
  assert.deepEqual(pick(w), [
    "devices/devices.deny=a *:* rwm",
    "devices/devices.allow=c 1:3 rw",
    "memory/memory.limit_in_bytes=268435456",
    "memory/memory.memsw.limit_in_bytes=536870912",
    "memory/memory.soft_limit_in_bytes=1024",
    "cpu/cpu.shares=512",
    "cpu/cpu.cfs_period_us=100000",
    "cpu/cpu.cfs_quota_us=50000",
    "cpuset/cpuset.cpus=0",
    "pids/pids.max=max",
  ]);
});

test("v1: kernelTCP is written to memory.kmem.tcp.limit_in_bytes, never dropped; a bad value names the field", () => {
  assert.deepEqual(pick(v1Writes({ memory: { kernelTCP: 1 << 20 } })), [
    "memory/memory.kmem.tcp.limit_in_bytes=1048576",
  ]);
  assert.equal(v1Writes({ memory: { kernelTCP: 1 << 20 } })[0]!.optional, undefined);
  assert.deepEqual(pick(v1Writes({ memory: { kernelTCP: -1 } })), [
    "memory/memory.kmem.tcp.limit_in_bytes=-1",
  ]);
  assert.throws(() => v1Writes({ memory: { kernelTCP: -5 } }), /memory\.kernelTCP: -5 is negative/);
});

test("v2: memory.max, swap as swap-only, cpu.weight from shares, cpu.max, io.max per device, unified raw", () => {
  const w = v2Writes({
    memory: { limit: 100, swap: 300, reservation: 50 },
    cpu: { shares: 1024, quota: 25000 },
    pids: { limit: 20 },
    blockIO: {
      weight: 500,
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 10 }],
    },
    unified: { "memory.high": "90" },
  });
  assert.deepEqual(pick(w), [
    "/memory.max=100",
    "/memory.low=50",
    "/memory.swap.max=200",
    "/cpu.weight=39",
    "/cpu.max=25000 100000",
    "/pids.max=20",
    "/io.weight=default 4950",
    "/io.max=8:0 rbps=1000 wiops=10",
    "/memory.high=90",
  ]);
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(262144), 10000);
  assert.equal(blkioToIoWeight(10), 1);
  assert.equal(blkioToIoWeight(1000), 10000);
});

test("bad values are refused before anything is written", () => {
  assert.throws(() => v1Writes({ memory: { limit: -5 } }), /memory\.limit: -5 is negative/);
  assert.throws(() => v1Writes({ memory: { limit: 200, swap: 100 } }), /must not be below memory\.limit/);
  assert.throws(
    () => v2Writes({ hugepageLimits: [{ pageSize: "3XB", limit: 1 }] }),
    /unknown page size "3XB"/,
  );
  assert.throws(() => v2Writes({ unified: { "../escape": "1" } }), /not a cgroup file name/);
  assert.throws(() => v1Writes({ unified: { "memory.high": "1" } }), /cannot be applied on a cgroup v1 host/);
  assert.throws(() => v1Writes({ blockIO: { weight: 5 } }), /not in 10\.\.1000/);
});

test("the host layout: v1 hierarchies with co-mounted and named controllers, our own paths, the cgroup2 mount", () => {
  const mountinfo = [
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
  ].join("\n");
  const procCgroup = "4:memory:/process_api/x\n3:cpu,cpuacct:/\n1:name=systemd:/user\n0::/\n";
  const layout = parseLayout(mountinfo, procCgroup);
  assert.deepEqual(
    layout.v1.map((h) => [h.mount, h.controllers.join(","), h.own]),
    [
      ["/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct", "/"],
      ["/sys/fs/cgroup/memory", "memory", "/process_api/x"],
      ["/sys/fs/cgroup/systemd", "name=systemd", "/user"],
    ],
  );
  assert.equal(layout.v2Mount, "/sys/fs/cgroup/unified");
  assert.equal(resolveCgroupPath("berth/abc", "/process_api/x"), "/process_api/x/berth/abc");
  assert.equal(resolveCgroupPath("/abs/abc", "/process_api/x"), "/abs/abc");
  assert.throws(() => resolveCgroupPath("../up", "/"), /must not contain/);
});

test("stat parsers", () => {
  assert.deepEqual(parseKeyValues("oom 1\noom_kill 2\n"), { oom: 1, oom_kill: 2 });
  const io = parseIoStat("8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
  assert.deepEqual(
    io.bytes.map((e) => `${e.op}=${e.value}`),
    ["Read=10", "Write=20"],
  );
});
