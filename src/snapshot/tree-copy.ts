/**
 * A copy of one entry of a tree, and what is under it, into a batch of writes: COPY and ADD in
 * a build, a RUN step's writable bind, the first fill of a volume from its image. The source is
 * read through the tree reader (it is untrusted too: a context, an image) and the copy written
 * by the batch, so neither side follows a symlink out of its tree. Owners, modes, times,
 * extended attributes (but overlay's own), hard links within the copy, devices and fifos are
 * kept; sockets are not copied.
 */
import type { FsOpsBatch, Owner, TreeRoot } from "./fsops.js";
import { S_IFBLK, S_IFCHR, S_IFIFO } from "./fsops.js";
import { walkTree } from "./tree-reader.js";

export interface CopyOptions {
  /** Every entry's owner (--chown); otherwise each keeps its own, or root's with rootOwned. */
  uid?: number;
  gid?: number;
  /** Every entry's mode (--chmod). */
  mode?: number;
  /** Files of a build context belong to root, whatever their owner on the client. */
  rootOwned?: boolean;
  /** A destination directory that exists already keeps its owner and mode (COPY into it). */
  keepTop?: boolean;
}

/**
 * Copies `path` of `root` (a symlink there followed inside the root) to `dest`, a path of the
 * batch: a directory's content goes into `dest`, anything else becomes `dest`.
 */
export async function copyTree(
  ops: FsOpsBatch,
  root: TreeRoot,
  path: string,
  dest: string,
  o: CopyOptions,
): Promise<void> {
  // Directories get their times after their content, which changes them.
  const open: { rel: string; target: string; mtime: number }[] = [];
  const closeDirsNotAbove = async (rel: string | undefined) => {
    for (let top = open.at(-1); top; top = open.at(-1)) {
      if (rel !== undefined && (top.rel === "" || rel.startsWith(`${top.rel}/`))) return;
      await ops.times(top.target, top.mtime);
      open.pop();
    }
  };
  const firstOfInode = new Map<string, string>();
  for await (const e of walkTree(root, path, { follow: true, content: true, xattrs: true })) {
    await closeDirsNotAbove(e.path);
    const target = e.path ? (dest ? `${dest}/${e.path}` : e.path) : dest;
    const owner: Owner = {
      mode: o.mode ?? e.mode,
      uid: o.uid ?? (o.rootOwned ? 0 : e.uid),
      gid: o.gid ?? (o.rootOwned ? 0 : e.gid),
    };
    const mtime = Math.floor(e.mtime);
    if (e.nlink > 1 && e.type !== "directory") {
      const key = `${e.dev}:${e.ino}`;
      const first = firstOfInode.get(key);
      if (first !== undefined) {
        await ops.link(target, first);
        continue;
      }
      firstOfInode.set(key, target);
    }
    switch (e.type) {
      case "directory":
        await ops.mkdir(
          target,
          owner,
          e.path === "" && o.keepTop === true && o.uid === undefined && o.mode === undefined,
        );
        open.push({ rel: e.path, target, mtime });
        break;
      case "symlink":
        await ops.symlink(target, e.linkTarget, owner);
        continue; // a symlink's own times are not kept, as docker's copy does not
      case "file":
        await ops.file(target, owner, e.size, e.body ?? []);
        break;
      case "fifo":
        await ops.mknod(target, S_IFIFO, owner);
        break;
      case "char":
      case "block":
        await ops.mknod(target, e.type === "char" ? S_IFCHR : S_IFBLK, owner, e.devMajor, e.devMinor);
        break;
      case "socket":
        continue;
    }
    for (const [name, value] of e.xattrs)
      if (!name.startsWith("trusted.overlay.")) await ops.xattr(target, name, value);
    if (e.type !== "directory") await ops.times(target, mtime);
  }
  await closeDirsNotAbove(undefined);
}
