/**
 * Reads of an untrusted tree (fsops.ts says which trees and why) through berth-fsops's reader
 * (native/fsread.c): a walk starts at a path resolved by the kernel inside the root, and every
 * entry below it is opened from its parent's descriptor without following symlinks, described
 * from that descriptor and read through it. A tree that changes while it is read shows what was
 * there, never what a symlink points at.
 *
 * A reader is a helper process that serves one request after another, each naming its root.
 * Idle readers wait in a small pool, so that a container start reading /etc/passwd pays for a
 * request, not for a process.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { ByteSource, TruncatedStream } from "../util/byte-source.js";
import { Mutex } from "../util/mutex.js";
import { SnapshotSystemError } from "./errors.js";
import { describeRoot, fsopsPath, hiddenMounts, rootSpec, type TreeRoot } from "./fsops.js";

/** The wire format's numbers (native/fsops.h; a unit test compares them). */
export const FsRead = {
  WALK: 1,
  FOLLOW: 1,
  CONTENT: 2,
  XATTRS: 4,
  ONE_MOUNT: 8,
  RESOLVED: 16,
  ENTRY: 1,
  END: 2,
  REQUEST_SIZE: 32,
  RECORD_SIZE: 112,
} as const;

export type EntryType = "file" | "directory" | "symlink" | "char" | "block" | "fifo" | "socket";

export interface TreeEntry {
  /** Relative to the walk's start, which is "". */
  path: string;
  type: EntryType;
  /** Permission bits with setuid, setgid and sticky (st_mode & 07777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, with the fraction. */
  mtime: number;
  nlink: number;
  ino: number;
  dev: number;
  /** The mount it lies on (as /proc/PID/mountinfo numbers mounts). */
  mountId: number;
  /** 512-byte blocks allocated. */
  blocks: number;
  devMajor: number;
  devMinor: number;
  /** A symlink's target; for the start of a walk asked with `resolved`, its path in the root. */
  linkTarget: string;
  /** With `xattrs` (never for symlinks). */
  xattrs: Map<string, Buffer>;
  /**
   * A regular file's bytes when asked with `content`: `size` of them, or `limit` if fewer;
   * skipped if not read before the next entry is asked for.
   */
  body?: AsyncIterable<Buffer>;
}

export interface WalkOptions {
  /** Follow a symlink at the path itself (inside the root). */
  follow?: boolean;
  content?: boolean;
  xattrs?: boolean;
  /** Do not enter directories on another mount than the start's (what `export` leaves out). */
  oneMount?: boolean;
  /** How many levels below the start: 0 for the start alone; all by default. */
  depth?: number;
  /** Report the start's resolved path in the root as its linkTarget. */
  resolved?: boolean;
  /** With `content`, at most this many bytes of each file come as its body (`size` is still the file's). */
  limit?: number;
}

/** A path that leads nowhere in the tree, or a tree the reader could not read. */
export class TreePathError extends SnapshotSystemError {
  constructor(
    /** The errno name: ENOENT, ENOTDIR, ELOOP, ESRCH (the process has gone)... */
    readonly errno: string,
    readonly path: string,
    root: TreeRoot,
  ) {
    super(`${path} in ${describeRoot(root)}: ${errno}`);
  }

  /** The path names nothing that can be reached (what an API answers with 404). */
  get missing(): boolean {
    return MISSING.has(this.errno);
  }
}

const MISSING = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG"]);
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

// A Map: octal literals as object keys are miscompiled by this TypeScript (read in base 7).
const TYPES = new Map<number, EntryType>([
  [0o100000, "file"],
  [0o040000, "directory"],
  [0o120000, "symlink"],
  [0o020000, "char"],
  [0o060000, "block"],
  [0o010000, "fifo"],
  [0o140000, "socket"],
]);

