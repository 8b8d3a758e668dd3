/**
 * Trees as tar streams, all read through the tree reader (tree-reader.ts), so that a tree that
 * belongs to a container or an image is read inside its root and never through a symlink:
 * - a directory tree or one entry and what is under it (`docker cp`, `export`, a build context);
 * - the changes of an overlay upper directory as an OCI layer (image-spec layer.md): files,
 *   directories, links and devices as they are, overlayfs whiteouts (0/0 character devices) as
 *   `.wh.<name>` entries and opaque directories (trusted.overlay.opaque=y) followed by
 *   `.wh..wh..opq`;
 * - the changes from one whole tree to another (the copying snapshotter).
 * Entries come in lexical order, parents before children, hard links after the first path of
 * their inode, with owners, modes, mtimes and extended attributes (overlay's own
 * trusted.overlay.* left out).
 */
import type { TarHeader } from "../util/tar/header.js";
import { type TarInput, writeTar } from "../util/tar/writer.js";
import type { TreeRoot } from "./fsops.js";
import { type TreeEntry, type TreeReader, walkTree, withTreeReaderGenerator } from "./tree-reader.js";
import { OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX } from "./unpack.js";

export interface DirectoryTarOptions {
  /**
   * The name the start gets in the tar, its content going under it; "" (the default) names
   * entries relative to the start and leaves the start itself out (a whole tree).
   */
  name?: string;
  /** Leave out the content of directories on other mounts than the start's (`export`). */
  oneMount?: boolean;
  /** Entries left out with their content (.dockerignore). */
  exclude?: (path: string, isDir: boolean) => boolean;
  /** Extended attributes (default true); a build context goes without, as docker's CLI sends it. */
  xattrs?: boolean;
  /** Entries written after the tree's (a Dockerfile from standard input). */
  extra?: TarInput[];
}

/** The tree at `start` (a path in `root`, a symlink there not followed) as a tar. */
export async function* directoryTar(
  root: TreeRoot,
  start = "",
  options: DirectoryTarOptions = {},
): AsyncGenerator<Buffer> {
  const name = options.name ?? "";
  const xattrs = options.xattrs !== false;
  const tarName = (path: string) => (name ? (path ? `${name}/${path}` : name) : path);
  yield* writeTar(
    (async function* () {
      const links = new HardLinks();
      if (!options.exclude) {
        for await (const e of walkTree(root, start, { content: true, xattrs, oneMount: options.oneMount }))
          if (name || e.path) yield* tarInputs(e, tarName(e.path), links);
      } else {
        const exclude = options.exclude;
        // Names and types first, to leave excluded trees out unread; then each file read anew.
        yield* withTreeReaderGenerator(async function* (reader) {
          const kept: TreeEntry[] = [];
          let skipUnder: string | undefined;
          for await (const e of reader.walk(root, start, { oneMount: options.oneMount })) {
            if (skipUnder !== undefined && e.path.startsWith(skipUnder)) continue;
            skipUnder = undefined;
            if (e.path && exclude(e.path, e.type === "directory")) {
              skipUnder = `${e.path}/`;
              continue;
            }
            if (name || e.path) kept.push(e);
          }
          for await (const e of readAgain(reader, root, start, kept, xattrs))
            yield* tarInputs(e, tarName(e.path), links);
        });
      }
      yield* options.extra ?? [];
    })(),
  );
}

/** The layer tar of an overlay upper directory's changes. */
export function diffUpperDir(upperDir: string): AsyncGenerator<Buffer> {
  return directoryTar(upperDir);
}

/**
 * The changes from `lowerDir` to `upperDir`, two whole trees (the copying snapshotter's parent
 * and child), as a layer tar: what is new or differs in type, mode, owner, size, mtime, device
 * or link target, the directories leading to it, and a whiteout for each deleted top-most path.
 * Extended attributes alone changing is not seen (as in containerd's naive diff).
 */
