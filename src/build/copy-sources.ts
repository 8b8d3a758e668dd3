/**
 * The sources of COPY and ADD: patterns (Go filepath.Match globs) matched in the build context
 * or in another image's tree, and their content checksum for the build cache (paths, types,
 * modes and bytes; never times, so a touched but unchanged file still hits).
 *
 * Both trees are untrusted and read through the tree reader: a path resolves inside its tree,
 * symlinks included, the last one too (as BuildKit and the classic builder resolve a context
 * path "in scope"). A context symlink to /etc names the context's own etc, which is not there:
 * "file not found in build context", as docker says.
 */
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { TreeRoot } from "../snapshot/fsops.js";
import { listInTree, walkTree, withTreeReader } from "../snapshot/tree-reader.js";
import { DockerfileError } from "./dockerfile.js";
import { globRegExp } from "./dockerignore.js";

/** One matched source: a path in a tree (the context, an image's, downloads), and what it is. */
export interface Source {
  root: TreeRoot;
  /** Relative to the tree's root; "" for the root itself. */
  rel: string;
  isDir: boolean;
  /** Fetched from a URL by ADD (never unpacked). */
  downloaded?: boolean;
}

const GLOB = /[*?[]/;

/** The sources `patterns` name in the tree at `root`. */
export async function matchSources(
  root: TreeRoot,
  patterns: string[],
  ins: { line: number; name: string },
): Promise<Source[]> {
  const out: Source[] = [];
  for (const pattern of patterns) {
    const rel = posix.normalize(`/${pattern}`).slice(1).replace(/\/$/, "");
    const found: string[] = [];
    if (GLOB.test(rel)) await globWalk(root, "", rel.split("/"), found);
    else found.push(rel);
    const entries = await withTreeReader((r) => r.statMany(root, found, { follow: true }));
    let matched = 0;
    entries.forEach((e, i) => {
      if (!e) return;
      out.push({ root, rel: found[i]!, isDir: e.type === "directory" });
      matched++;
    });
    if (!matched)
      throw new DockerfileError(
        ins.line,
        `${ins.name} failed: file not found in build context or excluded by .dockerignore: stat ${pattern}: file does not exist`,
      );
  }
  return out;
}

async function globWalk(root: TreeRoot, dir: string, parts: string[], out: string[]): Promise<void> {
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
  for (const name of (await listInTree(root, dir)) ?? [])
    if (re.test(name)) await globWalk(root, dir ? `${dir}/${name}` : name, rest, out);
}

/** A digest of the sources' trees: names, types, modes, owners, link targets and file bytes. */
export async function checksumSources(sources: Source[]): Promise<string> {
  const hash = createHash("sha256");
  for (const s of sources)
    for await (const e of walkTree(s.root, s.rel, { follow: true, content: true })) {
      hash.update(`${e.path ? `${s.rel}/${e.path}` : s.rel}\0${e.type}\0${e.mode}\0${e.uid}:${e.gid}\0`);
      hash.update(e.linkTarget);
      for await (const chunk of e.body ?? []) hash.update(chunk);
      hash.update("\0");
    }
  return hash.digest("hex");
}
