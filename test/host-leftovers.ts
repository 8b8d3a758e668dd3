/**
 * What Berth's tests can leave on a host: mounts, cgroups, network links and namespaces, nftables
 * tables and processes with "berth" in their names. The leak check reads them after the suite;
 * before it, the suite clears what an earlier run left when it was cut short (a session stopped
 * mid-test), so that each run's checks measure that run alone.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";

export interface Leftovers {
  /** Lines of /proc/self/mountinfo. */
  mounts: string[];
  /** Cgroup directories, outermost only. */
  cgroups: string[];
  /** Lines of `ip -o link show`. */
  links: string[];
  netns: string[];
  nftTables: string[];
  /** Lines of `ps`: pid, stat, comm, args. */
  processes: string[];
}

function findCgroups(dir: string, depth: number): string[] {
  if (depth === 0) return [];
  let found: string[] = [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (/berth/i.test(name)) found.push(path);
    else found = found.concat(findCgroups(path, depth - 1));
  }
  return found;
}

function lines(cmd: string, args: string[]): string[] {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
}

export function findLeftovers(): Leftovers {
  return {
    mounts: readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter((line) => /berth/i.test(line)),
    cgroups: findCgroups("/sys/fs/cgroup", 5),
    links: lines("ip", ["-o", "link", "show"]).filter((l) => /veth|berth/.test(l)),
    netns: lines("ip", ["netns", "list"]).map((l) => l.split(" ")[0]!),
    nftTables: existsSync("/usr/sbin/nft")
      ? lines("nft", ["list", "tables"]).filter((l) => /berth/i.test(l))
      : [],
    processes: lines("ps", ["-eo", "pid=,stat=,comm=,args="]).filter((l) =>
      /berth/i.test(l.trim().split(/\s+/)[2] ?? ""),
    ),
  };
}

export function describe(l: Leftovers): string[] {
  const parts: string[] = [];
  if (l.mounts.length) parts.push(`${l.mounts.length} mounts:\n  ${l.mounts.join("\n  ")}`);
  if (l.cgroups.length) parts.push(`${l.cgroups.length} cgroups:\n  ${l.cgroups.join("\n  ")}`);
  if (l.links.length) parts.push(`${l.links.length} network links:\n  ${l.links.join("\n  ")}`);
  if (l.netns.length) parts.push(`${l.netns.length} named network namespaces: ${l.netns.join(", ")}`);
  if (l.nftTables.length) parts.push(`nftables tables: ${l.nftTables.join(", ")}`);
  if (l.processes.length) parts.push(`${l.processes.length} processes:\n  ${l.processes.join("\n  ")}`);
  return parts;
}

/** Removes a cgroup directory and the ones below it, innermost first; one with a process stays. */
function removeCgroupTree(dir: string): void {
  try {
    for (const e of readdirSync(dir, { withFileTypes: true }))
      if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
    rmdirSync(dir);
  } catch {}
}

/**
 * Berth's by name: its namespaces and the links the leak check finds all say "berth". The leak
 * check counts every named namespace and veth of the host; clearing takes only Berth's, never
 * the host's own or another engine's.
 */
const BERTHS = /berth/i;

/**
 * Clears what a run cut short left, when no Berth process is running: with none, nothing uses
 * these any more. Mounts go lazily, deepest first, after the namespaces whose mounts they are.
 */
export function clearStale(found: Leftovers): void {
  if (found.processes.length) return;
  for (const ns of found.netns) if (BERTHS.test(ns)) spawnSync("ip", ["netns", "delete", ns]);
  for (const line of found.links) {
    const name = line.split(":")[1]?.trim().split("@")[0];
    if (name && BERTHS.test(name)) spawnSync("ip", ["link", "delete", name]);
  }
  for (const table of found.nftTables) spawnSync("nft", ["delete", ...table.split(/\s+/).slice(1)]);
  for (const cgroup of found.cgroups) removeCgroupTree(cgroup);
  const mountPoints = findLeftovers()
    .mounts.map((line) => line.split(" ")[4]!)
    .sort((a, b) => b.length - a.length);
  for (const point of mountPoints) spawnSync("umount", ["-l", point]);
}
