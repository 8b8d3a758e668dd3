/** IPv4 addresses and subnets as numbers: parsing, formatting, membership. */
import { InvalidArgument } from "../errors.js";

export interface Subnet {
  /** The network address as an unsigned 32-bit number. */
  base: number;
  prefix: number;
}

export function parseAddress(text: string): number {
  const parts = text.split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw new InvalidArgument(`invalid IPv4 address "${text}"`);
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatAddress(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

export function parseSubnet(text: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  if (!m || Number(m[2]) > 30 || Number(m[2]) < 8)
    throw new InvalidArgument(`invalid subnet "${text}": use a.b.c.d/len with len between 8 and 30`);
  const prefix = Number(m[2]);
  const size = 2 ** (32 - prefix);
  const address = parseAddress(m[1]!);
  return { base: address - (address % size), prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatAddress(s.base)}/${s.prefix}`;
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

export function contains(s: Subnet, address: number): boolean {
  return address >= s.base && address < s.base + subnetSize(s);
}
