/**
 * The changes of an overlay upper directory as an OCI layer tar (image-spec layer.md): files,
 * directories, links and devices as they are, overlayfs whiteouts (0/0 character devices)
 * as `.wh.<name>` entries and opaque directories (trusted.overlay.opaque=y) followed by
 * `.wh..wh..opq`. Entries come in lexical order, parents before children, hard links after the
 * first path of their inode, with owners, modes, mtimes and extended attributes (read by
 * berth-fsops in one run; overlay's own trusted.overlay.* are left out).
 */
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { fileChunks } from "../util/file-chunks.js";
import type { TarHeader } from "../util/tar/header.js";
import { type TarInput, writeTar } from "../util/tar/writer.js";
import { readXattrs } from "./fsops.js";
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from "./unpack.js";

interface Found {
  path: string;
  st: import("node:fs").Stats;
  /** A deletion found by comparing two trees (overlay marks its own with a 0/0 device). */
  deleted?: boolean;
}

/**
 * Every entry under `root` (from `start`, itself included, when given), parents first; the
 * contents of `skip` directories (mount points, as relative paths) are left out.
 */
/** `skip`: directories whose content is left out; `exclude`: entries left out with their content. */
async function walk(
  root: string,
  start = "",
  skip: ReadonlySet<string> = new Set(),
  exclude?: (path: string, isDir: boolean) => boolean,
): Promise<Found[]> {
  const out: Found[] = [];
  const visit = async (rel: string) => {
    if (skip.has(rel)) return;
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, path));
      if (exclude?.(path, st.isDirectory())) continue;
      out.push({ path, st });
      if (st.isDirectory()) await visit(path);
    }
  };
  if (start) {
    const st = await lstat(join(root, start));
    out.push({ path: start, st });
    if (st.isDirectory()) await visit(start);
  } else await visit("");
  return out;
}

/**
 * The changes from `lowerDir` to `upperDir`, two whole trees (the copying snapshotter's parent
 * and child), as a layer tar: what is new or differs in type, mode, owner, size, mtime, device
 * or link target, the directories leading to it, and a whiteout for each deleted top-most path.
 * Extended attributes alone changing is not seen (as in containerd's naive diff).
 */
export async function* diffDirectories(lowerDir: string, upperDir: string): AsyncGenerator<Buffer> {
  const lower = new Map((await walk(lowerDir)).map((f) => [f.path, f.st]));
  const upper = await walk(upperDir);
  const upperPaths = new Set(upper.map((f) => f.path));
  const changed = new Set<string>();
  const parentOf = (p: string) => p.slice(0, Math.max(0, p.lastIndexOf("/")));
  const mark = (p: string) => {
    for (let q = p; q && !changed.has(q); q = parentOf(q)) changed.add(q);
  };
  for (const { path, st } of upper) {
    const old = lower.get(path);
    if (!old || !same(old, st)) mark(path);
  }
  const out: Found[] = upper.filter((f) => changed.has(f.path));
  for (const [path, st] of lower) {
    const parent = parentOf(path);
    if (!upperPaths.has(path) && (parent === "" || upperPaths.has(parent))) {
      if (parent) mark(parent);
      out.push({ path, st, deleted: true });
    }
  }
  // Parents marked by deletions come in too; then everything in lexical order.
  for (const f of upper) if (changed.has(f.path) && !out.includes(f)) out.push(f);
  out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const xattrs = await readXattrs(
    upperDir,
    out.filter((f) => !f.deleted && !f.st.isSymbolicLink()).map((f) => f.path),
  );
  yield* writeTar(entries(upperDir, out, xattrs));
}

