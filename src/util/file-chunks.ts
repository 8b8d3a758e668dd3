/** A file's bytes, chunk by chunk, for whoever streams them on (a tar, a hash, a copy). */
import { createReadStream, readFileSync } from "node:fs";

const SMALL_FILE = 64 * 1024;

/** A small file in one read (a stream's set-up costs more than its bytes), a larger one streamed. */
export function fileChunks(path: string, size: number): Iterable<Buffer> | AsyncIterable<Buffer> {
  return size <= SMALL_FILE ? [readFileSync(path)] : (createReadStream(path) as AsyncIterable<Buffer>);
}
