/**
 * One stats sample of the daemon's stream → the figures the graphs plot: docker's CPU percentage
 * (the container's share of the host's CPU time since the previous sample, times the CPUs), and
 * memory, network and block I/O as rates between two samples.
 */
export interface DockerStats {
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
}

export interface StatsPoint {
  /** Seconds since the epoch (what uPlot plots on x). */
  time: number;
  cpuPercent: number;
  memoryBytes: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
}

/** Counters that only grow, for rates between two samples. */
export interface Counters {
  time: number;
  rx: number;
  tx: number;
  read: number;
  write: number;
}

export function countersOf(s: DockerStats): Counters {
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (e.op === "read") read += e.value;
    else if (e.op === "write") write += e.value;
  }
  return { time: Date.parse(s.read) / 1000, rx, tx, read, write };
}

export function cpuPercent(s: DockerStats): number {
  const cpu = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const system = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  if (cpu <= 0 || system <= 0 || !s.precpu_stats.system_cpu_usage) return 0;
  return (cpu / system) * (s.cpu_stats.online_cpus ?? 1) * 100;
}

/** The point of a sample, with rates against the previous sample's counters (none: zero). */
export function pointOf(
  s: DockerStats,
  previous: Counters | undefined,
): { point: StatsPoint; counters: Counters } {
  const counters = countersOf(s);
  const span = previous ? counters.time - previous.time : 0;
  const rate = (now: number, before: number | undefined) =>
    span > 0 && before !== undefined ? Math.max(0, (now - before) / span) : 0;
  return {
    counters,
    point: {
      time: counters.time,
      cpuPercent: cpuPercent(s),
      memoryBytes: s.memory_stats.usage ?? 0,
      netRx: rate(counters.rx, previous?.rx),
      netTx: rate(counters.tx, previous?.tx),
      blockRead: rate(counters.read, previous?.read),
      blockWrite: rate(counters.write, previous?.write),
    },
  };
}
