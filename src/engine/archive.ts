/**
 * A container's files from outside: `cp` both ways (the API's /archive), `export` (the whole
 * root as a tar) and `diff` (what changed against the image). A running container's tree is
 * reached through /proc/<pid>/root (so its volumes are included); a stopped one's snapshot is
 * mounted for the moment. Paths are resolved inside the container's root: a symlink in it,
 * absolute or relative, never leads to the host's files.
 */
import { lstatSync, readFileSync, readlinkSync } from "node:fs";
import { lstat, readdir, stat } from "node:fs/promises";
import { join, posix } from "node:path";
import { InvalidArgument, NotFound } from "../errors.js";
import { directoryTar } from "../snapshot/diff.js";
import { unpackLayer } from "../snapshot/index.js";
import { withMounted } from "../snapshot/mount.js";
import type { Chunks } from "../util/byte-source.js";
import { snapshotMounts } from "./container-start.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";

const MAX_SYMLINKS = 40;

/**
 * The host path of `path` inside the tree at `root`, following symlinks as the container would
 * see them (absolute targets start again at `root`), the last one only with `followLast`.
 */
export function resolveInRoot(root: string, path: string, followLast = false): string {
  if (!path.startsWith("/")) path = `/${path}`;
  const pending = path.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      done.pop();
      continue;
    }
    const host = join(root, ...done, name);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {}
    if (isLink && (pending.length > 0 || followLast)) {
      if (++links > MAX_SYMLINKS) throw new InvalidArgument(`too many levels of symbolic links in ${path}`);
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter(Boolean));
      continue;
    }
    done.push(name);
  }
  return join(root, ...done);
}

/** Runs `fn` with the container's root filesystem reachable at a host path. */
export async function withContainerRoot<T>(
  engine: Engine,
  c: ContainerRecord,
  fn: (root: string) => Promise<T>,
): Promise<T> {
  if (c.State.Running && c.State.Pid) return fn(`/proc/${c.State.Pid}/root`);
  return withMounted(await snapshotMounts(engine, c, true), fn);
}

/** Docker's X-Docker-Container-Path-Stat: what the path is, for `cp` to decide how to copy. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** Go's os.FileMode bits that docker puts in PathStat.mode. */
function goFileMode(st: import("node:fs").Stats): number {
  let mode = st.mode & 0o777;
  if (st.isDirectory()) mode |= 0x80000000;
  else if (st.isSymbolicLink()) mode |= 0x8000000;
  else if (st.isFIFO()) mode |= 0x2000000;
  else if (st.isSocket()) mode |= 0x1000000;
  else if (st.isCharacterDevice()) mode |= 0x4000000 | 0x200000;
  else if (st.isBlockDevice()) mode |= 0x4000000;
  if (st.mode & 0o4000) mode |= 0x800000;
  if (st.mode & 0o2000) mode |= 0x400000;
  if (st.mode & 0o1000) mode |= 0x100000;
  return mode >>> 0; // unsigned: the directory bit is bit 31
}

export async function statPath(
  root: string,
  path: string,
  container = "",
): Promise<{ host: string; stat: PathStat }> {
  const host = resolveInRoot(root, path);
  let st: import("node:fs").Stats;
  try {
    st = host === root ? await stat(host) : await lstat(host);
  } catch {
    throw new NotFound(`Could not find the file ${path} in container ${container}`.trimEnd());
  }
  const linkTarget = st.isSymbolicLink() ? resolveInRoot(root, path, true).slice(root.length) || "/" : "";
  return {
    host,
    stat: {
      name: posix.basename(path) || "/",
      size: st.size,
      mode: goFileMode(st),
      mtime: st.mtime.toISOString(),
      linkTarget,
    },
  };
}

/**
 * `GET /archive`: the path as a tar whose top entry is its base name (a directory's content
 * under it); the container's root as its whole tree, without the kernel's filesystems mounted
 * in it (/proc, /sys).
 */
export function pathTar(root: string, host: string): AsyncGenerator<Buffer> {
  if (host === root) return directoryTar(root, "", { skip: kernelMountPoints(root) });
  const slash = host.lastIndexOf("/");
  return directoryTar(host.slice(0, slash) || "/", host.slice(slash + 1));
}

const KERNEL_FILESYSTEMS = new Set([
  "proc",
  "sysfs",
  "devpts",
  "mqueue",
  "cgroup",
  "cgroup2",
  "securityfs",
  "debugfs",
]);

