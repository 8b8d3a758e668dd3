/**
 * A streaming tar writer: ustar headers, with a pax record in front of an entry whenever ustar
 * cannot say it (long names, large sizes or ids, sub-second mtimes, extended attributes). The
 * output is an async generator of chunks, so it can feed a gzip stream or an HTTP upload with
 * back-pressure.
 */
import { BLOCK, encodeHeader, encodePax, PAX_LOCAL, padding, type TarHeader, TYPEFLAG } from "./header.js";

export interface TarInput {
  header: Partial<TarHeader> & Pick<TarHeader, "name" | "type">;
  /** The data of a regular file: exactly `header.size` bytes. */
  body?: AsyncIterable<Buffer> | Iterable<Buffer> | Buffer;
}

const USTAR_MAX_ID = 0o7777777;
const USTAR_MAX_SIZE = 0o77777777777;
const ZERO = Buffer.alloc(BLOCK * 2);

/** Splits a long path into ustar's prefix (155) and name (100), when a "/" allows it. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: "", name: path };
  for (let i = path.indexOf("/"); i >= 0; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name.length > 0)
      return { prefix, name };
  }
  return undefined;
}

export function entryBlocks(input: TarInput["header"]): Buffer[] {
  const h = {
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkname: "",
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: new Map<string, Buffer>(),
    ...input,
  };
  const size = h.type === "file" ? h.size : 0;
  const pax: [string, Buffer | string][] = [];
  const split = splitUstar(h.name);
  if (!split || /[^\x20-\x7e]/.test(h.name)) pax.push(["path", h.name]);
  if (Buffer.byteLength(h.linkname) > 100 || /[^\x20-\x7e]/.test(h.linkname))
    pax.push(["linkpath", h.linkname]);
  if (size > USTAR_MAX_SIZE) pax.push(["size", String(size)]);
  if (h.uid > USTAR_MAX_ID) pax.push(["uid", String(h.uid)]);
  if (h.gid > USTAR_MAX_ID) pax.push(["gid", String(h.gid)]);
  if (!Number.isInteger(h.mtime)) pax.push(["mtime", h.mtime.toFixed(9).replace(/\.?0+$/, "")]);
  for (const [name, value] of [...h.xattrs].sort(([a], [b]) => (a < b ? -1 : 1)))
    pax.push([`SCHILY.xattr.${name}`, value]);
  const blocks: Buffer[] = [];
  if (pax.length) {
    const data = encodePax(pax);
    blocks.push(
      encodeHeader({
        name: `PaxHeaders/${h.name.slice(0, 80)}`,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: data.length,
        mtime: Math.floor(h.mtime),
        typeflag: PAX_LOCAL,
        linkname: "",
        uname: "",
        gname: "",
        devmajor: 0,
        devminor: 0,
      }),
      data,
      Buffer.alloc(padding(data.length)),
    );
  }
  const ustarName = split ? split.name : h.name.slice(0, 100);
  const block = encodeHeader({
    name: ustarName,
    mode: h.mode,
    uid: Math.min(h.uid, USTAR_MAX_ID),
    gid: Math.min(h.gid, USTAR_MAX_ID),
    size: Math.min(size, USTAR_MAX_SIZE),
    mtime: Math.floor(h.mtime),
    typeflag: TYPEFLAG[h.type],
    linkname: h.linkname.slice(0, 100),
    uname: h.uname,
    gname: h.gname,
    devmajor: h.devmajor,
    devminor: h.devminor,
  });
  if (split?.prefix) {
    block.write(split.prefix, 345, 155, "utf8");
    // The checksum covers the prefix: recompute it.
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "latin1");
  }
  blocks.push(block);
  return blocks;
}

export async function* writeTar(
  entries: AsyncIterable<TarInput> | Iterable<TarInput>,
): AsyncGenerator<Buffer> {
  for await (const entry of entries) {
    const size = entry.header.type === "file" ? (entry.header.size ?? 0) : 0;
    yield* entryBlocks(entry.header);
    if (size === 0) continue;
    let written = 0;
    const body = entry.body ?? Buffer.alloc(0);
    for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
      written += chunk.length;
      if (written > size) throw new Error(`tar entry ${entry.header.name}: more data than its size ${size}`);
      yield chunk;
    }
    if (written !== size)
      throw new Error(`tar entry ${entry.header.name}: ${written} bytes of data, header says ${size}`);
    const pad = padding(size);
    if (pad) yield Buffer.alloc(pad);
  }
  yield ZERO;
}
