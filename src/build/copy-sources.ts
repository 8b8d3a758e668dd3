/**
 * The sources of COPY and ADD: patterns (Go filepath.Match globs) matched in the build context
 * or in another image's tree, their content checksum for the build cache (paths, types, modes
 * and bytes; never times, so a touched but unchanged file still hits), and the copy itself,
 * written by berth-fsops under the container's root so that no symlink of the image can send a
 * write outside it.
 */
import { createHash } from "node:crypto";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join, posix } from "node:path";
import { resolveInRoot } from "../engine/archive.js";
import { type FsOpsBatch, S_IFBLK, S_IFCHR, S_IFIFO } from "../snapshot/fsops.js";
import { fileChunks } from "../util/file-chunks.js";
import { DockerfileError } from "./dockerfile.js";
import { globRegExp } from "./dockerignore.js";

/** One matched source: its path relative to the source root, and where it is on the host. */
export interface Source {
  rel: string;
  host: string;
  isDir: boolean;
  /** Fetched from a URL by ADD (never unpacked). */
  downloaded?: boolean;
}

const GLOB = /[*?[]/;

/**
 * The sources `patterns` name under `root`. With `inRoot`, symlinks resolve inside `root` (an
 * image's tree); otherwise `root` is the context, where every path stays below it.
 */
export async function matchSources(
  root: string,
  patterns: string[],
  ins: { line: number; name: string },
  inRoot: boolean,
): Promise<Source[]> {
  const out: Source[] = [];
  for (const pattern of patterns) {
    const rel = posix.normalize(`/${pattern}`).slice(1).replace(/\/$/, "");
    const found: string[] = [];
    if (GLOB.test(rel)) await globWalk(root, "", rel.split("/"), found);
    else found.push(rel);
    let matched = 0;
    for (const r of found) {
      const host = inRoot ? resolveInRoot(root, r, true) : join(root, r);
      const st = await lstat(host).catch(() => undefined);
      if (!st) continue;
      out.push({ rel: r, host, isDir: st.isDirectory() });
      matched++;
    }
    if (!matched)
      throw new DockerfileError(
        ins.line,
        `${ins.name} failed: file not found in build context or excluded by .dockerignore: stat ${pattern}: file does not exist`,
      );
  }
  return out;
}

async function globWalk(root: string, dir: string, parts: string[], out: string[]): Promise<void> {
  const [part, ...rest] = parts;
  if (part === undefined) {
    out.push(dir);
    return;
  }
  if (!GLOB.test(part)) {
    await globWalk(root, dir ? `${dir}/${part}` : part, rest, out);
    return;
  }
  const re = globRegExp(part);
  const names = await readdir(join(root, dir)).catch(() => [] as string[]);
  for (const name of names.sort())
    if (re.test(name)) await globWalk(root, dir ? `${dir}/${name}` : name, rest, out);
}

/** A digest of the sources' trees: names, types, modes, owners, link targets and file bytes. */
export async function checksumSources(sources: Source[]): Promise<string> {
  const hash = createHash("sha256");
  const visit = async (host: string, name: string) => {
    const st = await lstat(host);
    hash.update(`${name}\0${st.mode}\0${st.uid}:${st.gid}\0`);
    if (st.isSymbolicLink()) hash.update(await readlink(host));
    else if (st.isFile()) {
      for await (const chunk of fileChunks(host, st.size)) hash.update(chunk);
    } else if (st.isDirectory())
      for (const child of (await readdir(host)).sort()) await visit(join(host, child), `${name}/${child}`);
    hash.update("\0");
  };
  for (const s of sources) await visit(s.host, s.rel);
  return hash.digest("hex");
}

export interface CopyOwnership {
  /** --chown, resolved; otherwise files keep the owner they had (root for the context's). */
  uid?: number;
  gid?: number;
  /** --chmod: the mode of every file and directory copied. */
  mode?: number;
  /** Context files belong to root whatever their owner on the client. */
  rootOwned: boolean;
}

/**
 * Copies one source to `dest` (a path relative to the batch's root): a directory's content
 * goes into `dest`, a file becomes `dest`. Times are kept, as docker does.
 */
export async function copySource(
  ops: FsOpsBatch,
  host: string,
  dest: string,
  own: CopyOwnership,
  top = true,
): Promise<void> {
  const st = await lstat(host);
  const owner = {
    mode: own.mode ?? st.mode & 0o7777,
    uid: own.uid ?? (own.rootOwned ? 0 : st.uid),
    gid: own.gid ?? (own.rootOwned ? 0 : st.gid),
  };
  if (st.isDirectory()) {
    // The destination directory itself keeps its owner and mode when it exists already.
    await ops.mkdir(dest, owner, top && own.uid === undefined && own.mode === undefined);
    for (const child of (await readdir(host)).sort())
      await copySource(ops, join(host, child), dest ? `${dest}/${child}` : child, own, false);
  } else if (st.isSymbolicLink()) {
    await ops.symlink(dest, await readlink(host), owner);
    return;
  } else if (st.isFile()) await ops.file(dest, owner, st.size, fileChunks(host, st.size));
  else if (st.isFIFO()) await ops.mknod(dest, S_IFIFO, owner);
  else if (st.isCharacterDevice() || st.isBlockDevice())
    await ops.mknod(
      dest,
      st.isCharacterDevice() ? S_IFCHR : S_IFBLK,
      owner,
      (st.rdev >> 8) & 0xfff,
      (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00),
    );
  else return; // sockets are not copied
  await ops.times(dest, Math.floor(st.mtimeMs / 1000));
}

/** Creates the missing directories of `rel` (relative to the batch's root), as `mkdir -p` would. */
export async function makeParents(ops: FsOpsBatch, rel: string, own: CopyOwnership): Promise<void> {
  const parts = rel.split("/").filter((p) => p && p !== ".");
  for (let i = 1; i <= parts.length; i++)
    await ops.mkdir(parts.slice(0, i).join("/"), { mode: 0o755, uid: own.uid ?? 0, gid: own.gid ?? 0 }, true);
}
