/**
 * Networks as records, one JSON file each: the predefined `bridge` (the default, berth0) and the
 * user-defined bridge networks (`network create`), with docker's fields (Id, Name, IPAM, Internal,
 * Labels, Options). `host` and `none` are listed as docker lists them but hold no record.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import {
  contains,
  type Family,
  formatIp,
  formatSubnet,
  overlaps,
  parseIp,
  parseSubnet,
  type Subnet,
  subnetSize,
} from "./ip.js";

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local" | "swarm";
  Driver: "bridge" | "overlay";
  EnableIPv6: boolean;
  IPAM: {
    Driver: "default";
    /** As given (null when none was, as dockerd shows it). */
    Options: Record<string, string> | null;
    /** The IPv4 subnet first; an IPv6 one after it when EnableIPv6. */
    Config: IpamConfig[];
  };
  Internal: boolean;
  Attachable: boolean;
  /** The routing mesh's network (a swarm's `ingress`); local networks never are. */
  Ingress: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** Berth's own: the Linux bridge of this network. */
  BridgeName: string;
  /** An overlay's VXLAN id. */
  VNI?: number;
}

export const DEFAULT_NETWORK = "bridge";
export const DEFAULT_BRIDGE = "berth0";
const DEFAULT_SUBNET = "10.91.0.0/16";
/** User networks get a /24 each from here (clear of docker's 172.17-31 and podman's 10.88/10.89). */
const POOL = parseSubnet("10.92.0.0/14");

/** Whether a subnet as written is an IPv6 one (its address has colons). */
const isIpv6 = (c: { Subnet?: string }) => c.Subnet?.includes(":") === true;

/** A network's IPv4 subnet (every network has one). */
export function ipv4Config(n: NetworkRecord): IpamConfig {
  return n.IPAM.Config.find((c) => !isIpv6(c))!;
}

/** A network's IPv6 subnet, when it has IPv6. */
export function ipv6Config(n: NetworkRecord): IpamConfig | undefined {
  return n.EnableIPv6 ? n.IPAM.Config.find(isIpv6) : undefined;
}

export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
  /** Addresses the IPAM never hands out (taken by hosts outside Berth), by name. */
  AuxiliaryAddresses?: Record<string, string>;
}

