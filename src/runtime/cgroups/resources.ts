/**
 * OCI resources → the cgroup files to write, in order, for each cgroup version: plans as data.
 * The backends apply the list; unit tests read it.
 */
import { InvalidArgument } from "../../errors.js";
import type { LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice } from "../../oci/runtime-spec.js";

export interface CgroupWrite {
  /** v1: the controller whose hierarchy holds the file; v2: "" (one hierarchy). */
  controller: string;
  file: string;
  value: string;
  /** Skip silently when the file does not exist (a kernel without swap accounting, say). */
  optional?: boolean;
}

function nonNegative(value: number | undefined, where: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value)) throw new InvalidArgument(`${where}: ${value} is not an integer`);
  return value;
}

const HUGEPAGE = /^\d+(KB|MB|GB)$/;

/** Memory limits where -1 means unlimited and anything else must be positive. */
function memoryValue(value: number | undefined, where: string, max: string): string | undefined {
  const v = nonNegative(value, where);
  if (v === undefined) return undefined;
  if (v === -1) return max;
  if (v < 0) throw new InvalidArgument(`${where}: ${v} is negative (use -1 for no limit)`);
  return String(v);
}

function throttle(list: LinuxThrottleDevice[] | undefined): string[] {
  return (list ?? []).map((d) => `${d.major}:${d.minor} ${d.rate}`);
}

/** v1 device rule text: "c 1:3 rwm", with * for an absent major or minor ("a" for every device). */
export function v1DeviceRule(rule: LinuxDeviceCgroup): string {
  const type = rule.type ?? "a";
  if (
    type === "a" &&
    (rule.major === undefined || rule.major === null) &&
    (rule.minor === undefined || rule.minor === null)
  )
    return `a *:* ${rule.access ?? "rwm"}`;
  const n = (v: number | null | undefined) => (v === undefined || v === null || v === -1 ? "*" : String(v));
  return `${type} ${n(rule.major)}:${n(rule.minor)} ${rule.access ?? "rwm"}`;
}

export function v1Writes(r: LinuxResources): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const add = (controller: string, file: string, value: string | number | undefined, optional = false) => {
    if (value !== undefined)
      w.push({ controller, file, value: String(value), ...(optional ? { optional } : {}) });
  };
  for (const rule of r.devices ?? [])
    add("devices", rule.allow ? "devices.allow" : "devices.deny", v1DeviceRule(rule));
  const m = r.memory;
  if (m) {
    const limit = memoryValue(m.limit, "memory.limit", "-1");
    const swap = memoryValue(m.swap, "memory.swap", "-1");
    if (
      swap !== undefined &&
      limit !== undefined &&
      swap !== "-1" &&
      limit !== "-1" &&
      Number(swap) < Number(limit)
    )
      throw new InvalidArgument(
        `memory.swap (${swap}) must not be below memory.limit (${limit}): it counts memory plus swap`,
      );
    // The kernel keeps memsw ≥ the limit at every step: raising needs memsw first, lowering the
    // limit first. The list says limit then memsw; the v1 backend swaps the pair when the kernel
    // refuses the limit (see V1Cgroup.apply).
    if (swap !== undefined) {
      add("memory", "memory.limit_in_bytes", limit ?? "-1");
      add("memory", "memory.memsw.limit_in_bytes", swap, true);
    } else if (limit !== undefined) {
      add("memory", "memory.limit_in_bytes", limit);
    }
    add("memory", "memory.soft_limit_in_bytes", memoryValue(m.reservation, "memory.reservation", "-1"));
    if (m.kernel !== undefined)
      add("memory", "memory.kmem.limit_in_bytes", memoryValue(m.kernel, "memory.kernel", "-1"), true);
    // Not optional: a limit asked for and not applied would be a silent lie.
    add("memory", "memory.kmem.tcp.limit_in_bytes", memoryValue(m.kernelTCP, "memory.kernelTCP", "-1"));
    if (m.swappiness !== undefined && m.swappiness !== null) {
      if (m.swappiness < 0 || m.swappiness > 100)
        throw new InvalidArgument(`memory.swappiness: ${m.swappiness} is not in 0..100`);
      add("memory", "memory.swappiness", m.swappiness);
    }
    if (m.disableOOMKiller) add("memory", "memory.oom_control", 1);
  }
  const c = r.cpu;
  if (c) {
    if (c.shares !== undefined && c.shares !== 0) add("cpu", "cpu.shares", c.shares);
    if (c.period !== undefined && c.period !== 0) add("cpu", "cpu.cfs_period_us", c.period);
    if (c.quota !== undefined && c.quota !== 0) add("cpu", "cpu.cfs_quota_us", c.quota);
    if (c.burst !== undefined) add("cpu", "cpu.cfs_burst_us", c.burst, true);
    if (c.realtimePeriod) add("cpu", "cpu.rt_period_us", c.realtimePeriod);
    if (c.realtimeRuntime) add("cpu", "cpu.rt_runtime_us", c.realtimeRuntime);
    if (c.idle !== undefined) add("cpu", "cpu.idle", c.idle, true);
    if (c.cpus) add("cpuset", "cpuset.cpus", c.cpus);
    if (c.mems) add("cpuset", "cpuset.mems", c.mems);
  }
  if (r.pids) add("pids", "pids.max", r.pids.limit > 0 ? r.pids.limit : "max");
  const b = r.blockIO;
  if (b) {
    if (b.weight) {
      if (b.weight < 10 || b.weight > 1000)
        throw new InvalidArgument(`blockIO.weight: ${b.weight} is not in 10..1000`);
      add("blkio", "blkio.weight", b.weight, true);
      add("blkio", "blkio.bfq.weight", b.weight, true);
    }
    for (const d of b.weightDevice ?? [])
      if (d.weight) add("blkio", "blkio.weight_device", `${d.major}:${d.minor} ${d.weight}`, true);
    for (const v of throttle(b.throttleReadBpsDevice)) add("blkio", "blkio.throttle.read_bps_device", v);
    for (const v of throttle(b.throttleWriteBpsDevice)) add("blkio", "blkio.throttle.write_bps_device", v);
    for (const v of throttle(b.throttleReadIOPSDevice)) add("blkio", "blkio.throttle.read_iops_device", v);
    for (const v of throttle(b.throttleWriteIOPSDevice)) add("blkio", "blkio.throttle.write_iops_device", v);
  }
  for (const h of r.hugepageLimits ?? []) {
    if (!HUGEPAGE.test(h.pageSize))
      throw new InvalidArgument(`hugepageLimits: unknown page size "${h.pageSize}"`);
    add("hugetlb", `hugetlb.${h.pageSize}.limit_in_bytes`, h.limit);
  }
  if (r.network?.classID !== undefined) add("net_cls", "net_cls.classid", r.network.classID);
  for (const p of r.network?.priorities ?? [])
    add("net_prio", "net_prio.ifpriomap", `${p.name} ${p.priority}`);
  if (r.unified && Object.keys(r.unified).length)
    throw new InvalidArgument("unified: cgroup v2 settings cannot be applied on a cgroup v1 host");
  return w;
}

