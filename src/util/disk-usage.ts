/** Bytes allocated and inodes used under a directory, hard links counted once (like `du`). */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

export async function diskUsage(path: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<number>();
  let size = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (seen.has(st.ino)) return;
    seen.add(st.ino);
    size += st.blocks * 512;
    if (st.isDirectory()) for (const name of await readdir(p)) await walk(join(p, name));
  };
  await walk(path);
  return { size, inodes: seen.size };
}