function same(a: import("node:fs").Stats, b: import("node:fs").Stats): boolean {
  if ((a.mode & 0o170000) !== (b.mode & 0o170000)) return false;
  if (a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return false;
  if (a.isDirectory()) return true; // its content is compared entry by entry
  if (a.size !== b.size || a.mtimeMs !== b.mtimeMs) return false;
  return true;
}

/** The layer tar of `upperDir`'s changes, as a stream. */
export function diffUpperDir(upperDir: string): AsyncGenerator<Buffer> {
  return directoryTar(upperDir);
}

/**
 * A directory tree as a tar, entries named relative to `root`: all of it, or the entry `start`
 * and what is under it (`docker export`, `docker cp`). Overlay's whiteouts and opaque markers
 * become OCI ones, which makes an upper directory a layer (diffUpperDir).
 */
export interface DirectoryTarOptions {
  /** Directories whose content is left out (mount points). */
  skip?: ReadonlySet<string>;
  /** Entries left out with their content (.dockerignore). */
  exclude?: (path: string, isDir: boolean) => boolean;
  /** Extended attributes (default true); a build context goes without, as docker's CLI sends it. */
  xattrs?: boolean;
  /** Entries written after the tree's (a Dockerfile from standard input). */
  extra?: TarInput[];
}

export async function* directoryTar(
  root: string,
  start = "",
  options: DirectoryTarOptions = {},
): AsyncGenerator<Buffer> {
  const found = await walk(root, start, options.skip, options.exclude);
  const xattrs =
    options.xattrs === false
      ? new Map<string, Map<string, Buffer>>()
      : await readXattrs(
          root,
          found.filter((f) => !f.st.isSymbolicLink()).map((f) => f.path),
        );
  yield* writeTar(
    (async function* () {
      yield* entries(root, found, xattrs);
      yield* options.extra ?? [];
    })(),
  );
}

async function* entries(
  root: string,
  found: Found[],
  xattrs: Map<string, Map<string, Buffer>>,
): AsyncGenerator<TarInput> {
  const firstPathOfInode = new Map<number, string>();
  for (const { path, st, deleted } of found) {
    const slash = path.lastIndexOf("/");
    const parent = slash < 0 ? "" : path.slice(0, slash + 1);
    const name = path.slice(slash + 1);
    const attrs = new Map([...(xattrs.get(path) ?? [])].filter(([k]) => !k.startsWith("trusted.overlay.")));
    const base: Omit<TarHeader, "name" | "type"> = {
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: 0,
      mtime: Math.floor(st.mtimeMs / 1000),
      linkname: "",
      uname: "",
      gname: "",
      devmajor: 0,
      devminor: 0,
      xattrs: attrs,
    };
    if (deleted || (st.isCharacterDevice() && st.rdev === 0)) {
      yield {
        header: {
          ...base,
          name: `${parent}${WHITEOUT_PREFIX}${name}`,
          type: "file",
          mode: 0o600,
          xattrs: new Map(),
        },
      };
      continue;
    }
    if (st.isDirectory()) {
      yield { header: { ...base, name: `${path}/`, type: "directory" } };
      if (xattrs.get(path)?.get(OVERLAY_OPAQUE_XATTR)?.toString() === "y")
        yield {
          header: { ...base, name: `${path}/${OPAQUE_MARKER}`, type: "file", mode: 0o600, xattrs: new Map() },
        };
      continue;
    }
    if (st.nlink > 1) {
      const first = firstPathOfInode.get(st.ino);
      if (first) {
        yield { header: { ...base, name: path, type: "link", linkname: first } };
        continue;
      }
      firstPathOfInode.set(st.ino, path);
    }
    if (st.isFile()) {
      yield {
        header: { ...base, name: path, type: "file", size: st.size },
        body: fileChunks(join(root, path), st.size),
      };
    } else if (st.isSymbolicLink()) {
      yield { header: { ...base, name: path, type: "symlink", linkname: await readlink(join(root, path)) } };
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
      const minor = Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n));
      yield {
        header: {
          ...base,
          name: path,
          type: st.isCharacterDevice() ? "char" : "block",
          devmajor: major,
          devminor: minor,
        },
      };
    } else if (st.isFIFO()) {
      yield { header: { ...base, name: path, type: "fifo" } };
    }
    // Sockets are not part of a filesystem image: skipped, as docker does.
  }
}
