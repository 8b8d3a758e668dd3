/**
 * ASN.1 DER (X.690), only as much as the cluster CA needs: encoders for the types a certificate
 * and a certificate request are made of, and a reader that walks one level of elements at a
 * time. The reader meets a joining node's certificate request before anything about that node
 * is known, so it trusts no length: every length is checked against what is left, indefinite and
 * non-minimal lengths and multi-byte tags are refused, and it never recurses — the caller walks
 * down the structure it expects, one level per call, so nesting cannot exhaust the stack.
 */
import { InvalidArgument } from "../errors.js";

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// --- Encoding ---

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One element: its tag, its length, then the contents. */
export function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

export const sequence = (...items: Buffer[]) => tlv(TAG.SEQUENCE, ...items);
/** A SET whose members the caller gives in DER order (the CA's sets have one member each). */
export const set = (...items: Buffer[]) => tlv(TAG.SET, ...items);
export const octetString = (bytes: Buffer) => tlv(TAG.OCTET_STRING, bytes);
export const utf8String = (text: string) => tlv(TAG.UTF8_STRING, Buffer.from(text, "utf8"));
export const boolean = (value: boolean) => tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0]));

/** A BIT STRING of whole bytes (a key, a signature). */
export const bitString = (bytes: Buffer) => tlv(TAG.BIT_STRING, Buffer.from([0]), bytes);

/**
 * A BIT STRING of named bits (keyUsage): bit 0 is the most significant bit of the first byte and
 * DER drops trailing zero bits, saying in the first byte how many bits of the last are unused.
 */
export function namedBits(bits: number[]): Buffer {
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3]! |= 0x80 >> (bit & 7);
  return tlv(TAG.BIT_STRING, Buffer.from([7 - (highest & 7)]), bytes);
}

/** A non-negative INTEGER from its big-endian bytes (a serial number) or a small number. */
export function integer(value: Buffer | number): Buffer {
  let bytes = typeof value === "number" ? Buffer.from([value]) : value;
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  // A set top bit would make it negative (two's complement): a leading zero keeps it positive.
  return tlv(TAG.INTEGER, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  const bytes = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return tlv(TAG.OID, Buffer.from(bytes));
}

/** A time as RFC 5280 4.1.2.5 wants it: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-12-03T07:46:55.123Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050
    ? tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), "ascii"))
    : tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, "ascii"));
}

/** [n] EXPLICIT: a constructed context tag around whole elements. */
export const explicit = (n: number, ...items: Buffer[]) => tlv(0xa0 | n, ...items);
/** [n] IMPLICIT of a primitive type: the context tag replaces the type's own. */
export const implicit = (n: number, bytes: Buffer) => tlv(0x80 | n, bytes);

// --- Reading ---

/** One element of a DER buffer, as views into it (nothing is copied). */
export interface Element {
  tag: number;
  /** The whole element, tag and length included (what a signature covers). */
  raw: Buffer;
  contents: Buffer;
  /** Where the contents start in the whole buffer read, for messages. */
  contentsAt: number;
}

/** Length bytes beyond this would mean an element over 4 GiB: never valid here. */
const MAX_LENGTH_BYTES = 4;

/**
 * The element that starts at `offset` of `buf`, which starts at `base` of the whole buffer read;
 * `what` names the structure for messages.
 */
function elementAt(buf: Buffer, offset: number, base: number, what: string): Element {
  const malformed = (why: string) =>
    new InvalidArgument(`${what} is not valid DER: ${why} at byte ${base + offset}`);
  if (offset + 2 > buf.length) throw malformed("it ends inside an element's header");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw malformed("a multi-byte tag (none is used here)");
  const first = buf[offset + 1]!;
  let length = first;
  let header = 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0) throw malformed("an indefinite length (DER has none)");
    if (count > MAX_LENGTH_BYTES) throw malformed(`a length of ${count} bytes`);
    if (offset + 2 + count > buf.length) throw malformed("it ends inside an element's length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[offset + 2 + i]!;
    if (buf[offset + 2]! === 0 || length < 0x80) throw malformed("a length not in its shortest form");
    header += count;
  }
  const end = offset + header + length;
  if (end > buf.length)
    throw malformed(`an element of ${length} bytes where ${buf.length - offset - header} are left`);
  return {
    tag,
    raw: buf.subarray(offset, end),
    contents: buf.subarray(offset + header, end),
    contentsAt: base + offset + header,
  };
}

/** The single element `buf` holds, of the expected tag, with nothing after it. */
export function readElement(buf: Buffer, tag: number, what: string): Element {
  const el = elementAt(buf, 0, 0, what);
  if (el.raw.length !== buf.length)
    throw new InvalidArgument(`${what} is not valid DER: ${buf.length - el.raw.length} bytes after its end`);
  return expectTag(el, tag, what);
}

/** The elements directly inside a constructed one (one level: the caller walks further down). */
export function childrenOf(parent: Element, what: string, max = 64): Element[] {
  if (!(parent.tag & 0x20))
    throw new InvalidArgument(`${what} is not valid DER: a primitive element has no members`);
  const out: Element[] = [];
  for (let offset = 0; offset < parent.contents.length; ) {
    if (out.length === max) throw new InvalidArgument(`${what} has more than ${max} members`);
    const el = elementAt(parent.contents, offset, parent.contentsAt, what);
    out.push(el);
    offset += el.raw.length;
  }
  return out;
}

export function expectTag(el: Element | undefined, tag: number, what: string): Element {
  if (!el) throw new InvalidArgument(`${what} is missing`);
  if (el.tag !== tag)
    throw new InvalidArgument(
      `${what} has tag 0x${el.tag.toString(16).padStart(2, "0")} where 0x${tag.toString(16).padStart(2, "0")} was expected`,
    );
  return el;
}

// --- PEM (RFC 7468) ---

export function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