/** runc's conversion of v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000). */
export function sharesToWeight(shares: number): number {
  return shares === 0 ? 0 : 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio weight (10..1000) → io.weight (1..10000), as crun converts it. */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

export function v2Writes(r: LinuxResources): CgroupWrite[] {
  const w: CgroupWrite[] = [];
  const add = (file: string, value: string | number | undefined, optional = false) => {
    if (value !== undefined)
      w.push({ controller: "", file, value: String(value), ...(optional ? { optional } : {}) });
  };
  const m = r.memory;
  if (m) {
    const limit = memoryValue(m.limit, "memory.limit", "max");
    add("memory.max", limit);
    add("memory.low", memoryValue(m.reservation, "memory.reservation", "max"));
    if (m.swap !== undefined) {
      if (m.swap === -1) add("memory.swap.max", "max", true);
      else {
        const swapOnly = m.swap - (m.limit ?? 0);
        if (m.limit !== undefined && m.limit > 0 && swapOnly < 0)
          throw new InvalidArgument(
            `memory.swap (${m.swap}) must not be below memory.limit (${m.limit}): it counts memory plus swap`,
          );
        add("memory.swap.max", m.limit !== undefined && m.limit > 0 ? swapOnly : m.swap, true);
      }
    }
    if (m.disableOOMKiller)
      throw new InvalidArgument("memory.disableOOMKiller: cgroup v2 has no way to disable the OOM killer");
  }
  const c = r.cpu;
  if (c) {
    if (c.shares) add("cpu.weight", sharesToWeight(c.shares));
    if (c.quota !== undefined || c.period !== undefined) {
      const quota = c.quota === undefined || c.quota <= 0 ? "max" : String(c.quota);
      add("cpu.max", `${quota} ${c.period && c.period > 0 ? c.period : 100000}`);
    }
    if (c.burst !== undefined) add("cpu.max.burst", c.burst, true);
    if (c.idle !== undefined) add("cpu.idle", c.idle, true);
    if (c.cpus) add("cpuset.cpus", c.cpus);
    if (c.mems) add("cpuset.mems", c.mems);
  }
  if (r.pids) add("pids.max", r.pids.limit > 0 ? r.pids.limit : "max");
  const b = r.blockIO;
  if (b) {
    if (b.weight) add("io.weight", `default ${blkioToIoWeight(b.weight)}`, true);
    for (const d of b.weightDevice ?? [])
      if (d.weight) add("io.weight", `${d.major}:${d.minor} ${blkioToIoWeight(d.weight)}`, true);
    const io = new Map<string, string[]>();
    const put = (list: LinuxThrottleDevice[] | undefined, key: string) => {
      for (const d of list ?? []) {
        const dev = `${d.major}:${d.minor}`;
        io.set(dev, [...(io.get(dev) ?? []), `${key}=${d.rate}`]);
      }
    };
    put(b.throttleReadBpsDevice, "rbps");
    put(b.throttleWriteBpsDevice, "wbps");
    put(b.throttleReadIOPSDevice, "riops");
    put(b.throttleWriteIOPSDevice, "wiops");
    for (const [dev, limits] of io) add("io.max", `${dev} ${limits.join(" ")}`);
  }
  for (const h of r.hugepageLimits ?? []) {
    if (!HUGEPAGE.test(h.pageSize))
      throw new InvalidArgument(`hugepageLimits: unknown page size "${h.pageSize}"`);
    add(`hugetlb.${h.pageSize}.max`, h.limit);
  }
  for (const [key, value] of Object.entries(r.unified ?? {})) {
    if (key.includes("/") || key.includes("..") || !key.includes("."))
      throw new InvalidArgument(`unified: "${key}" is not a cgroup file name`);
    add(key, value);
  }
  return w;
}

/** The controllers a v2 write list needs enabled in the parents' cgroup.subtree_control. */
export function v2Controllers(writes: CgroupWrite[]): string[] {
  return [...new Set(writes.map((w) => w.file.split(".")[0]!).filter((c) => c !== "cgroup"))];
}
