/**
 * The daemon's `--userns-remap` (docker's): containers run in a user namespace whose ids are a
 * range of unprivileged host ids, the subordinate ids that /etc/subuid and /etc/subgid give a
 * user. Container root is then nobody in particular on the host. `default` is a system user of
 * Berth's own, made with a range on first use, as docker makes `dockremap`.
 *
 * Files stay stored with the container's ids (layers, upper directories, volumes): the container
 * sees them through idmapped mounts (userns-views.ts), so images, commit, diff, export and cp
 * need no shifting, and a container with `--userns=host` sees the same files the same way.
 */
import { execFile } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import { errorText, InvalidArgument, SystemError } from "../errors.js";
import type { IdMapping } from "../oci/runtime-spec.js";
import { parseGroup, parsePasswd } from "./user.js";

const run = promisify(execFile);

export const DEFAULT_REMAP_USER = "berthremap";
/** The size of a range made for the default user (docker's, and what a full container needs). */
const DEFAULT_RANGE_SIZE = 65536;
/** Where subordinate ranges start on Debian and most distributions (login.defs SUB_UID_MIN). */
const FIRST_SUBORDINATE_ID = 100000;

export interface IdMaps {
  uid: IdMapping[];
  gid: IdMapping[];
}

/** A resolved remap: the user and group it came from and the mappings a container gets. */
export interface UsernsRemap extends IdMaps {
  user: string;
  group: string;
}

/** One line of /etc/subuid or /etc/subgid: `owner:start:count` (owner is a name or an id). */
export interface SubordinateRange {
  owner: string;
  start: number;
  count: number;
}

export function parseSubordinateIds(text: string, file: string): SubordinateRange[] {
  const out: SubordinateRange[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^([^:\s]+):(\d+):(\d+)$/.exec(line);
    if (!m) throw new InvalidArgument(`${file}, line ${i + 1}: expected owner:start:count, got "${line}"`);
    out.push({ owner: m[1]!, start: Number(m[2]), count: Number(m[3]) });
  });
  return out;
}

/**
 * The mappings for an owner (by name or numeric id): its ranges in ascending order, laid end to
 * end from container id 0 (docker's order), so that several small ranges make one large space.
 */
export function mappingsFor(ranges: SubordinateRange[], owners: string[]): IdMapping[] {
  let next = 0;
  return ranges
    .filter((r) => owners.includes(r.owner) && r.count > 0)
    .sort((a, b) => a.start - b.start)
    .map((r) => {
      const m = { containerID: next, hostID: r.start, size: r.count };
      next += r.count;
      return m;
    });
}

/** Where a new range starts: above every range of both files (how docker picks one too). */
export function nextFreeRange(taken: SubordinateRange[]): number {
  return taken.reduce((start, r) => Math.max(start, r.start + r.count), FIRST_SUBORDINATE_ID);
}

/** `--userns-remap` → user and group: "default", "user", "user:group", "uid" or "uid:gid". */
export function parseRemapSetting(setting: string): { user: string; group?: string } {
  const m = /^([^:\s]+)(?::([^:\s]+))?$/.exec(setting);
  if (!m) throw new InvalidArgument(`--userns-remap: expected default, USER or USER:GROUP, got "${setting}"`);
  return m[2] ? { user: m[1]!, group: m[2] } : { user: m[1]! };
}

/** What resolving a remap reads from the host; tests pass the texts of their own files. */
export interface HostAccounts {
  passwd: string;
  group: string;
  subuid: string;
  subgid: string;
}

function readHostFile(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw new SystemError(`read ${path}: ${errorText(err)}`);
  }
}

export function hostAccounts(): HostAccounts {
  return {
    passwd: readHostFile("/etc/passwd"),
    group: readHostFile("/etc/group"),
    subuid: readHostFile("/etc/subuid"),
    subgid: readHostFile("/etc/subgid"),
  };
}

