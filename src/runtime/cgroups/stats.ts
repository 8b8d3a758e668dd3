/** Parsers of cgroup statistic files and their assembly into CgroupStats (runc's JSON shape). */
import type { BlkioEntry, CgroupStats, MemoryEntry } from "./cgroup.js";

/** "key value" lines (memory.stat, cpu.stat, memory.events) → a map. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** A single number, with "max" as Number.MAX_SAFE_INTEGER-ish unlimited (runc prints 0 for v2 max). */
export function parseNumber(text: string | undefined): number {
  if (text === undefined) return 0;
  const t = text.trim();
  if (t === "max") return 0;
  const n = Number(t);
  return Number.isFinite(n) ? n : 0;
}

/** v1 blkio "8:0 Read 4096" lines. */
export function parseBlkio(text: string): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

/** v2 io.stat "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" lines → v1-shaped entries. */
export function parseIoStat(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split("\n")) {
    const [dev, ...pairs] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? "");
    if (!m) continue;
    const kv = Object.fromEntries(pairs.map((p) => p.split("=") as [string, string]));
    const at = (op: string, value: string | undefined) => ({
      major: Number(m[1]),
      minor: Number(m[2]),
      op,
      value: Number(value ?? 0),
    });
    bytes.push(at("Read", kv["rbytes"]), at("Write", kv["wbytes"]));
    ios.push(at("Read", kv["rios"]), at("Write", kv["wios"]));
  }
  return { bytes, ios };
}

export function emptyStats(): CgroupStats {
  const mem = (): MemoryEntry => ({ limit: 0, usage: 0, max: 0, failcnt: 0 });
  return {
    cpu: {
      usage: { total: 0, percpu: [], kernel: 0, user: 0 },
      throttling: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    memory: { cache: 0, usage: mem(), swap: mem(), kernel: mem(), raw: {} },
    pids: { current: 0, limit: 0 },
    blkio: { ioServiceBytesRecursive: [], ioServicedRecursive: [] },
    hugetlb: {},
  };
}

/** USER_HZ ticks (cpuacct.stat) → nanoseconds. */
export const TICKS_TO_NS = 1e9 / 100;
