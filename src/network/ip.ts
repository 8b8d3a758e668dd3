/**
 * IPv4 and IPv6 addresses and subnets as big integers: parsing, formatting (IPv6 as RFC 5952
 * writes it), membership and overlap. One set of functions for both families, so that the IPAM
 * and the network checks have one code path.
 */
import { InvalidArgument } from "../errors.js";

export type Family = 4 | 6;

export interface Subnet {
  family: Family;
  /** The network address. */
  base: bigint;
  prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

function parse4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((n, p) => n * 256n + BigInt(p), 0n);
}

function parse6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.includes(":::")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return all.reduce((n, g) => (n << 16n) | BigInt(`0x${g}`), 0n);
}

/** An address of either family (or of `family` only), undefined when it is none. */
function tryParse(text: string, family?: Family): { family: Family; value: bigint } | undefined {
  const v4 = family !== 6 ? parse4(text) : undefined;
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = family !== 4 ? parse6(text) : undefined;
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

/** An address of either family ("10.0.0.1", "fd00::1"). */
export function parseIp(text: string, family?: Family): { family: Family; value: bigint } {
  const ip = tryParse(text, family);
  if (!ip) throw new InvalidArgument(`invalid ${family ? `IPv${family} ` : "IP "}address "${text}"`);
  return ip;
}

export function formatIp(value: bigint, family: Family): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups (the first of equals) becomes "::".
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

/**
 * "a.b.c.d/len" or "x::/len", normalised to the network address. IPv4 prefixes run from 8 to 30
 * (room for a gateway and hosts); IPv6 from 48 to 124.
 */
export function parseSubnet(text: string, family?: Family): Subnet {
  const slash = text.lastIndexOf("/");
  const prefix = Number(text.slice(slash + 1));
  const address =
    slash > 0 && /^\d{1,3}$/.test(text.slice(slash + 1)) ? tryParse(text.slice(0, slash), family) : undefined;
  const limits = address && (address.family === 4 ? [8, 30] : [48, 124]);
  if (!address || !limits || prefix < limits[0]! || prefix > limits[1]!)
    throw new InvalidArgument(
      family === 6 || address?.family === 6
        ? `invalid subnet "${text}": use an IPv6 prefix such as fd00:1::/64, with a length between 48 and 124`
        : `invalid subnet "${text}": use a.b.c.d/len with len between 8 and 30`,
    );
  const hostBits = BigInt(BITS[address.family] - prefix);
  return { family: address.family, base: (address.value >> hostBits) << hostBits, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIp(s.base, s.family)}/${s.prefix}`;
}

export function subnetSize(s: Subnet): bigint {
  return 1n << BigInt(BITS[s.family] - s.prefix);
}

export function contains(s: Subnet, address: bigint): boolean {
  return address >= s.base && address < s.base + subnetSize(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return a.family === b.family && a.base < b.base + subnetSize(b) && b.base < a.base + subnetSize(a);
}

/** The host addresses a subnet hands out: IPv4 keeps its network and broadcast addresses back. */
export function hostRange(s: Subnet): { first: bigint; last: bigint } {
  return { first: s.base + 1n, last: s.base + subnetSize(s) - (s.family === 4 ? 2n : 1n) };
}
