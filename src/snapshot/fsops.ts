/**
 * The typed front of native/build/berth-fsops, the one way Berth touches a path inside an
 * untrusted tree (a container's root, an image's layers or tree, a build context, a volume):
 * every path is resolved by the kernel inside its root (openat2 RESOLVE_IN_ROOT or
 * RESOLVE_BENEATH) and the work is done on the descriptor it gives, so no symlink and no race
 * can lead outside (native/tree.h). This file has the root's name, the writes (a batch of
 * operations streamed to one helper process; fsops.h has the wire format) and binds;
 * tree-reader.ts has the reads. Node has no mknod, mkfifo, setxattr or openat2: the helper
 * does the work, this side decides what it is.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MissingDirectory, SnapshotSystemError } from "./errors.js";

/**
 * An untrusted tree: a host directory of Berth's own (a snapshot or layer directory, an
 * extracted build context, a mounted image, a volume), or the root of a running process (a
 * container's, seen through its mount namespace, volumes included) that must still be the
 * process started at `startTime` (clock ticks after boot, /proc/PID/stat field 22), whose
 * mounts `hiddenMounts` (ids as in /proc/PID/mountinfo: its /proc, /sys...) are out of reach.
 */
export type TreeRoot = string | ProcessRoot;

export interface ProcessRoot {
  pid: number;
  startTime: number;
  hiddenMounts?: readonly number[];
}

/** The helper's name for a root (native/tree.h). */
export function rootSpec(root: TreeRoot): string {
  return typeof root === "string" ? root : `pid:${root.pid}:${root.startTime}`;
}

export function hiddenMounts(root: TreeRoot): readonly number[] {
  return typeof root === "string" ? [] : (root.hiddenMounts ?? []);
}

/** How a root is named in messages: its directory, or the process. */
export function describeRoot(root: TreeRoot): string {
  return typeof root === "string" ? root : `the root of process ${root.pid}`;
}

export const FsOp = {
  MKDIR: 1,
  FILE: 2,
  SYMLINK: 3,
  LINK: 4,
  MKNOD: 5,
  XATTR: 6,
  TIMES: 7,
  REMOVE: 8,
  CLEAR: 9,
} as const;

export const HEADER_SIZE = 64;
/** berth-fsops apply's exit status when its --dir is not there. */
const MISSING_DIRECTORY = 3;
export const FsFlag = { KEEP_EXISTING: 1 } as const;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export interface Owner {
  mode: number;
  uid: number;
  gid: number;
}

/** The helper binary: `BERTH_FSOPS` overrides the copy built in this checkout. */
export function fsopsPath(): string {
  const fromEnv = process.env["BERTH_FSOPS"];
  if (fromEnv) return fromEnv;
  // dist/src/snapshot/fsops.js → native/build/berth-fsops at the repository root.
  for (const rel of ["../../../native/build/berth-fsops", "../../native/build/berth-fsops"]) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new SnapshotSystemError("native/build/berth-fsops is missing: run `npm run build` (make -C native)");
}

interface Fields {
  mode?: number;
  uid?: number;
  gid?: number;
  dataLength?: number;
  mtime?: number;
  major?: number;
  minor?: number;
  flags?: number;
}

function header(op: number, path: Buffer, arg: Buffer, f: Fields): Buffer {
  const h = Buffer.alloc(HEADER_SIZE);
  h.writeUInt32LE(op, 0);
  h.writeUInt32LE(f.mode ?? 0, 4);
  h.writeUInt32LE(f.uid ?? 0, 8);
  h.writeUInt32LE(f.gid ?? 0, 12);
  h.writeUInt32LE(path.length, 16);
  h.writeUInt32LE(arg.length, 20);
  h.writeBigUInt64LE(BigInt(f.dataLength ?? 0), 24);
  const mtime = f.mtime ?? 0;
  const sec = Math.floor(mtime);
  h.writeBigInt64LE(BigInt(sec), 32);
  h.writeUInt32LE(Math.min(999_999_999, Math.round((mtime - sec) * 1e9)), 40);
  h.writeUInt32LE(f.major ?? 0, 44);
  h.writeUInt32LE(f.minor ?? 0, 48);
  h.writeUInt32LE(f.flags ?? 0, 52);
  return h;
}

// Small operations are gathered and written to the pipe together.
const FLUSH_AT = 256 * 1024;

export interface BatchOptions {
  /** false skips the final syncfs, for trees that a crash makes moot anyway. */
  durable?: boolean;
  /** Write below this directory of the root (resolved in it, symlinks followed inside it). */
  dir?: string;
  /**
   * Resolve each operation's parent directories in the root, following symlinks inside it (a
   * copy into a container's tree, as the container would see the paths). Without it they are
   * resolved beneath the directory and a symlink that would leave it is refused (a layer).
   */
  inRoot?: boolean;
}

/** One helper process applying operations in a tree, in the order they are given. */
export class FsOpsBatch {
  private readonly child;
  private readonly exited: Promise<number | null>;
  private stderr = "";
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Where the batch writes, for messages. */
  readonly dir: string;