/** Resolves a `--userns-remap` setting against the host's account files. Pure. */
export function resolveRemap(setting: string, accounts: HostAccounts): UsernsRemap {
  const wanted = parseRemapSetting(setting);
  const userName = wanted.user === "default" ? DEFAULT_REMAP_USER : wanted.user;
  const users = parsePasswd(accounts.passwd);
  const user = /^\d+$/.test(userName)
    ? users.find((u) => u.uid === Number(userName))
    : users.find((u) => u.name === userName);
  if (!user) throw new InvalidArgument(`--userns-remap: no user "${userName}" in /etc/passwd`);
  const groups = parseGroup(accounts.group);
  const groupName = wanted.group ?? groups.find((g) => g.gid === user.gid)?.name ?? String(user.gid);
  const group = /^\d+$/.test(groupName)
    ? (groups.find((g) => g.gid === Number(groupName)) ?? { name: groupName, gid: Number(groupName) })
    : groups.find((g) => g.name === groupName);
  if (!group) throw new InvalidArgument(`--userns-remap: no group "${groupName}" in /etc/group`);
  const uid = mappingsFor(parseSubordinateIds(accounts.subuid, "/etc/subuid"), [user.name, String(user.uid)]);
  const gid = mappingsFor(parseSubordinateIds(accounts.subgid, "/etc/subgid"), [
    group.name,
    String(group.gid),
  ]);
  for (const [maps, file, owner] of [
    [uid, "/etc/subuid", user.name],
    [gid, "/etc/subgid", group.name],
  ] as const)
    if (maps.length === 0)
      throw new InvalidArgument(
        `--userns-remap: no subordinate ids for "${owner}" in ${file}: add a range (usermod --add-sub${file === "/etc/subuid" ? "uids" : "gids"} 200000-265535 ${owner})`,
      );
  return { user: user.name, group: group.name, uid, gid };
}

async function runTool(tool: string, args: string[]): Promise<void> {
  try {
    await run(tool, args);
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? "").trim();
    throw new SystemError(`--userns-remap default: ${tool} ${args.join(" ")}: ${stderr || errorText(err)}`);
  }
}

/**
 * For `default`: the system user, and a range of ids in both files, made when missing
 * (useradd gives a system user no range).
 */
export async function ensureDefaultRemapUser(): Promise<void> {
  let accounts = hostAccounts();
  if (!parsePasswd(accounts.passwd).some((u) => u.name === DEFAULT_REMAP_USER)) {
    await runTool("useradd", [
      "--system",
      "--user-group",
      "--no-create-home",
      "--shell",
      "/usr/sbin/nologin",
      DEFAULT_REMAP_USER,
    ]);
    accounts = hostAccounts();
  }
  const subuid = parseSubordinateIds(accounts.subuid, "/etc/subuid");
  const subgid = parseSubordinateIds(accounts.subgid, "/etc/subgid");
  const has = (ranges: SubordinateRange[]) => ranges.some((r) => r.owner === DEFAULT_REMAP_USER);
  if (has(subuid) && has(subgid)) return;
  // usermod adds to these files only when they exist.
  for (const file of ["/etc/subuid", "/etc/subgid"]) appendFileSync(file, "", { mode: 0o644 });
  const start = nextFreeRange([...subuid, ...subgid]);
  const range = `${start}-${start + DEFAULT_RANGE_SIZE - 1}`;
  const args: string[] = [];
  if (!has(subuid)) args.push("--add-subuids", range);
  if (!has(subgid)) args.push("--add-subgids", range);
  await runTool("usermod", [...args, DEFAULT_REMAP_USER]);
}

/** The host id that an id of the container is, under `maps` (undefined: not mapped). */
export function hostId(maps: IdMapping[], id: number): number | undefined {
  const m = maps.find((r) => id >= r.containerID && id < r.containerID + r.size);
  return m ? m.hostID + (id - m.containerID) : undefined;
}

/** The host ids of the container's root (resolveRemap lays every mapping out from id 0). */
export function remappedRoot(remap: IdMaps): { uid: number; gid: number } {
  return { uid: hostId(remap.uid, 0)!, gid: hostId(remap.gid, 0)! };
}

/** `0 100000 65536,…`: the map format berth-idmap takes. */
export function formatMapArgument(maps: IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join(",");
}
