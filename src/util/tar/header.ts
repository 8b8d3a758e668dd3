/**
 * The tar header block (POSIX ustar, with the pax and GNU extensions that image layers use):
 * encode and decode one 512-byte block. Field offsets are those of POSIX.1-2001 "ustar".
 */

export const BLOCK = 512;

export type EntryType = "file" | "link" | "symlink" | "char" | "block" | "directory" | "fifo";

/** One entry as Berth sees it, after pax and GNU long-name records have been applied. */
export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; fractional when a pax `mtime` record gave nanoseconds. */
  mtime: number;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes, from pax `SCHILY.xattr.<name>` records (binary values kept as bytes). */
  xattrs: Map<string, Buffer>;
}

export const TYPEFLAG: Record<EntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

/** Type flags of records that describe the next entry rather than being one. */
export const PAX_LOCAL = "x";
export const PAX_GLOBAL = "g";
export const GNU_LONGNAME = "L";
export const GNU_LONGLINK = "K";

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

function str(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? length : nul).toString("utf8");
}

/** Octal, or GNU base-256 (high bit of the first byte set) for values that do not fit. */
function num(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = str(block, offset, length).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new Error(`bad octal number "${text}" in tar header`);
  return Number.parseInt(text, 8);
}

export function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

export function decodeHeader(block: Buffer): RawHeader {
  let stored = -1;
  try {
    stored = num(block, 148, 8);
  } catch {}
  if (stored !== checksum(block))
    throw new Error("tar header checksum mismatch (not a tar stream, or corrupt)");
  const magic = str(block, 257, 6);
  let name = str(block, 0, 100);
  // ustar splits long paths into prefix "/" name; old GNU tar uses those bytes for other fields.
  if (magic === "ustar") {
    const prefix = str(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    name,
    mode: num(block, 100, 8),
    uid: num(block, 108, 8),
    gid: num(block, 116, 8),
    size: num(block, 124, 12),
    mtime: num(block, 136, 12),
    typeflag: String.fromCharCode(block[156] || 0x30),
    linkname: str(block, 157, 100),
    uname: str(block, 265, 32),
    gname: str(block, 297, 32),
    devmajor: num(block, 329, 8),
    devminor: num(block, 337, 8),
  };
}

function putString(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, "utf8");
}

/** Writes an octal field, or base-256 when the value is too large for the field. */
function putNumber(block: Buffer, offset: number, length: number, value: number): void {
  const octal = Math.floor(value).toString(8);
  if (octal.length < length) {
    putString(block, offset, length, `${octal.padStart(length - 1, "0")}\0`);
    return;
  }
  let v = Math.floor(value);
  for (let i = length - 1; i > 0; i--) {
    block[offset + i] = v % 256;
    v = Math.floor(v / 256);
  }
  block[offset] = 0x80;
}

export function encodeHeader(h: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  putString(block, 0, 100, h.name);
  putNumber(block, 100, 8, h.mode);
  putNumber(block, 108, 8, h.uid);
  putNumber(block, 116, 8, h.gid);
  putNumber(block, 124, 12, h.size);
  putNumber(block, 136, 12, h.mtime);
  block.write(h.typeflag, 156, 1, "latin1");
  putString(block, 157, 100, h.linkname);
  putString(block, 257, 8, "ustar\x0000");
  putString(block, 265, 32, h.uname);
  putString(block, 297, 32, h.gname);
  putNumber(block, 329, 8, h.devmajor);
  putNumber(block, 337, 8, h.devminor);
  putString(block, 148, 8, `${checksum(block).toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** Pax records: "<length> <key>=<value>\n", where length counts the whole record. */
export function encodePax(records: [string, Buffer | string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [key, raw] of records) {
    const value = typeof raw === "string" ? Buffer.from(raw) : raw;
    const body = 1 + Buffer.byteLength(key) + 1 + value.length + 1;
    let length = body + String(body).length;
    if (String(length).length !== String(body).length) length = body + String(length).length;
    parts.push(Buffer.from(`${length} ${key}=`), value, Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

export function decodePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number.parseInt(data.subarray(pos, space).toString("latin1"), 10);
    if (!Number.isFinite(length) || length <= 0 || pos + length > data.length)
      throw new Error("bad pax record length");
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw new Error("bad pax record: no '='");
    out.set(record.subarray(0, eq).toString("utf8"), Buffer.from(record.subarray(eq + 1)));
    pos += length;
  }
  return out;
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
