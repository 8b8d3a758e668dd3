/**
 * Reads a file a compose file names (a secret, a config, an env_file). The compose file may come
 * from anyone: a path to a FIFO would hang the deploy, /dev/zero would fill the memory, a
 * directory is a mistake. The file is opened without blocking and checked through its
 * descriptor (so a swap between a check and the open cannot pass), then read up to a limit.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { ComposeError } from "./fields.js";

/** swarm's limit for a secret's or a config's data (500 KiB); env files get the same. */
export const FILE_LIMIT = 500 * 1024;

export function readRegularFile(path: string, field: string, limit = FILE_LIMIT): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new ComposeError(
      field,
      `names ${path}, which cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ComposeError(field, `names ${path}, which is not a regular file`);
    if (st.size > limit)
      throw new ComposeError(field, `names ${path}, which is larger than ${limit / 1024} KiB`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
