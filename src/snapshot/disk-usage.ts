/**
 * Bytes allocated and inodes used under a directory, hard links counted once (like `du`). The
 * directories measured (an upper directory, a volume) are written by containers, some running:
 * they are walked with the tree reader, which never follows a symlink out of them.
 */
import { walkTree } from "./tree-reader.js";

export async function diskUsage(path: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<string>();
  let size = 0;
  for await (const e of walkTree(path, "")) {
    const key = `${e.dev}:${e.ino}`;
    if (seen.has(key)) continue;
    seen.add(key);
    size += e.blocks * 512;
  }
  return { size, inodes: seen.size };
}
