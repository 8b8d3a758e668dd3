/**
 * Resource limits: OCI names → resource numbers, and the host's own limits. Root on some hosts
 * lacks CAP_SYS_RESOURCE and so cannot raise a hard limit above its own; asking for that fails
 * here with a clear message instead of deep in the container's set-up.
 */
import { readFileSync } from "node:fs";
import { InvalidArgument } from "../errors.js";
import type { Rlimit } from "../oci/runtime-spec.js";

export const RLIMITS = [
  "RLIMIT_CPU",
  "RLIMIT_FSIZE",
  "RLIMIT_DATA",
  "RLIMIT_STACK",
  "RLIMIT_CORE",
  "RLIMIT_RSS",
  "RLIMIT_NPROC",
  "RLIMIT_NOFILE",
  "RLIMIT_MEMLOCK",
  "RLIMIT_AS",
  "RLIMIT_LOCKS",
  "RLIMIT_SIGPENDING",
  "RLIMIT_MSGQUEUE",
  "RLIMIT_NICE",
  "RLIMIT_RTPRIO",
  "RLIMIT_RTTIME",
] as const;

/** The names /proc/<pid>/limits prints, in resource-number order. */
const PROC_NAMES = [
  "Max cpu time",
  "Max file size",
  "Max data size",
  "Max stack size",
  "Max core file size",
  "Max resident set",
  "Max processes",
  "Max open files",
  "Max locked memory",
  "Max address space",
  "Max file locks",
  "Max pending signals",
  "Max msgqueue size",
  "Max nice priority",
  "Max realtime priority",
  "Max realtime timeout",
];

/** RLIM_INFINITY as the kernel reports it (u64 all ones). */
export const RLIM_INFINITY = 0xffffffffffffffffn;

export interface HostLimit {
  soft: bigint;
  hard: bigint;
}

let hostLimits: HostLimit[] | undefined;

export function parseProcLimits(text: string): HostLimit[] {
  const out: HostLimit[] = [];
  for (const line of text.split("\n")) {
    const i = PROC_NAMES.findIndex((name) => line.startsWith(name));
    if (i < 0) continue;
    const [soft, hard] = line.slice(PROC_NAMES[i]!.length).trim().split(/\s+/);
    const value = (v: string | undefined) =>
      v === "unlimited" || v === undefined ? RLIM_INFINITY : BigInt(v);
    out[i] = { soft: value(soft), hard: value(hard) };
  }
  return out;
}

/** The runtime's own limits, which a container inherits unless told otherwise. */
export function hostRlimits(): HostLimit[] {
  hostLimits ??= parseProcLimits(readFileSync("/proc/self/limits", "utf8"));
  return hostLimits;
}

let sysResource: boolean | undefined;

/** Whether this process may raise hard limits (CAP_SYS_RESOURCE, bit 24, in CapEff). */
export function canRaiseHardLimits(): boolean {
  if (sysResource === undefined) {
    const line = readFileSync("/proc/self/status", "utf8")
      .split("\n")
      .find((l) => l.startsWith("CapEff:"));
    sysResource = line ? (BigInt(`0x${line.slice(7).trim()}`) & (1n << 24n)) !== 0n : false;
  }
  return sysResource;
}

export interface RlimitRequest {
  resource: number;
  soft: bigint;
  hard: bigint;
}

/**
 * Validates the OCI rlimits (known names, no duplicates, soft ≤ hard, and a hard limit the host
 * lets us set) and returns them as resource numbers.
 */
export function resolveRlimits(rlimits: readonly Rlimit[] = [], where = "process.rlimits"): RlimitRequest[] {
  const seen = new Set<string>();
  return rlimits.map((r, i) => {
    const at = `${where}[${i}]`;
    const resource = (RLIMITS as readonly string[]).indexOf(r.type);
    if (resource < 0) throw new InvalidArgument(`${at}: unknown rlimit type "${r.type}"`);
    if (seen.has(r.type)) throw new InvalidArgument(`${at}: ${r.type} is given twice`);
    seen.add(r.type);
    const soft = toLimit(r.soft, `${at}.soft`);
    const hard = toLimit(r.hard, `${at}.hard`);
    if (soft > hard)
      throw new InvalidArgument(`${at}: soft limit ${r.soft} is above the hard limit ${r.hard}`);
    const host = hostRlimits()[resource];
    if (host && hard > host.hard && !canRaiseHardLimits()) {
      throw new InvalidArgument(
        `${at}: ${r.type} hard limit ${r.hard} is above this host's ${limitText(host.hard)}, and raising it needs CAP_SYS_RESOURCE, which this process lacks`,
      );
    }
    return { resource, soft, hard };
  });
}

/** The limit a default config should use: `wanted`, lowered to what the host allows. */
export function clampToHost(type: (typeof RLIMITS)[number], wanted: number): number {
  const host = hostRlimits()[RLIMITS.indexOf(type)];
  if (!host || canRaiseHardLimits() || BigInt(wanted) <= host.hard) return wanted;
  return Number(host.hard);
}

function toLimit(value: number, where: string): bigint {
  if (typeof value !== "number" || !Number.isInteger(value))
    throw new InvalidArgument(`${where}: not an integer`);
  // JSON cannot carry u64 max exactly; -1 and anything ≥ 2^63 mean "unlimited", as in runc.
  if (value < 0 || value >= 2 ** 63) return RLIM_INFINITY;
  return BigInt(value);
}

function limitText(v: bigint): string {
  return v === RLIM_INFINITY ? "unlimited" : v.toString();
}
