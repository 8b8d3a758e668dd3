/**
 * Address management for one network: which addresses of its subnet are leased to which
 * container, kept in a file that is replaced atomically on every change, so that an address is
 * never handed out twice, also across a daemon crash. The gateway, the network and broadcast
 * addresses are never leased.
 */
import { readFileSync } from "node:fs";
import { Conflict, InvalidArgument } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { contains, formatIp, formatSubnet, hostRange, parseIp, type Subnet, subnetSize } from "./ip.js";

export class AddressPoolExhausted extends Conflict {
  constructor(subnet: Subnet) {
    super(
      `no available IPv${subnet.family} addresses on this network's address pools: ${formatSubnet(subnet)}`,
    );
  }
}

/** The pure part: picks an address given the leases. */
export function pickAddress(
  subnet: Subnet,
  gateway: bigint,
  leased: ReadonlySet<bigint>,
  requested?: bigint,
  after = subnet.base,
  pool: Subnet = subnet,
): bigint {
  const hosts = hostRange(subnet);
  // Dynamic addresses come from the pool (--ip-range), within the subnet's host addresses.
  const first = hosts.first > pool.base ? hosts.first : pool.base;
  const poolLast = pool.base + subnetSize(pool) - 1n;
  const last = hosts.last < poolLast ? hosts.last : poolLast;
  if (requested !== undefined) {
    if (!contains(subnet, requested) || requested < hosts.first || requested > hosts.last)
      throw new InvalidArgument(
        `invalid address ${formatIp(requested, subnet.family)}: it is not in the network's subnet`,
      );
    if (requested === gateway || leased.has(requested))
      throw new Conflict(`Address already in use: ${formatIp(requested, subnet.family)}`);
    return requested;
  }
  // Round-robin from the last one handed out, as docker does: a freed address is not reused at
  // once. At most leased.size + 1 candidates are taken (the gateway too), so that many + 1 tries
  // find a free one when there is one, however large an IPv6 subnet is.
  const count = last - first + 1n;
  const start = after < first - 1n ? first - 1n : after > last ? last : after;
  const tries = count < BigInt(leased.size + 2) ? count : BigInt(leased.size + 2);
  for (let i = 1n; i <= tries; i++) {
    const candidate = first + ((start - first + i + count) % count);
    if (candidate !== gateway && !leased.has(candidate)) return candidate;
  }
  throw new AddressPoolExhausted(subnet);
}

/** Addresses as written (older IPv4 files hold numbers). */
interface LeaseFile {
  last: string | number;
  leases: Record<string, string | number>;
}

export class Ipam {
  constructor(
    private readonly file: string,
    private readonly subnet: Subnet,
    private readonly gateway: bigint,
    private readonly pool: Subnet = subnet,
    /** Auxiliary addresses: never handed out. */
    private readonly reserved: readonly bigint[] = [],
  ) {}

  private value(a: string | number): bigint {
    return typeof a === "number" ? BigInt(a) : parseIp(a, this.subnet.family).value;
  }

  private read(): { last: bigint; leases: Map<string, bigint> } {
    try {
      const f = JSON.parse(readFileSync(this.file, "utf8")) as LeaseFile;
      return {
        last: this.value(f.last),
        leases: new Map(Object.entries(f.leases).map(([k, v]) => [k, this.value(v)])),
      };
    } catch {
      return { last: this.subnet.base, leases: new Map() };
    }
  }

  /** The container's address: its existing lease, or a new one (`requested` when given). */
  allocate(containerId: string, requested?: string): string {
    const state = this.read();
    const held = state.leases.get(containerId);
    if (held !== undefined) return formatIp(held, this.subnet.family);
    const address = pickAddress(
      this.subnet,
      this.gateway,
      new Set([...state.leases.values(), ...this.reserved]),
      requested === undefined ? undefined : parseIp(requested, this.subnet.family).value,
      state.last,
      this.pool,
    );
    state.leases.set(containerId, address);
    if (requested === undefined) state.last = address;
    this.write(state);
    return formatIp(address, this.subnet.family);
  }

  release(containerId: string): void {
    const state = this.read();
    if (!state.leases.delete(containerId)) return;
    this.write(state);
  }

  /**
   * Atomic, not synced: a daemon crash keeps what was written (the page cache survives it), and a
   * power loss takes every lease's container with it (reconcile frees them at the next start).
   */
  private write(state: { last: bigint; leases: Map<string, bigint> }): void {
    const f = this.subnet.family;
    const file: LeaseFile = {
      last: formatIp(state.last, f),
      leases: Object.fromEntries([...state.leases].map(([k, v]) => [k, formatIp(v, f)])),
    };
    writeFileAtomicSync(this.file, JSON.stringify(file), 0o644, { durable: false });
  }

  holders(): string[] {
    return [...this.read().leases.keys()];
  }
}
