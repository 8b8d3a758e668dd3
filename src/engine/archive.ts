/**
 * A container's files from outside: `cp` both ways (the API's /archive), `export` (the whole
 * root as a tar) and `diff` (what changed against the image). A running container's tree is
 * its process's root, seen through its mount namespace (so its volumes are included), with its
 * kernel filesystems (/proc, /sys...) out of reach: they are not its files, and docker shows
 * only their empty mount points. A stopped one's snapshot is mounted for the moment. Every
 * path is resolved inside the root by the kernel and used through what it resolved
 * (snapshot/fsops.ts): a symlink in the tree, however it is swapped while we look, never leads
 * to the host's files.
 */
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { posix } from "node:path";
import { InvalidArgument, NotFound } from "../errors.js";
import { directoryTar } from "../snapshot/diff.js";
import { MissingDirectory } from "../snapshot/errors.js";
import { bindIntoTree, FsOpsBatch, type ProcessRoot, type TreeRoot } from "../snapshot/fsops.js";
import { unpackLayer } from "../snapshot/index.js";
import { withMounted } from "../snapshot/mount.js";
import { statInTree, type TreeEntry, walkTree, withTreeReader } from "../snapshot/tree-reader.js";
import type { Chunks } from "../util/byte-source.js";
import { snapshotMounts } from "./container-start.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";

/**
 * Runs `fn` with the container's root filesystem as a tree to read or write. A container that
 * does not run has its snapshot mounted with its volumes and binds on it, as dockerd shows it.
 */
export async function withContainerRoot<T>(
  engine: Engine,
  c: ContainerRecord,
  fn: (root: TreeRoot) => Promise<T>,
  options: { volumes?: boolean } = {},
): Promise<T> {
  if (c.State.Running && c.State.Pid) return fn(processRoot(engine, c));
  return withMounted(await snapshotMounts(engine, c, true), async (root) => {
    if (options.volumes) await mountVolumes(root, c);
    return fn(root);
  });
}

/**
 * A stopped container's volumes and binds mounted on its mounted snapshot, shallowest first,
 * each mount point made where it is missing (the container makes them at its start anyway).
 */
async function mountVolumes(root: string, c: ContainerRecord): Promise<void> {
  const mounts = c.Berth.mounts
    .filter((m) => m.Type !== "tmpfs" && m.Source)
    .sort((a, b) => a.Destination.split("/").length - b.Destination.split("/").length);
  for (const m of mounts) {
    const isDir = (await stat(m.Source).catch(() => undefined))?.isDirectory() ?? true;
    if (!(await statInTree(root, m.Destination, { follow: true }))) {
      const ops = new FsOpsBatch(root, { durable: false, inRoot: true });
      try {
        const parts = m.Destination.split("/").filter(Boolean);
        const owner = { mode: 0o755, uid: 0, gid: 0 };
        for (let i = 1; i < parts.length; i++) await ops.mkdir(parts.slice(0, i).join("/"), owner, true);
        if (isDir) await ops.mkdir(parts.join("/"), owner, true);
        else await ops.file(parts.join("/"), { ...owner, mode: 0o644 }, 0, []);
        await ops.finish();
      } catch (err) {
        await ops.abort();
        throw err;
      }
    }
    await bindIntoTree(root, m.Destination, m.Source, !m.RW);
  }
}

/** A running container's root: its process, checked by start time, and its hidden mounts. */
export function processRoot(engine: Engine, c: ContainerRecord): ProcessRoot {
  const pid = c.State.Pid;
  return { pid, startTime: engine.runtime.record(c.Id).pidStartTime, hiddenMounts: kernelMounts(pid) };
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
  "tracefs",
  "bpf",
  "configfs",
  "fusectl",
  "pstore",
  "binfmt_misc",
  "efivarfs",
]);

interface MountInfo {
  id: number;
  point: string;
  fstype: string;
}

