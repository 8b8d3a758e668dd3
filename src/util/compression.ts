/**
 * gzip and zstd for layer streams. Node 20's zlib has gzip but no zstd: zstd layers are
 * decompressed by the `zstd` program (Debian's zstd package) as a pipe when it is installed,
 * and refused with a message saying so when it is not.
 */
import { spawn } from "node:child_process";
import { type Duplex, PassThrough, pipeline, Readable } from "node:stream";
import { constants, createGunzip, createGzip } from "node:zlib";
import type { Chunks } from "./byte-source.js";

export type Compression = "gzip" | "zstd" | "bzip2" | "xz" | "none";

export class UnsupportedCompression extends Error {}

async function* through(source: Chunks, transform: Duplex): AsyncGenerator<Buffer> {
  // pipeline destroys the transform with the source's error, which the loop below then throws.
  pipeline(Readable.from(source), transform, () => {});
  for await (const chunk of transform) yield chunk as Buffer;
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression a stream starts with, by its magic bytes. */
export function detectCompression(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  if (head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return "xz";
  return "none";
}

/** Whether a file starting with `head` (its first 512 bytes) is a tar archive, compressed or not. */
export function isArchive(head: Buffer): boolean {
  if (head.length >= 4 && detectCompression(head) !== "none") return true;
  return head.length >= 262 && head.subarray(257, 262).toString("latin1") === "ustar";
}

/** Peeks at the first chunk to decide, then decompresses (or passes through) the whole stream. */
export async function* decompress(
  source: Chunks,
  kind: Compression | "detect" = "detect",
): AsyncGenerator<Buffer> {
  const iterator = (async function* () {
    yield* source;
  })();
  const first = await iterator.next();
  if (first.done) return;
  const head = Buffer.from(first.value);
  const rest = (async function* () {
    yield head;
    for await (const c of iterator) yield typeof c === "string" ? Buffer.from(c) : Buffer.from(c);
  })();
  const actual =
    kind === "detect" || kind === "none" ? (head.length >= 4 ? detectCompression(head) : "none") : kind;
  if (actual === "gzip") yield* through(rest, createGunzip({ chunkSize: 1 << 16 }));
  else if (actual === "none") yield* rest;
  else yield* program(actual, rest, ["-d", "-c", "-q"]);
}

export function gzip(source: Chunks, level = constants.Z_DEFAULT_COMPRESSION): AsyncGenerator<Buffer> {
  return through(source, createGzip({ level, chunkSize: 1 << 16 }));
}

const PACKAGES: Record<string, string> = { xz: "xz-utils" };

/** Node has no zstd, bzip2 or xz: Debian's programs of those names run as a pipe. */
async function* program(name: string, source: AsyncIterable<Buffer>, args: string[]): AsyncGenerator<Buffer> {
  const child = spawn(name, args, { stdio: ["pipe", "pipe", "pipe"] });
  const failed = new Promise<never>((_, reject) => {
    child.on("error", (err) =>
      reject(
        new UnsupportedCompression(
          (err as NodeJS.ErrnoException).code === "ENOENT"
            ? `${name}-compressed data: Node.js has no ${name}; install Debian's \`${PACKAGES[name] ?? name}\` package`
            : `${name}: ${err.message}`,
        ),
      ),
    );
  });
  failed.catch(() => {});
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const input = new PassThrough();
  pipeline(Readable.from(source), input, child.stdin, () => {});
  const exit = new Promise<number | null>((resolve) => child.on("close", resolve));
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const code = await Promise.race([exit, failed]);
    if (code !== 0) throw new UnsupportedCompression(`${name}: ${stderr.trim() || `exit ${code}`}`);
  } finally {
    if (child.exitCode === null) child.kill();
  }
}
