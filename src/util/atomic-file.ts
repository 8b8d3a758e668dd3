import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";

/**
 * Replaces `path` with `data` so that a reader (or a crash) sees the old content or the new one,
 * never a mix: write a temporary file beside it, fsync, rename. `durable: false` leaves out the
 * fsync, for state that a power loss makes moot anyway (it describes processes in /run).
 */
export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
  options: { durable?: boolean } = {},
): void {
  const tmp = `${path}.tmp${process.pid}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    if (options.durable !== false) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp${process.pid}.${Math.random().toString(36).slice(2, 8)}`;
  const file = await open(tmp, "w", mode);
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (err) {
    await file.close();
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await file.close();
  await rename(tmp, path);
}