export async function* diffDirectories(lowerDir: string, upperDir: string): AsyncGenerator<Buffer> {
  const listing = async (dir: string) => {
    const out: TreeEntry[] = [];
    for await (const e of walkTree(dir, "")) if (e.path) out.push(e);
    return out;
  };
  const lower = new Map((await listing(lowerDir)).map((e) => [e.path, e]));
  const upper = await listing(upperDir);
  const upperPaths = new Set(upper.map((e) => e.path));
  const changed = new Set<string>();
  const parentOf = (p: string) => p.slice(0, Math.max(0, p.lastIndexOf("/")));
  const mark = (p: string) => {
    for (let q = p; q && !changed.has(q); q = parentOf(q)) changed.add(q);
  };
  for (const e of upper) {
    const old = lower.get(e.path);
    if (!old || !same(old, e)) mark(e.path);
  }
  const deleted: TreeEntry[] = [];
  for (const [path, e] of lower) {
    const parent = parentOf(path);
    if (!upperPaths.has(path) && (parent === "" || upperPaths.has(parent))) {
      if (parent) mark(parent);
      deleted.push(e);
    }
  }
  const kept = upper.filter((e) => changed.has(e.path));
  const byPath = (a: { path: string }, b: { path: string }) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
  yield* writeTar(
    withTreeReaderGenerator(async function* (reader) {
      const links = new HardLinks();
      const found = readAgain(reader, upperDir, "", kept, true);
      let next = await found.next();
      // Deletions merge into the upper tree's changes in lexical order.
      for (const d of deleted.sort(byPath)) {
        while (!next.done && next.value.path < d.path) {
          yield* tarInputs(next.value, next.value.path, links);
          next = await found.next();
        }
        yield whiteout(d.path, d);
      }
      while (!next.done) {
        yield* tarInputs(next.value, next.value.path, links);
        next = await found.next();
      }
    }),
  );
}

function same(a: TreeEntry, b: TreeEntry): boolean {
  if (a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return false;
  if (a.devMajor !== b.devMajor || a.devMinor !== b.devMinor) return false;
  if (a.type === "directory") return true; // its content is compared entry by entry
  return a.size === b.size && a.mtime === b.mtime && a.linkTarget === b.linkTarget;
}

/**
 * `entries` (from a walk of `start` without content) again, each read anew with its extended
 * attributes and, for files, its content: what is described is what is read. An entry gone
 * meanwhile is left out.
 */
async function* readAgain(
  reader: TreeReader,
  root: TreeRoot,
  start: string,
  entries: TreeEntry[],
  xattrs: boolean,
): AsyncGenerator<TreeEntry> {
  const full = (p: string) => (start && p ? `${start}/${p}` : start || p);
  let i = 0;
  for await (const e of reader.entriesAt(
    root,
    entries.map((e) => full(e.path)),
    { content: true, xattrs },
  )) {
    const path = entries[i++]!.path;
    if (e) yield { ...e, path };
  }
}

/** The first path seen of each inode with several names: later ones become hard links to it. */
class HardLinks {
  private readonly first = new Map<string, string>();

  /** The earlier name of `e`'s inode, or undefined (and `name` remembered) when it is the first. */
  earlier(e: TreeEntry, name: string): string | undefined {
    if (e.nlink < 2 || e.type === "directory") return undefined;
    const key = `${e.dev}:${e.ino}`;
    const seen = this.first.get(key);
    if (seen === undefined) this.first.set(key, name);
    return seen;
  }
}

function whiteout(path: string, e: Pick<TreeEntry, "uid" | "gid" | "mtime">): TarInput {
  const slash = path.lastIndexOf("/");
  return {
    header: {
      name: `${path.slice(0, slash + 1)}${WHITEOUT_PREFIX}${path.slice(slash + 1)}`,
      type: "file",
      mode: 0o600,
      uid: e.uid,
      gid: e.gid,
      mtime: Math.floor(e.mtime),
    },
  };
}

/** The tar entries of one tree entry named `name`. */
function* tarInputs(e: TreeEntry, name: string, links: HardLinks): Generator<TarInput> {
  const base: Omit<TarHeader, "name" | "type"> = {
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size: 0,
    mtime: Math.floor(e.mtime),
    linkname: "",
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: new Map([...e.xattrs].filter(([k]) => !k.startsWith("trusted.overlay."))),
  };
  if (e.type === "char" && e.devMajor === 0 && e.devMinor === 0) {
    yield whiteout(name, e);
    return;
  }
  if (e.type === "directory") {
    yield { header: { ...base, name: `${name}/`, type: "directory" } };
    if (e.xattrs.get(OVERLAY_OPAQUE_XATTR)?.toString() === "y")
      yield {
        header: { ...base, name: `${name}/${OPAQUE_MARKER}`, type: "file", mode: 0o600, xattrs: new Map() },
      };
    return;
  }
  const earlier = links.earlier(e, name);
  if (earlier !== undefined) {
    yield { header: { ...base, name, type: "link", linkname: earlier } };
    return;
  }
  switch (e.type) {
    case "file":
      yield { header: { ...base, name, type: "file", size: e.size }, body: e.body ?? [] };
      return;
    case "symlink":
      yield { header: { ...base, name, type: "symlink", linkname: e.linkTarget } };
      return;
    case "char":
    case "block":
      yield { header: { ...base, name, type: e.type, devmajor: e.devMajor, devminor: e.devMinor } };
      return;
    case "fifo":
      yield { header: { ...base, name, type: "fifo" } };
      return;
    // Sockets are not part of a filesystem image: skipped, as docker does.
  }
}