function request(root: TreeRoot, path: string, o: WalkOptions): Buffer {
  const spec = Buffer.from(rootSpec(root));
  const hidden = hiddenMounts(root);
  const p = Buffer.from(path);
  const h = Buffer.alloc(FsRead.REQUEST_SIZE + spec.length + hidden.length * 8 + p.length);
  const flags =
    (o.follow ? FsRead.FOLLOW : 0) |
    (o.content ? FsRead.CONTENT : 0) |
    (o.xattrs ? FsRead.XATTRS : 0) |
    (o.oneMount ? FsRead.ONE_MOUNT : 0) |
    (o.resolved ? FsRead.RESOLVED : 0);
  h.writeUInt32LE(FsRead.WALK, 0);
  h.writeUInt32LE(flags, 4);
  h.writeUInt32LE(p.length, 8);
  h.writeUInt32LE(o.depth ?? 0xffffffff, 12);
  h.writeUInt32LE(spec.length, 16);
  h.writeUInt32LE(hidden.length, 20);
  h.writeBigUInt64LE(BigInt(o.limit ?? 0), 24);
  spec.copy(h, FsRead.REQUEST_SIZE);
  hidden.forEach((id, i) => {
    h.writeBigUInt64LE(BigInt(id), FsRead.REQUEST_SIZE + spec.length + i * 8);
  });
  p.copy(h, FsRead.REQUEST_SIZE + spec.length + hidden.length * 8);
  return h;
}

/** An entry's whole body (a small file's). */
export async function bodyBytes(e: TreeEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of e.body ?? []) parts.push(c);
  return Buffer.concat(parts);
}

function parseXattrs(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let pos = 0; pos < data.length; ) {
    const nameLen = data.readUInt32LE(pos);
    const name = data.subarray(pos + 4, pos + 4 + nameLen).toString();
    pos += 4 + nameLen;
    const valueLen = data.readUInt32LE(pos);
    out.set(name, Buffer.from(data.subarray(pos + 4, pos + 4 + valueLen)));
    pos += 4 + valueLen;
  }
  return out;
}

/** One helper process answering requests in order. Use the pool: withTreeReader, walkTree. */
export class TreeReader {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly source: ByteSource;
  private stderr = "";
  /** Broken by an error in the middle of an answer: not to be reused. */
  broken = false;
  /** One request and its answer at a time: answers come in the order requests went. */
  private readonly turn = new Mutex();

  constructor() {
    this.child = spawn(fsopsPath(), ["read"], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => {
      this.stderr += s;
    });
    this.child.stdin.on("error", () => {});
    this.child.on("error", () => {});
    this.source = new ByteSource(this.child.stdout);
  }

  /** The entries of a walk, parents before children, each directory's in name order. */
  async *walk(root: TreeRoot, path: string, options: WalkOptions = {}): AsyncGenerator<TreeEntry> {
    const release = await this.turn.acquire();
    try {
      this.child.stdin.write(request(root, path, options));
      yield* this.answer(root);
    } finally {
      release();
    }
  }

  /** The entry at `path`, or undefined when the path leads nowhere. */
  async stat(root: TreeRoot, path: string, options: { follow?: boolean; resolved?: boolean } = {}) {
    return (await this.statMany(root, [path], options))[0];
  }

  /** The entries at `paths` (undefined where a path leads nowhere), asked all at once. */
  async statMany(
    root: TreeRoot,
    paths: readonly string[],
    options: Pick<WalkOptions, "follow" | "resolved" | "xattrs"> = {},
  ): Promise<(TreeEntry | undefined)[]> {
    const out: (TreeEntry | undefined)[] = [];
    for await (const e of this.entriesAt(root, paths, options)) out.push(e);
    return out;
  }

  /**
   * The entry at each of `paths` in turn (undefined where a path leads nowhere), the requests
   * sent all at once; with `content`, a file's body is to be read before the next is asked for.
   */
  async *entriesAt(
    root: TreeRoot,
    paths: readonly string[],
    options: Omit<WalkOptions, "depth" | "oneMount"> = {},
  ): AsyncGenerator<TreeEntry | undefined> {
    const o = { ...options, depth: 0 };
    const release = await this.turn.acquire();
    // Node buffers what the helper has not read yet: the writes never wait on its answers.
    for (const p of paths) this.child.stdin.write(request(root, p, o));
    let answered = 0;
    try {
      for (; answered < paths.length; answered++) {
        let found: TreeEntry | undefined;
        try {
          for await (const e of this.answer(root)) {
            found = e;
            yield e;
          }
        } catch (err) {
          if (!(err instanceof TreePathError && err.missing)) throw err;
        }
        if (!found) yield undefined;
      }
    } finally {
      // Answers still coming (a consumer that stopped, an error) leave this reader out of step.
      if (answered < paths.length) this.broken = true;
      release();
    }
  }