  constructor(root: TreeRoot, options: BatchOptions = {}) {
    const mode = options.durable === false ? "apply-volatile" : "apply";
    const hidden = hiddenMounts(root);
    const args = [
      mode,
      rootSpec(root),
      ...(options.dir !== undefined ? ["--dir", options.dir] : []),
      ...(options.inRoot ? ["--in-root"] : []),
      ...(hidden.length ? ["--hide", hidden.join(",")] : []),
    ];
    this.dir = options.dir !== undefined ? `${options.dir} in ${describeRoot(root)}` : describeRoot(root);
    this.child = spawn(fsopsPath(), args, { stdio: ["pipe", "ignore", "pipe"] });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => {
      this.stderr += s;
    });
    // A helper that died mid-batch breaks the pipe; its stderr explains why.
    this.child.stdin.on("error", () => {});
    this.exited = new Promise((resolve, reject) => {
      this.child.on("error", reject);
      this.child.on("close", (code) => resolve(code));
    });
  }

  private push(...parts: Buffer[]): void {
    for (const p of parts) {
      this.pending.push(p);
      this.pendingBytes += p.length;
    }
  }

  private async flushIfFull(): Promise<void> {
    if (this.pendingBytes >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    await this.write(data);
  }

  private async write(data: Buffer): Promise<void> {
    if (this.child.exitCode !== null || this.child.stdin.destroyed) await this.fail();
    if (!this.child.stdin.write(data)) {
      // A pipe broken by a helper that stopped (EPIPE) is explained by the helper's own error.
      await Promise.race([
        once(this.child.stdin, "drain").catch(() => this.fail()),
        this.exited.then(() => this.fail()),
      ]);
    }
  }

  private async fail(): Promise<never> {
    throw this.error(await this.exited);
  }

  private error(code: number | null): Error {
    const text = `write into ${this.dir}: ${this.stderr.trim() || `berth-fsops exit ${code}`}`;
    return code === MISSING_DIRECTORY ? new MissingDirectory(text) : new SnapshotSystemError(text);
  }

  private async simple(
    op: number,
    path: string,
    arg: string | Buffer,
    f: Fields,
    data?: Buffer,
  ): Promise<void> {
    const p = Buffer.from(path);
    const a = typeof arg === "string" ? Buffer.from(arg) : arg;
    this.push(header(op, p, a, { ...f, dataLength: data?.length ?? 0 }), p, a);
    if (data) this.push(data);
    await this.flushIfFull();
  }

  /** With `keepExisting`, a directory already there keeps its owner and mode. */
  mkdir(path: string, o: Owner, keepExisting = false): Promise<void> {
    return this.simple(FsOp.MKDIR, path, "", { ...o, flags: keepExisting ? FsFlag.KEEP_EXISTING : 0 });
  }

  /** A regular file of `size` bytes read from `body`. */
  async file(
    path: string,
    o: Owner,
    size: number,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): Promise<void> {
    const p = Buffer.from(path);
    this.push(header(FsOp.FILE, p, Buffer.alloc(0), { ...o, dataLength: size }), p);
    let written = 0;
    for await (const chunk of body) {
      written += chunk.length;
      if (chunk.length < 65536) {
        this.push(chunk);
        await this.flushIfFull();
      } else {
        await this.flush();
        await this.write(chunk);
      }
    }
    if (written !== size)
      throw new SnapshotSystemError(`unpack ${path}: got ${written} bytes, expected ${size}`);
  }

  symlink(path: string, target: string, o: Owner): Promise<void> {
    return this.simple(FsOp.SYMLINK, path, target, o);
  }

  link(path: string, target: string): Promise<void> {
    return this.simple(FsOp.LINK, path, target, {});
  }

  /** `type` is S_IFCHR, S_IFBLK or S_IFIFO. */
  mknod(path: string, type: number, o: Owner, major = 0, minor = 0): Promise<void> {
    return this.simple(FsOp.MKNOD, path, "", { ...o, mode: type | (o.mode & 0o7777), major, minor });
  }

  xattr(path: string, name: string, value: Buffer): Promise<void> {
    return this.simple(FsOp.XATTR, path, name, {}, value);
  }

  times(path: string, mtime: number): Promise<void> {
    return this.simple(FsOp.TIMES, path, "", { mtime });
  }

  remove(path: string): Promise<void> {
    return this.simple(FsOp.REMOVE, path, "", {});
  }

  /** Removes the directory's children except `keep` (names, not paths). */
  clear(path: string, keep: string[]): Promise<void> {
    return this.simple(FsOp.CLEAR, path, Buffer.concat(keep.map((k) => Buffer.from(`${k}\0`))), {});
  }

  /** Sends the rest, waits for the helper (which syncs the filesystem) and reports its error. */
  async finish(): Promise<void> {
    await this.flush();
    this.child.stdin.end();
    const code = await this.exited;
    if (code !== 0) throw this.error(code);
  }

  /** Stops the helper after a failure on this side. */
  async abort(): Promise<void> {
    this.child.stdin.destroy();
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
    await this.exited.catch(() => {});
  }
}

/**
 * Attaches a copy of the mount holding `path` (resolved in `root`, symlinks followed inside it)
 * at `target`, a directory or file of the caller's own of the same kind, read-only or not: the
 * kernel binds what it resolved, and no name in the tree is looked up again. Undo with unmount.
 */
export function bindFromTree(root: TreeRoot, path: string, target: string, readOnly: boolean): Promise<void> {
  return bind("bind-from", root, path, target, readOnly);
}

/**
 * Attaches a copy of `source` (a host path of the caller's: a volume, a bind source), with what
 * is mounted below it, on `path` of the tree, an entry that exists, resolved in `root`: the mount
 * lands on the resolved entry itself. Undo by unmounting the tree (recursively).
 */
export function bindIntoTree(root: TreeRoot, path: string, source: string, readOnly: boolean): Promise<void> {
  return bind("bind-into", root, path, source, readOnly);
}

async function bind(
  verb: "bind-from" | "bind-into",
  root: TreeRoot,
  path: string,
  other: string,
  readOnly: boolean,
): Promise<void> {
  const child = spawn(fsopsPath(), [verb, rootSpec(root), path, other, readOnly ? "ro" : "rw"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const [code] = (await once(child, "close")) as [number | null];
  if (code !== 0)
    throw new SnapshotSystemError(`${verb} ${path} of ${describeRoot(root)}, ${other}: ${err.trim()}`);
}
