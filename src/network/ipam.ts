/**
 * Address management for one network: which addresses of its subnet are leased to which
 * container, kept in a file that is replaced atomically on every change, so that an address is
 * never handed out twice, also across a daemon crash. The gateway, the network and broadcast
 * addresses are never leased.
 */
import { readFileSync } from "node:fs";
import { Conflict, InvalidArgument } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { contains, formatAddress, parseAddress, type Subnet, subnetSize } from "./ipv4.js";

export class AddressPoolExhausted extends Conflict {
  constructor(subnet: string) {
    super(`no available IPv4 addresses on this network's address pools: ${subnet}`);
  }
}

/** The pure part: picks an address given the leases. */
export function pickAddress(
  subnet: Subnet,
  gateway: number,
  leased: ReadonlySet<number>,
  requested?: number,
  after = subnet.base,
  pool: Subnet = subnet,
): number {
  const hostFirst = subnet.base + 1;
  const hostLast = subnet.base + subnetSize(subnet) - 2;
  // Dynamic addresses come from the pool (--ip-range), within the subnet's host addresses.
  const first = Math.max(hostFirst, pool.base);
  const last = Math.min(hostLast, pool.base + subnetSize(pool) - 1);
  if (requested !== undefined) {
    if (!contains(subnet, requested) || requested < hostFirst || requested > hostLast)
      throw new InvalidArgument(
        `invalid address ${formatAddress(requested)}: it is not in the network's subnet`,
      );
    if (requested === gateway || leased.has(requested))
      throw new Conflict(`Address already in use: ${formatAddress(requested)}`);
    return requested;
  }
  // Round-robin from the last one handed out, as docker does: a freed address is not reused at once.
  const count = last - first + 1;
  const start = Math.min(Math.max(after, first - 1), last);
  for (let i = 1; i <= count; i++) {
    const candidate = first + ((start - first + i + count) % count);
    if (candidate !== gateway && !leased.has(candidate)) return candidate;
  }
  throw new AddressPoolExhausted(`${formatAddress(subnet.base)}/${subnet.prefix}`);
}

interface LeaseFile {
  last: number;
  leases: Record<string, number>;
}

export class Ipam {
  constructor(
    private readonly file: string,
    private readonly subnet: Subnet,
    private readonly gateway: number,
    private readonly pool: Subnet = subnet,
    /** Auxiliary addresses: never handed out. */
    private readonly reserved: readonly number[] = [],
  ) {}

  private read(): LeaseFile {
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as LeaseFile;
    } catch {
      return { last: this.subnet.base, leases: {} };
    }
  }

  /** The container's address: its existing lease, or a new one (`requested` when given). */
  allocate(containerId: string, requested?: string): string {
    const state = this.read();
    const held = state.leases[containerId];
    if (held !== undefined) return formatAddress(held);
    const address = pickAddress(
      this.subnet,
      this.gateway,
      new Set([...Object.values(state.leases), ...this.reserved]),
      requested === undefined ? undefined : parseAddress(requested),
      state.last,
      this.pool,
    );
    state.leases[containerId] = address;
    if (requested === undefined) state.last = address;
    this.write(state);
    return formatAddress(address);
  }

  release(containerId: string): void {
    const state = this.read();
    if (!(containerId in state.leases)) return;
    delete state.leases[containerId];
    this.write(state);
  }

  /**
   * Atomic, not synced: a daemon crash keeps what was written (the page cache survives it), and a
   * power loss takes every lease's container with it (reconcile frees them at the next start).
   */
  private write(state: unknown): void {
    writeFileAtomicSync(this.file, JSON.stringify(state), 0o644, { durable: false });
  }

  holders(): string[] {
    return Object.keys(this.read().leases);
  }
}