  /**
   * A regular file's bytes (following a symlink at `path` inside the root), undefined when it
   * is missing or not a regular file; one larger than `limit` is refused, not read into memory.
   */
  async readFile(root: TreeRoot, path: string, limit = 16 << 20): Promise<Buffer | undefined> {
    let data: Buffer | undefined;
    try {
      for await (const e of this.walk(root, path, {
        follow: true,
        content: true,
        depth: 0,
        limit: limit + 1,
      })) {
        if (e.type !== "file") continue;
        if (e.size > limit)
          throw new SnapshotSystemError(`${path} in ${describeRoot(root)} is larger than ${limit} bytes`);
        data = await bodyBytes(e);
      }
    } catch (err) {
      if (err instanceof TreePathError && err.missing) return undefined;
      throw err;
    }
    return data;
  }

  /** One request's records up to its END; a consumer that stops early leaves the rest read here. */
  private async *answer(root: TreeRoot): AsyncGenerator<TreeEntry> {
    let ended = false;
    // The current entry's body, what of it was taken: what the stream still holds of it.
    let dataLen = 0;
    let taken = 0;
    try {
      for (;;) {
        const h = await this.read(FsRead.RECORD_SIZE);
        const kind = h.readUInt32LE(0);
        const pathLen = h.readUInt32LE(72);
        const linkLen = h.readUInt32LE(76);
        const xattrsLen = h.readUInt32LE(80);
        dataLen = Number(h.readBigUInt64LE(88));
        taken = 0;
        const path = (await this.read(pathLen)).toString();
        if (kind === FsRead.END) {
          ended = true;
          const errno = h.readInt32LE(84);
          if (errno) throw new TreePathError(ERRNO_NAMES.get(errno) ?? `errno ${errno}`, path, root);
          return;
        }
        if (kind !== FsRead.ENTRY) throw this.failure(`unknown record kind ${kind}`);
        const linkTarget = (await this.read(linkLen)).toString();
        const xattrs = parseXattrs(await this.read(xattrsLen));
        const mode = h.readUInt32LE(4);
        let passed = false;
        const source = this.source;
        const entry: TreeEntry = {
          path,
          type: TYPES.get(mode & 0o170000) ?? "file",
          mode: mode & 0o7777,
          uid: h.readUInt32LE(8),
          gid: h.readUInt32LE(12),
          size: Number(h.readBigUInt64LE(16)),
          mtime: Number(h.readBigInt64LE(24)) + h.readUInt32LE(32) / 1e9,
          nlink: h.readUInt32LE(36),
          devMajor: h.readUInt32LE(40),
          devMinor: h.readUInt32LE(44),
          ino: Number(h.readBigUInt64LE(48)),
          dev: Number(h.readBigUInt64LE(56)),
          mountId: Number(h.readBigUInt64LE(64)),
          blocks: Number(h.readBigUInt64LE(96)),
          linkTarget,
          xattrs,
          ...(dataLen
            ? {
                body: (async function* () {
                  // The stream has moved on: the bytes were skipped with the entry.
                  if (passed)
                    throw new SnapshotSystemError(
                      `the content of ${path} was asked for after the next entry`,
                    );
                  for await (const chunk of source.chunks(dataLen)) {
                    taken += chunk.length;
                    yield chunk;
                  }
                })(),
              }
            : {}),
        };
        yield entry;
        passed = true;
        if (dataLen > taken) await this.source.skip(dataLen - taken);
        dataLen = taken = 0;
      }
    } finally {
      // Given up half-way: the rest of the answer is read, so that the next request's is next.
      if (!ended)
        await (async () => {
          if (dataLen > taken) await this.source.skip(dataLen - taken);
          await this.drainAnswer();
        })().catch(() => {
          this.broken = true;
        });
    }
  }

