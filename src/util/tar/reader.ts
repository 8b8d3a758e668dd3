/**
 * A streaming tar reader: ustar, pax (local and global records, `path`, `linkpath`, `size`,
 * `uid`, `gid`, `mtime`, `SCHILY.xattr.*`) and GNU long names/links, the formats that Docker,
 * containerd, Go's archive/tar and GNU tar write into image layers. Entries come one at a time;
 * each body must be read (or is skipped) before the next header is parsed.
 */
import { ByteSource, type Chunks, TruncatedStream } from "../byte-source.js";
import {
  BLOCK,
  decodeHeader,
  decodePax,
  type EntryType,
  GNU_LONGLINK,
  GNU_LONGNAME,
  isZeroBlock,
  PAX_GLOBAL,
  PAX_LOCAL,
  padding,
  type TarHeader,
} from "./header.js";

export interface TarEntry {
  header: TarHeader;
  /** The entry's data (regular files only); read it before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

export class TarFormatError extends Error {}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file", // contiguous file: a regular file everywhere that matters
  "1": "link",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

// Extension records are small; a huge one is an attack on memory, not a real name.
const MAX_EXTENSION = 1024 * 1024;
const XATTR_PREFIX = "SCHILY.xattr.";

export async function* readTar(source: Chunks): AsyncGenerator<TarEntry> {
  const input = new ByteSource(source);
  const global = new Map<string, Buffer>();
  let local = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await readBlock(input);
    if (!block) return; // a tar without an end-of-archive marker
    if (isZeroBlock(block)) {
      await input.drain();
      return;
    }
    let raw: ReturnType<typeof decodeHeader>;
    try {
      raw = decodeHeader(block);
    } catch (err) {
      throw new TarFormatError((err as Error).message);
    }
    const extension = raw.typeflag;
    if (
      extension === PAX_LOCAL ||
      extension === PAX_GLOBAL ||
      extension === GNU_LONGNAME ||
      extension === GNU_LONGLINK
    ) {
      if (raw.size > MAX_EXTENSION) throw new TarFormatError(`tar extension record of ${raw.size} bytes`);
      const data = await readData(input, raw.size, "extension header");
      if (extension === PAX_LOCAL) local = decodePaxSafe(data);
      else if (extension === PAX_GLOBAL) for (const [k, v] of decodePaxSafe(data)) global.set(k, v);
      else {
        const nul = data.indexOf(0);
        const text = data.subarray(0, nul < 0 ? data.length : nul).toString("utf8");
        if (extension === GNU_LONGNAME) longName = text;
        else longLink = text;
      }
      continue;
    }
    const type = TYPES[extension];
    const pax = new Map([...global, ...local]);
    const text = (key: string) => pax.get(key)?.toString("utf8");
    const numeric = (key: string, fallback: number) => {
      const v = text(key);
      if (v === undefined) return fallback;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new TarFormatError(`bad pax ${key} "${v}"`);
      return n;
    };
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of pax) if (k.startsWith(XATTR_PREFIX)) xattrs.set(k.slice(XATTR_PREFIX.length), v);
    const header: TarHeader = {
      name: text("path") ?? longName ?? raw.name,
      type: type ?? "file",
      mode: raw.mode & 0o7777,
      uid: numeric("uid", raw.uid),
      gid: numeric("gid", raw.gid),
      size: numeric("size", raw.size),
      mtime: numeric("mtime", raw.mtime),
      linkname: text("linkpath") ?? longLink ?? raw.linkname,
      uname: text("uname") ?? raw.uname,
      gname: text("gname") ?? raw.gname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
      xattrs,
    };
    local = new Map();
    longName = undefined;
    longLink = undefined;
    if (!type) throw new TarFormatError(`unsupported tar entry type "${extension}" for ${header.name}`);
    // Only regular files carry data; a size on links or dirs is ignored, as GNU tar does.
    const dataSize = type === "file" ? header.size : 0;
    if (type !== "file") header.size = 0;
    let read = 0;
    const chunks = input.chunks(dataSize);
    yield {
      header,
      body: (async function* () {
        for await (const chunk of wrapTruncation(chunks, header.name)) {
          read += chunk.length;
          yield chunk;
        }
      })(),
    };
    // Whatever the consumer did not read (a directory's nothing, a skipped file) is skipped here.
    await skipBytes(input, dataSize - read, header.name);
    await skipBytes(input, padding(dataSize), header.name);
  }
}

function decodePaxSafe(data: Buffer): Map<string, Buffer> {
  try {
    return decodePax(data);
  } catch (err) {
    throw new TarFormatError((err as Error).message);
  }
}

async function* wrapTruncation(chunks: AsyncGenerator<Buffer>, name: string): AsyncGenerator<Buffer> {
  try {
    yield* chunks;
  } catch (err) {
    if (err instanceof TruncatedStream) throw new TarFormatError(`tar stream truncated inside ${name}`);
    throw err;
  }
}

async function readBlock(input: ByteSource): Promise<Buffer | undefined> {
  try {
    return await input.read(BLOCK);
  } catch (err) {
    if (err instanceof TruncatedStream) throw new TarFormatError("tar stream truncated inside a header");
    throw err;
  }
}

async function readData(input: ByteSource, size: number, what: string): Promise<Buffer> {
  const total = size + padding(size);
  if (total === 0) return Buffer.alloc(0);
  const data = await input.read(total).catch((err) => {
    throw err instanceof TruncatedStream ? new TarFormatError(`tar stream truncated inside ${what}`) : err;
  });
  if (!data) throw new TarFormatError(`tar stream truncated inside ${what}`);
  return data.subarray(0, size);
}

async function skipBytes(input: ByteSource, n: number, name: string): Promise<void> {
  if (n === 0) return;
  try {
    await input.skip(n);
  } catch (err) {
    throw err instanceof TruncatedStream ? new TarFormatError(`tar stream truncated inside ${name}`) : err;
  }
}
