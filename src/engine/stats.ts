/** A container's cgroup statistics in the Docker API's stats shape (`GET /containers/{id}/stats`). */
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { CgroupStats } from "../runtime/cgroups/cgroup.js";

export interface CpuStats {
  cpu_usage: {
    total_usage: number;
    percpu_usage?: number[];
    usage_in_kernelmode: number;
    usage_in_usermode: number;
  };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

/** Host CPU time in nanoseconds (the first line of /proc/stat, USER_HZ = 100). */
export function systemCpuUsage(stat = readFileSync("/proc/stat", "utf8")): number {
  const fields = stat.split("\n")[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return fields.reduce((a, b) => a + b, 0) * 1e7;
}

/** Interface counters of a process's network namespace (/proc/<pid>/net/dev), loopback left out. */
export function networkStats(pid: number): Record<string, Record<string, number>> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  } catch {
    return {};
  }
  const out: Record<string, Record<string, number>> = {};
  for (const line of text.split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = {
      rx_bytes: f[0]!,
      rx_packets: f[1]!,
      rx_errors: f[2]!,
      rx_dropped: f[3]!,
      tx_bytes: f[8]!,
      tx_packets: f[9]!,
      tx_errors: f[10]!,
      tx_dropped: f[11]!,
    };
  }
  return out;
}

export function cpuStats(s: CgroupStats, system = systemCpuUsage()): CpuStats {
  return {
    cpu_usage: {
      total_usage: s.cpu.usage.total,
      ...(s.cpu.usage.percpu.length ? { percpu_usage: s.cpu.usage.percpu } : {}),
      usage_in_kernelmode: s.cpu.usage.kernel,
      usage_in_usermode: s.cpu.usage.user,
    },
    system_cpu_usage: system,
    online_cpus: cpus().length,
    throttling_data: s.cpu.throttling,
  };
}

export function dockerStats(
  id: string,
  name: string,
  pid: number,
  s: CgroupStats,
  previous: { cpu: CpuStats; read: string } | undefined,
) {
  const limit =
    s.memory.usage.limit > 0 && s.memory.usage.limit < 2 ** 62 ? s.memory.usage.limit : totalmem();
  const blkio = (entries: CgroupStats["blkio"]["ioServiceBytesRecursive"]) =>
    entries.map((e) => ({ major: e.major, minor: e.minor, op: e.op.toLowerCase(), value: e.value }));
  return {
    read: new Date().toISOString(),
    preread: previous?.read ?? "0001-01-01T00:00:00Z",
    pids_stats: { current: s.pids.current, ...(s.pids.limit ? { limit: s.pids.limit } : {}) },
    blkio_stats: {
      io_service_bytes_recursive: blkio(s.blkio.ioServiceBytesRecursive),
      io_serviced_recursive: blkio(s.blkio.ioServicedRecursive),
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(s),
    precpu_stats: previous?.cpu ?? {
      cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
      system_cpu_usage: 0,
      online_cpus: 0,
      throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
    },
    memory_stats: {
      usage: s.memory.usage.usage,
      ...(s.memory.usage.max ? { max_usage: s.memory.usage.max } : {}),
      stats: s.memory.raw,
      limit,
      ...(s.memory.usage.failcnt ? { failcnt: s.memory.usage.failcnt } : {}),
    },
    name,
    id,
    networks: networkStats(pid),
  };
}