  private async drainAnswer(): Promise<void> {
    for (;;) {
      const h = await this.read(FsRead.RECORD_SIZE);
      const rest =
        h.readUInt32LE(72) + h.readUInt32LE(76) + h.readUInt32LE(80) + Number(h.readBigUInt64LE(88));
      await this.source.skip(rest);
      if (h.readUInt32LE(0) === FsRead.END) return;
    }
  }

  private async read(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    try {
      const b = await this.source.read(n);
      if (b) return b;
    } catch (err) {
      if (!(err instanceof TruncatedStream)) throw err;
    }
    throw await this.failureAfterExit();
  }

  private failure(text: string): SnapshotSystemError {
    this.broken = true;
    return new SnapshotSystemError(`read a tree: ${text}`);
  }

  private async failureAfterExit(): Promise<SnapshotSystemError> {
    this.broken = true;
    if (this.child.exitCode === null && this.child.signalCode === null)
      await new Promise((resolve) => this.child.once("close", resolve));
    return this.failure(this.stderr.trim() || `berth-fsops read exited (${this.child.exitCode})`);
  }

  /** Idle in the pool: not what keeps the process alive. */
  park(idle: boolean): void {
    for (const handle of [this.child, this.child.stdout, this.child.stderr, this.child.stdin] as {
      ref(): void;
      unref(): void;
    }[])
      idle ? handle.unref() : handle.ref();
  }

  close(): void {
    this.child.stdin.end();
    if (this.broken && this.child.exitCode === null) this.child.kill("SIGKILL");
  }
}

const MAX_IDLE = 4;
const idle: TreeReader[] = [];

/** Runs `fn` with a reader of the pool, returned to it after (or closed if broken). */
export async function withTreeReader<T>(fn: (reader: TreeReader) => Promise<T>): Promise<T> {
  const reader = idle.pop() ?? new TreeReader();
  reader.park(false);
  try {
    return await fn(reader);
  } finally {
    release(reader);
  }
}

function release(reader: TreeReader): void {
  if (reader.broken || idle.length >= MAX_IDLE) {
    reader.close();
    return;
  }
  reader.park(true);
  idle.push(reader);
}

/** A walk with a reader of the pool (see TreeReader.walk). */
export function walkTree(root: TreeRoot, path: string, options: WalkOptions = {}): AsyncGenerator<TreeEntry> {
  return withTreeReaderGenerator((reader) => reader.walk(root, path, options));
}

/** What `fn` yields, with a reader of the pool held until it is done (withTreeReader's kin). */
export async function* withTreeReaderGenerator<T>(
  fn: (reader: TreeReader) => AsyncGenerator<T>,
): AsyncGenerator<T> {
  const reader = idle.pop() ?? new TreeReader();
  reader.park(false);
  try {
    yield* fn(reader);
  } finally {
    release(reader);
  }
}

/** The entry at `path` in `root` (see TreeReader.stat). */
export function statInTree(
  root: TreeRoot,
  path: string,
  options: { follow?: boolean; resolved?: boolean } = {},
): Promise<TreeEntry | undefined> {
  return withTreeReader((r) => r.stat(root, path, options));
}

/** A regular file's bytes in `root`, symlinks followed inside it (see TreeReader.readFile). */
export function readFileInTree(root: TreeRoot, path: string, limit?: number): Promise<Buffer | undefined> {
  return withTreeReader((r) => r.readFile(root, path, limit));
}

/** The names in a directory of the tree (sorted), or undefined when it is not one. */
export async function listInTree(root: TreeRoot, path: string, follow = true): Promise<string[] | undefined> {
  return withTreeReader(async (r) => {
    const names: string[] = [];
    let isDir = false;
    try {
      for await (const e of r.walk(root, path, { follow, depth: 1 }))
        if (e.path === "") isDir = e.type === "directory";
        else names.push(e.path);
    } catch (err) {
      if (err instanceof TreePathError && err.missing) return undefined;
      throw err;
    }
    return isDir ? names : undefined;
  });
}
