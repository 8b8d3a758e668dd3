/**
 * .dockerignore as docker reads it (moby/patternmatcher): one pattern per line, `#` comments,
 * paths cleaned (a leading `/` and `./` dropped), Go's filepath.Match syntax (`*`, `?`, `[...]`)
 * plus `**` for any number of directories, `!` exceptions, and the last matching pattern wins.
 * A pattern that matches a directory excludes everything under it.
 */
import { InvalidArgument } from "../errors.js";
import { FsOpsBatch } from "../snapshot/fsops.js";
import { walkTree } from "../snapshot/tree-reader.js";

interface Pattern {
  exclude: boolean;
  regexp: RegExp;
  text: string;
}

function clean(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

/** A Go filepath.Match pattern (with docker's `**`) as an anchored regular expression. */
export function globRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // `**/` matches zero or more directories; a trailing `**` anything at all.
        if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 1);
      if (close < 0) throw new InvalidArgument(`.dockerignore: syntax error in pattern "${pattern}"`);
      let set = pattern.slice(i + 1, close);
      if (set.startsWith("^")) set = `^${set.slice(1)}`;
      re += `[${set.replace(/\\/g, "\\\\")}]`;
      i = close;
    } else if (c === "\\" && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

export class DockerIgnore {
  private readonly patterns: Pattern[];

  constructor(text: string) {
    this.patterns = [];
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const exclude = !line.startsWith("!");
      if (!exclude) line = line.slice(1).trim();
      const cleaned = clean(line);
      if (!cleaned) continue;
      this.patterns.push({ exclude, regexp: globRegExp(cleaned), text: cleaned });
    }
  }

  /** Whether `path` (relative to the context, `/`-separated) is left out of the build context. */
  ignores(path: string): boolean {
    const p = clean(path);
    let ignored = false;
    for (const pattern of this.patterns) {
      // A match on the path itself or on one of its parent directories.
      const parts = p.split("/");
      let matched = false;
      for (let n = parts.length; n >= 1 && !matched; n--)
        matched = pattern.regexp.test(parts.slice(0, n).join("/"));
      if (matched) ignored = pattern.exclude;
    }
    return ignored;
  }

  /**
   * Whether an entry is left out of the context entirely: an ignored directory keeps its
   * content when some `!` exception might bring part of it back.
   */
  excludes(path: string, isDir: boolean): boolean {
    return !ALWAYS_SENT.has(path) && this.leftOut(path, isDir);
  }

  private leftOut(path: string, isDir: boolean): boolean {
    if (!this.ignores(path)) return false;
    return !isDir || !this.patterns.some((p) => !p.exclude);
  }

  /**
   * Removes from the context directory `root` what this file excludes, once the Dockerfile has
   * been read: the Dockerfile and .dockerignore too when it lists them (docker's CLI sends them
   * always, and dockerd takes them out then, so that `COPY .` does not copy them); then the
   * ignored directories that no exception kept anything in.
   */
  async prune(root: string): Promise<void> {
    if (!this.patterns.length) return;
    const kept: { path: string; isDir: boolean }[] = [];
    const removed: string[] = [];
    let under: string | undefined;
    for await (const e of walkTree(root, "")) {
      if (!e.path || (under !== undefined && e.path.startsWith(under))) continue;
      under = undefined;
      const isDir = e.type === "directory";
      if (this.leftOut(e.path, isDir)) {
        removed.push(e.path);
        under = `${e.path}/`;
      } else kept.push({ path: e.path, isDir });
    }
    // Children come before their parents backwards: a directory knows whether anything in it stays.
    const holdsSomething = new Set<string>();
    for (const { path, isDir } of kept.reverse()) {
      if (isDir && this.ignores(path) && !holdsSomething.has(path)) removed.push(path);
      else holdsSomething.add(path.slice(0, Math.max(0, path.lastIndexOf("/"))));
    }
    if (!removed.length) return;
    const ops = new FsOpsBatch(root, { durable: false });
    try {
      for (const path of removed) await ops.remove(path);
      await ops.finish();
    } catch (err) {
      await ops.abort();
      throw err;
    }
  }
}

const ALWAYS_SENT = new Set([".dockerignore"]);
