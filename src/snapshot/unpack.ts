/**
 * Unpacks one layer tar (already decompressed) into a directory, deciding everything here and
 * handing the writes to berth-fsops. Rules:
 * - Names are cleaned: a leading "/" or "./" is dropped (what tar and Docker do); a ".." that
 *   would climb above the layer is refused, as is any entry whose parent is a symlink made by
 *   this layer, and a hard link to anything that is not an earlier entry of this layer.
 * - OCI whiteouts (image-spec layer.md) become overlayfs whiteouts in "overlay" mode — `.wh.x`
 *   a 0/0 character device `x`, `.wh..wh..opq` the xattr trusted.overlay.opaque=y on its
 *   directory — or are applied to the tree below in "apply" mode (the copying snapshotter).
 * - Directories get their mtimes last, after their content stopped changing them.
 * - `trusted.overlay.*` attributes in the tar are dropped: they would steer the overlay mount.
 */

import type { Chunks } from "../util/byte-source.js";
import type { TarHeader } from "../util/tar/header.js";
import { readTar, TarFormatError } from "../util/tar/reader.js";
import { InvalidLayer } from "./errors.js";
import {
  type BatchOptions,
  FsOpsBatch,
  type Owner,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  type TreeRoot,
} from "./fsops.js";

export type WhiteoutMode = "overlay" | "apply";

export const WHITEOUT_PREFIX = ".wh.";
export const OPAQUE_MARKER = ".wh..wh..opq";
export const OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";

export interface UnpackStats {
  entries: number;
  /** Bytes of regular-file data written. */
  bytes: number;
}

/** "a/./b/" → "a/b"; "/etc" → "etc"; "" for the root; throws for ".." escaping the root. */
export function cleanPath(name: string, what = "entry"): string {
  const out: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length === 0)
        throw new InvalidLayer(`layer ${what} "${name}" climbs out of the layer with ".."`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out.join("/");
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

function baseOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** What unpacking has made so far in this layer, to check later entries against. */
class LayerIndex {
  readonly dirs = new Set<string>([""]);
  readonly symlinks = new Set<string>();
  readonly nondirs = new Set<string>();
  readonly dirTimes = new Map<string, number>();
  /** Names created under each directory by this layer (what an opaque marker must keep). */
  readonly children = new Map<string, Set<string>>();

  /** Refuses a path that would pass through a symlink this layer created. */
  checkParents(path: string, name: string): void {
    for (let p = parentOf(path); p !== ""; p = parentOf(p))
      if (this.symlinks.has(p))
        throw new InvalidLayer(
          `layer entry "${name}" goes through the symlink "${p}" made by the same layer`,
        );
  }

  record(path: string, type: TarHeader["type"]): void {
    this.symlinks.delete(path);
    this.nondirs.delete(path);
    if (type === "directory") this.dirs.add(path);
    else {
      this.dirs.delete(path);
      this.nondirs.add(path);
      if (type === "symlink") this.symlinks.add(path);
    }
    const parent = parentOf(path);
    if (path === "") return;
    const set = this.children.get(parent) ?? new Set<string>();
    this.children.set(parent, set);
    set.add(baseOf(path));
  }
}

const DEFAULT_DIR: Owner = { mode: 0o755, uid: 0, gid: 0 };

/**
 * Unpacks into `root` (a directory, or a container's root with `options.dir` the directory in
 * it to unpack into). `durable: false`: not synced to disk at the end (a build context, a copy
 * into a container).
 */
export async function unpackLayer(
  tar: Chunks,
  root: TreeRoot,
  mode: WhiteoutMode,
  options: Pick<BatchOptions, "durable" | "dir"> & {
    /** false: a character or block device entry is refused (a plugin's root, from anyone). */
    devices?: boolean;
  } = {},
): Promise<UnpackStats> {
  const ops = new FsOpsBatch(root, options);
  const index = new LayerIndex();
  const stats: UnpackStats = { entries: 0, bytes: 0 };

  /** Creates missing parents that the tar did not list, as tar does (0755 root:root). */
  const ensureParents = async (path: string) => {
    const missing: string[] = [];
    for (let p = parentOf(path); p !== "" && !index.dirs.has(p); p = parentOf(p)) missing.unshift(p);
    for (const p of missing) {
      // "apply" mode writes over the parent's tree, where the directory may exist already: the
      // helper keeps an existing directory's owner and mode only for entries the tar listed.
      await ops.mkdir(p, DEFAULT_DIR, true);
      index.record(p, "directory");
    }
  };

  try {
    for await (const entry of readTar(tar)) {
      const h = entry.header;
      stats.entries++;
      const path = cleanPath(h.name);
      index.checkParents(path, h.name);
      const base = baseOf(path);
      const parent = parentOf(path);

      if (base.startsWith(WHITEOUT_PREFIX)) {
        await ensureParents(path);
        if (base === OPAQUE_MARKER) {
          if (mode === "overlay") await ops.xattr(parent, OVERLAY_OPAQUE_XATTR, Buffer.from("y"));
          else await ops.clear(parent, [...(index.children.get(parent) ?? [])]);
        } else if (!base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
          // Other ".wh..wh." names are AUFS bookkeeping (hard-link dirs), meaningless here.
          const target = parent
            ? `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`
            : base.slice(WHITEOUT_PREFIX.length);
          if (mode === "overlay") {
            await ops.mknod(target, S_IFCHR, { mode: 0, uid: h.uid, gid: h.gid }, 0, 0);
            index.record(target, "char");
          } else await ops.remove(target);
        }
        continue;
      }

      if (options.devices === false && (h.type === "char" || h.type === "block"))
        throw new InvalidLayer(`layer entry "${h.name}" is a device node, which this tree may not hold`);
      if (path !== "") await ensureParents(path);
      const owner: Owner = { mode: h.mode, uid: h.uid, gid: h.gid };
      switch (h.type) {
        case "directory":
          await ops.mkdir(path, owner);
          index.dirTimes.set(path, h.mtime);
          break;
        case "file":
          await ops.file(path, owner, h.size, entry.body);
          stats.bytes += h.size;
          break;
        case "symlink":
          await ops.symlink(path, h.linkname, owner);
          break;
        case "link": {
          const target = cleanPath(h.linkname, "hard link target");
          index.checkParents(target, h.linkname);
          if (!index.nondirs.has(target))
            throw new InvalidLayer(
              `layer entry "${h.name}" is a hard link to "${h.linkname}", which is not an earlier file of the same layer`,
            );
          await ops.link(path, target);
          break;
        }
        case "char":
        case "block":
        case "fifo": {
          const type = h.type === "char" ? S_IFCHR : h.type === "block" ? S_IFBLK : S_IFIFO;
          await ops.mknod(path, type, owner, h.devmajor, h.devminor);
          break;
        }
      }
      if (path === "" && h.type !== "directory")
        throw new InvalidLayer(`layer entry "${h.name}" replaces the layer root`);
      index.record(path, h.type);
      for (const [name, value] of h.xattrs)
        if (!name.startsWith("trusted.overlay.")) await ops.xattr(path, name, value);
      if (h.type !== "directory" && h.type !== "link") await ops.times(path, h.mtime);
    }
    for (const [path, mtime] of index.dirTimes) if (index.dirs.has(path)) await ops.times(path, mtime);
    await ops.finish();
  } catch (err) {
    await ops.abort();
    if (err instanceof TarFormatError)
      throw new InvalidLayer(`bad layer tar: ${err.message}`, { cause: err });
    throw err;
  }
  return stats;
}