function kernelMountPoints(root: string): Set<string> {
  const pid = /^\/proc\/(\d+)\/root$/.exec(root)?.[1];
  if (!pid) return new Set();
  const points = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n")) {
    const fields = line.split(" ");
    const fstype = fields[fields.indexOf("-") + 1];
    if (fstype && KERNEL_FILESYSTEMS.has(fstype)) points.add(fields[4]!.slice(1));
  }
  return points;
}

/** `PUT /archive`: unpacks a tar into a directory of the container; nothing may land outside it. */
export async function extractInto(root: string, path: string, tar: Chunks): Promise<void> {
  const host = resolveInRoot(root, path, true);
  let isDir = false;
  try {
    isDir = (await stat(host)).isDirectory(); // the root itself may be /proc/<pid>/root, a link
  } catch {
    throw new NotFound(`Could not find the file ${path} in container`);
  }
  if (!isDir) throw new InvalidArgument(`extraction point is not a directory: ${path}`);
  await unpackLayer(tar, host, "apply");
}

export interface Change {
  Path: string;
  /** 0 modified, 1 added, 2 deleted (docker's ChangeType). */
  Kind: 0 | 1 | 2;
}

/** `docker diff`: the container's upper directory against its image's layers. */
export async function containerChanges(engine: Engine, c: ContainerRecord): Promise<Change[]> {
  if (!c.Berth.snapshotPrepared) return [];
  if (engine.snapshotter.whiteouts !== "overlay")
    throw new InvalidArgument("diff needs the overlay snapshotter: this daemon copies layers instead");
  const upper = await engine.snapshotter.upperDir(c.Id);
  const [mount] = await engine.snapshotter.mounts(c.Id);
  const lowers = (
    mount?.options
      .find((o) => o.startsWith("lowerdir="))
      ?.slice("lowerdir=".length)
      .split(":") ?? []
  ).map((d) => (mount?.cwd ? join(mount.cwd, d) : d));
  const inImage = async (rel: string) => {
    for (const lower of lowers)
      if (
        await lstat(join(lower, rel)).then(
          () => true,
          () => false,
        )
      )
        return true;
    return false;
  };
  const changes: Change[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(upper, rel))).sort()) {
      const path = `${rel}/${name}`;
      const st = await lstat(join(upper, path));
      if (st.isCharacterDevice() && st.rdev === 0) {
        changes.push({ Path: path, Kind: 2 });
        continue;
      }
      changes.push({ Path: path, Kind: (await inImage(path)) ? 0 : 1 });
      if (st.isDirectory()) await visit(path);
    }
  };
  await visit("");
  return withoutEngineFiles(changes);
}

/** What the engine itself puts in every container: mount points and the /etc files it binds. */
const ENGINE_PATHS = [
  "/dev",
  "/proc",
  "/sys",
  "/etc/hostname",
  "/etc/hosts",
  "/etc/resolv.conf",
  "/etc/mtab",
];

/**
 * Leaves out the engine's own additions (docker keeps them in a hidden "init" layer), and a
 * directory reported changed only because of them.
 */
function withoutEngineFiles(changes: Change[]): Change[] {
  const own = (p: string) => ENGINE_PATHS.some((e) => p === e || p.startsWith(`${e}/`));
  const kept = changes.filter((c) => !(c.Kind === 1 && own(c.Path)));
  return kept.filter(
    (c) =>
      c.Kind !== 0 ||
      !changes.some((x) => x.Path.startsWith(`${c.Path}/`)) ||
      kept.some((x) => x.Path.startsWith(`${c.Path}/`)),
  );
}

/**
 * The mount points inside a running container other than its root, relative to it: `export`
 * leaves their contents out (/proc, /sys, /dev, volumes), as docker's export of the root does.
 */
export function containerMountPoints(pid: number): Set<string> {
  const points = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n")) {
    const point = line.split(" ")[4];
    if (point && point !== "/") points.add(point.slice(1).replace(/\\040/g, " "));
  }
  return points;
}

/** `docker export`: the container's whole filesystem as a tar, without what is mounted on it. */
export async function exportContainer(
  engine: Engine,
  c: ContainerRecord,
  write: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  if (c.State.Running && c.State.Pid) {
    for await (const chunk of directoryTar(`/proc/${c.State.Pid}/root`, "", {
      skip: containerMountPoints(c.State.Pid),
    }))
      await write(chunk);
    return;
  }
  await withContainerRoot(engine, c, async (root) => {
    for await (const chunk of directoryTar(root)) await write(chunk);
  });
}