export interface CreateNetworkRequest {
  Name?: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  CheckDuplicate?: boolean;
  EnableIPv6?: boolean;
  IPAM?: {
    Driver?: string;
    Config?: Partial<IpamConfig>[] | null;
    Options?: Record<string, string> | null;
  } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

/**
 * What a network may be called: dockerd takes any name (spaces included); Berth refuses only
 * what no API path could name again (a "/") and control characters.
 */
const NAME = /^[^/\x00-\x1f\x7f]+$/;

export class NetworkStore {
  private readonly records = new Map<string, NetworkRecord>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
      const r = JSON.parse(readFileSync(join(dir, f), "utf8")) as NetworkRecord;
      this.records.set(r.Id, r);
    }
    if (!this.find(DEFAULT_NETWORK))
      this.save(
        this.record(DEFAULT_NETWORK, DEFAULT_BRIDGE, [{ Subnet: DEFAULT_SUBNET, Gateway: "10.91.0.1" }], {}),
      );
  }

  private record(
    name: string,
    bridge: string,
    configs: IpamConfig[],
    req: CreateNetworkRequest,
    id = randomBytes(32).toString("hex"),
  ): NetworkRecord {
    return {
      Name: name,
      Id: id,
      Created: new Date().toISOString(),
      Scope: "local",
      Driver: "bridge",
      EnableIPv6: configs.some(isIpv6),
      IPAM: { Driver: "default", Options: req.IPAM?.Options ?? null, Config: configs },
      Internal: req.Internal === true,
      Attachable: req.Attachable === true,
      Ingress: false,
      Options: req.Options ?? {},
      Labels: req.Labels ?? {},
      BridgeName: bridge,
    };
  }

  private save(r: NetworkRecord): void {
    this.records.set(r.Id, r);
    writeFileAtomicSync(join(this.dir, `${r.Id}.json`), JSON.stringify(r));
  }

  all(): NetworkRecord[] {
    return [...this.records.values()];
  }

  find(nameOrId: string): NetworkRecord | undefined {
    const all = this.all();
    return (
      all.find((n) => n.Id === nameOrId) ??
      all.find((n) => n.Name === nameOrId) ??
      (nameOrId.length >= 1 ? singleByPrefix(all, nameOrId) : undefined)
    );
  }

  get(nameOrId: string): NetworkRecord {
    const n = this.find(nameOrId);
    if (!n) throw new NotFound(`network ${nameOrId} not found`);
    return n;
  }

  create(req: CreateNetworkRequest): NetworkRecord {
    const name = req.Name ?? "";
    if (!NAME.test(name))
      throw new InvalidArgument(
        name ? `invalid network name "${name}": it may not hold "/" or control characters` : "invalid name: ",
      );
    if (["bridge", "host", "none", "default"].includes(name))
      throw new Conflict(`network with name ${name} already exists`);
    if (this.all().some((n) => n.Name === name))
      throw new Conflict(`network with name ${name} already exists`);
    if (req.Driver && req.Driver !== "bridge")
      throw new InvalidArgument(
        `could not find plugin ${req.Driver} in v1 plugin registry: plugin not found`,
      );
    const mtu = req.Options?.["com.docker.network.driver.mtu"] ?? req.Options?.["mtu"];
    if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535))
      throw new InvalidArgument(`invalid mtu "${mtu}": a number from 68 to 65535`);
    const configs = req.IPAM?.Config ?? [];
    const v6 = configs.filter(isIpv6);
    const v4 = configs.filter((c) => !isIpv6(c));
    if (v4.length > 1 || v6.length > 1)
      throw new InvalidArgument("only one IPv4 and one IPv6 subnet per network are supported");
    const id = randomBytes(32).toString("hex");
    const chosen = [this.subnetConfig(v4[0], 4, id)];
    // An IPv6 subnet asked for is IPv6 asked for (docker 20.10 takes one without --ipv6 too).
    if (req.EnableIPv6 || v6.length) chosen.push(this.subnetConfig(v6[0], 6, id));
    const record = this.record(name, `br-${id.slice(0, 12)}`, chosen, req, id);
    this.save(record);
    return record;
  }

  /** One subnet of a new network, checked: asked for (or free), its gateway, range and aux hosts. */
  private subnetConfig(asked: Partial<IpamConfig> | undefined, family: Family, id: string): IpamConfig {
    const subnet = asked?.Subnet ? parseSubnet(asked.Subnet, family) : this.freeSubnet(family, id);
    if (asked?.Subnet && formatSubnet(subnet) !== asked.Subnet)
      throw new InvalidArgument(
        `invalid subnet ${asked.Subnet}: it has host bits set (did you mean ${formatSubnet(subnet)}?)`,
      );
    for (const other of this.all())
      for (const c of other.IPAM.Config)
        if (overlaps(subnet, parseSubnet(c.Subnet)))
          throw new Conflict(`Pool overlaps with other one on this address space (network ${other.Name})`);
    const gateway = asked?.Gateway ? parseIp(asked.Gateway, family).value : subnet.base + 1n;
    const broadcast = subnet.base + subnetSize(subnet) - 1n;
    if (!contains(subnet, gateway) || gateway === subnet.base || (family === 4 && gateway === broadcast))
      throw new InvalidArgument(
        `invalid gateway ${asked?.Gateway}: not a host address of ${formatSubnet(subnet)}`,
      );
    if (asked?.IPRange) {
      const range = parseSubnet(asked.IPRange, family);
      if (!contains(subnet, range.base) || range.prefix < subnet.prefix)
        throw new InvalidArgument(`invalid ip-range ${asked.IPRange}: not inside ${formatSubnet(subnet)}`);
    }
    const aux = asked?.AuxiliaryAddresses ?? {};
    for (const [host, address] of Object.entries(aux))
      if (typeof address !== "string" || !contains(subnet, parseIp(address, family).value))
        throw new InvalidArgument(
          `invalid auxiliary address ${host}=${address}: not in ${formatSubnet(subnet)}`,
        );
    return {
      Subnet: formatSubnet(subnet),
      ...(asked?.IPRange ? { IPRange: asked.IPRange } : {}),
      Gateway: formatIp(gateway, family),
      ...(Object.keys(aux).length ? { AuxiliaryAddresses: aux } : {}),
    };
  }

  remove(r: NetworkRecord): void {
    if (r.Name === DEFAULT_NETWORK)
      throw new Conflict(`bridge is a pre-defined network and cannot be removed`);
    this.records.delete(r.Id);
    rmSync(join(this.dir, `${r.Id}.json`), { force: true });
  }

  /**
   * A subnet no network has: IPv4 a /24 of the pool; IPv6 a /64 of a unique local prefix
   * (fd00::/8) drawn from the network's id, as RFC 4193 draws them at random.
   */
  private freeSubnet(family: Family, id: string): Subnet {
    const used = this.all().flatMap((n) => n.IPAM.Config.map((c) => parseSubnet(c.Subnet)));
    if (family === 6) {
      for (let i = 0; i < 16; i++) {
        const candidate: Subnet = {
          family: 6,
          base: (0xfdn << 120n) | (BigInt(`0x${id.slice(i, i + 10)}`) << 80n),
          prefix: 64,
        };
        if (!used.some((u) => overlaps(u, candidate))) return candidate;
      }
    } else
      for (let base = POOL.base; base < POOL.base + subnetSize(POOL); base += 256n) {
        const candidate: Subnet = { family: 4, base, prefix: 24 };
        if (!used.some((u) => overlaps(u, candidate))) return candidate;
      }
    throw new Conflict(
      `could not find an available, non-overlapping IPv${family} address pool among the defaults to assign to the network`,
    );
  }
}

function singleByPrefix(all: NetworkRecord[], prefix: string): NetworkRecord | undefined {
  const found = all.filter((n) => n.Id.startsWith(prefix));
  return found.length === 1 ? found[0] : undefined;
}