/** /proc/PID/mountinfo's mounts (proc(5)); none when the process has gone. */
function mountInfo(pid: number): MountInfo[] {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/mountinfo`, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(" ");
      return {
        id: Number(fields[0]),
        point: fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) =>
          String.fromCharCode(Number.parseInt(o, 8)),
        ),
        fstype: fields[fields.indexOf("-") + 1] ?? "",
      };
    });
}

/**
 * The container's kernel filesystems and whatever is mounted below them (the masks over
 * /proc/kcore and the like): what the archive API must not reach.
 */
function kernelMounts(pid: number): number[] {
  const mounts = mountInfo(pid);
  const points = mounts.filter((m) => KERNEL_FILESYSTEMS.has(m.fstype)).map((m) => m.point);
  return mounts
    .filter((m) => KERNEL_FILESYSTEMS.has(m.fstype) || points.some((p) => m.point.startsWith(`${p}/`)))
    .map((m) => m.id);
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
function goFileMode(e: TreeEntry): number {
  let mode = e.mode & 0o777;
  if (e.type === "directory") mode |= 0x80000000;
  else if (e.type === "symlink") mode |= 0x8000000;
  else if (e.type === "fifo") mode |= 0x2000000;
  else if (e.type === "socket") mode |= 0x1000000;
  else if (e.type === "char") mode |= 0x4000000 | 0x200000;
  else if (e.type === "block") mode |= 0x4000000;
  if (e.mode & 0o4000) mode |= 0x800000;
  if (e.mode & 0o2000) mode |= 0x400000;
  if (e.mode & 0o1000) mode |= 0x100000;
  return mode >>> 0; // unsigned: the directory bit is bit 31
}

/**
 * The stat of `path` in the container (a symlink itself, not what it points at), with, for a
 * symlink, the path it resolves to in the container (`cp -L` copies that).
 */
export async function statPath(root: TreeRoot, path: string, container = ""): Promise<PathStat> {
  return withTreeReader(async (reader) => {
    const e = await reader.stat(root, path);
    if (!e) throw new NotFound(`Could not find the file ${path} in container ${container}`.trimEnd());
    let linkTarget = "";
    if (e.type === "symlink") {
      const resolved = await reader.stat(root, path, { follow: true, resolved: true });
      // A dangling link: where its target would be, as docker reports it.
      linkTarget =
        resolved?.linkTarget || posix.resolve(posix.dirname(posix.resolve("/", path)), e.linkTarget);
    }
    return {
      name: posix.basename(posix.normalize(path)) || "/",
      size: e.size,
      mode: goFileMode(e),
      mtime: new Date(e.mtime * 1000).toISOString(),
      linkTarget,
    };
  });
}

/**
 * `GET /archive`: the path as a tar whose top entry is its base name (a directory's content
 * under it); the container's root as its whole tree.
 */
export function pathTar(root: TreeRoot, path: string): AsyncGenerator<Buffer> {
  const name = posix.basename(posix.normalize(`/${path}`));
  return directoryTar(root, path, { name });
}

/** `PUT /archive`: unpacks a tar into a directory of the container; nothing may land outside it. */
export async function extractInto(root: TreeRoot, path: string, tar: Chunks): Promise<void> {
  const notFound = () => new NotFound(`Could not find the file ${path} in container`);
  const dir = await withTreeReader((r) => r.stat(root, path, { follow: true }));
  if (!dir) throw notFound();
  if (dir.type !== "directory") throw new InvalidArgument(`extraction point is not a directory: ${path}`);
  // The helper resolves the path again itself, and what it writes lands below what it resolved.
  await unpackLayer(tar, root, "apply", { dir: path }).catch((err: unknown) => {
    throw err instanceof MissingDirectory ? notFound() : err;
  });
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
  ).map((d) => (mount?.cwd ? posix.join(mount.cwd, d) : d));
  const entries: TreeEntry[] = [];
  for await (const e of walkTree(upper, "")) if (e.path) entries.push(e);
  const isWhiteout = (e: TreeEntry) => e.type === "char" && e.devMajor === 0 && e.devMinor === 0;
  // Below a whiteout nothing shows; a changed path is in the image when a lower layer has it.
  const present = new Set<string>();
  await withTreeReader(async (reader) => {
    for (const lower of lowers) {
      const paths = entries.filter((e) => !isWhiteout(e) && !present.has(e.path)).map((e) => e.path);
      const found = await reader.statMany(lower, paths);
      found.forEach((e, i) => {
        if (e) present.add(paths[i]!);
      });
    }
  });
  const changes: Change[] = entries.map((e) => ({
    Path: `/${e.path}`,
    Kind: isWhiteout(e) ? 2 : present.has(e.path) ? 0 : 1,
  }));
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

/** `docker export`: the container's whole filesystem as a tar, without what is mounted on it. */
export async function exportContainer(
  engine: Engine,
  c: ContainerRecord,
  write: (chunk: Buffer) => Promise<void>,
): Promise<void> {
  await withContainerRoot(engine, c, async (root) => {
    for await (const chunk of directoryTar(root, "", { oneMount: true })) await write(chunk);
  });
}
