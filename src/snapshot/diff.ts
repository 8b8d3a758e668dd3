/**
 * The changes of an overlay upper directory as an OCI layer tar (image-spec layer.md): files,
 * directories, links and devices as they are, overlayfs whiteouts (0/0 character devices)
 * as `.wh.<name>` entries and opaque directories (trusted.overlay.opaque=y) followed by
 * `.wh..wh..opq`. Entries come in lexical order, parents before children, hard links after the
 * first path of their inode, with owners, modes, mtimes and extended attributes (read by
 * berth-fsops in one run; overlay's own trusted.overlay.* are left out).
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import type { TarHeader } from "../util/tar/header.js";
import { type TarInput, writeTar } from "../util/tar/writer.js";
import { readXattrs } from "./fsops.js";
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from "./unpack.js";

interface Found {
  path: string;
  st: import("node:fs").Stats;
}

async function walk(root: string): Promise<Found[]> {
  const out: Found[] = [];
  const visit = async (rel: string) => {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, path));
      out.push({ path, st });
      if (st.isDirectory()) await visit(path);
    }
  };
  await visit("");
  return out;
}

/** The layer tar of `upperDir`'s changes, as a stream. */
export async function* diffUpperDir(upperDir: string): AsyncGenerator<Buffer> {
  const found = await walk(upperDir);
  const xattrs = await readXattrs(
    upperDir,
    found.filter((f) => !f.st.isSymbolicLink()).map((f) => f.path),
  );
  yield* writeTar(entries(upperDir, found, xattrs));
}

async function* entries(
  root: string,
  found: Found[],
  xattrs: Map<string, Map<string, Buffer>>,
): AsyncGenerator<TarInput> {
  const firstPathOfInode = new Map<number, string>();
  for (const { path, st } of found) {
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
    if (st.isCharacterDevice() && st.rdev === 0) {
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
        body: createReadStream(join(root, path)) as AsyncIterable<Buffer>,
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
