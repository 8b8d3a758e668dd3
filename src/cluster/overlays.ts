/**
 * Overlay networks, the managers' side: `network create -d overlay` chooses a VXLAN id and a
 * subnet that no other network holds (allocation keys created once in etcd, so two managers at
 * once cannot both win), services get a virtual IP on each of their networks, and a network in
 * use is not removed. The objects are shown in dockerd's NetworkResource shape.
 */
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import {
  formatIp,
  formatSubnet,
  hostRange,
  overlaps,
  parseIp,
  parseSubnet,
  type Subnet,
} from "../network/ip.js";
import type { CreateNetworkRequest, NetworkRecord } from "../network/network-store.js";
import { newClusterId } from "./ids.js";
import { publishPorts, releasePorts } from "./published-ports.js";
import type { ClusterStore } from "./store.js";
import type { ClusterRecord, EndpointRecord, OverlayRecord, ServiceRecord, ServiceSpec } from "./types.js";

/** docker's first VXLAN id for overlays (ids below 4096 are left to VLAN-minded setups). */
export const FIRST_VNI = 4097;
const LAST_VNI = (1 << 24) - 1;
export const MTU_OPTION = "com.docker.network.driver.mtu";
export const VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list";
/** An allocation race lost to another manager is tried again this many times. */
const ATTEMPTS = 5;

export function freeVni(taken: Set<number>): number {
  for (let v = FIRST_VNI; v <= LAST_VNI; v++) if (!taken.has(v)) return v;
  throw new Conflict("no free VXLAN id is left");
}

/** The first subnet of `size` bits from the pools that overlaps none taken. */
export function freeSubnet(pools: string[], size: number, taken: string[]): string {
  const used = taken.map((t) => parseSubnet(t));
  for (const pool of pools.map((p) => parseSubnet(p))) {
    if (size < pool.prefix || size > 30) continue;
    const step = 1n << BigInt(32 - size);
    for (let base = pool.base; base < pool.base + (1n << BigInt(32 - pool.prefix)); base += step) {
      const candidate: Subnet = { family: 4, base, prefix: size };
      if (!used.some((u) => overlaps(u, candidate))) return formatSubnet(candidate);
    }
  }
  throw new Conflict(`could not find an available, non-overlapping IPv4 address pool among the defaults`);
}

/** The first host address of a subnet that is neither taken nor its gateway. */
export function freeAddress(subnet: string, gateway: string, taken: Set<string>): string {
  const s = parseSubnet(subnet, 4);
  const { first, last } = hostRange(s);
  for (let a = first; a <= last; a++) {
    const ip = formatIp(a, 4);
    if (ip !== gateway && !taken.has(ip)) return ip;
  }
  throw new Conflict(`no available IPv4 addresses on network ${subnet}`);
}

export function findOverlay(list: OverlayRecord[], ref: string): OverlayRecord | undefined {
  const byPrefix = list.filter((n) => n.ID.startsWith(ref));
  return (
    list.find((n) => n.ID === ref) ??
    list.find((n) => n.Spec.Name === ref) ??
    (byPrefix.length === 1 ? byPrefix[0] : undefined)
  );
}

/** A new overlay network: its name checked, a VXLAN id and a subnet allocated (or the one asked). */
export async function createOverlay(
  store: ClusterStore,
  cluster: ClusterRecord,
  req: CreateNetworkRequest,
  localNames: string[],
): Promise<OverlayRecord> {
  const name = req.Name ?? "";
  if (!/^[^/\x00-\x1f\x7f]+$/.test(name))
    throw new InvalidArgument(`invalid network name "${name}": it may not hold "/" or control characters`);
  const existing = await store.list<OverlayRecord>("networks");
  if (existing.some((n) => n.Spec.Name === name) || localNames.includes(name))
    throw new Conflict(`network with name ${name} already exists`);
  if (req.Ingress && existing.some((n) => n.Spec.Ingress))
    throw new Conflict(
      `rpc error: code = AlreadyExists desc = ingress network (${existing.find((n) => n.Spec.Ingress)!.ID}) is already present`,
    );
  if (req.EnableIPv6) throw new InvalidArgument("overlay networks with IPv6 are not supported yet");
  const options = req.Options ?? {};
  const mtu = options[MTU_OPTION];
  if (mtu !== undefined && !(/^\d+$/.test(mtu) && Number(mtu) >= 68 && Number(mtu) <= 65535))
    throw new InvalidArgument(`invalid mtu "${mtu}": a number from 68 to 65535`);
  const asked = req.IPAM?.Config ?? [];
  if (asked.length > 1) throw new InvalidArgument("an overlay network has one IPv4 subnet");
  const askedSubnet = asked[0]?.Subnet;
  if (askedSubnet) {
    const s = parseSubnet(askedSubnet, 4);
    if (formatSubnet(s) !== askedSubnet)
      throw new InvalidArgument(
        `invalid subnet ${askedSubnet}: it has host bits set (did you mean ${formatSubnet(s)}?)`,
      );
    if (s.prefix > 29) throw new InvalidArgument(`subnet ${askedSubnet} is too small for an overlay`);
  }
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const { vnis, subnets } = await store.networkAllocations();
    if (askedSubnet && subnets.some((t) => overlaps(parseSubnet(t), parseSubnet(askedSubnet))))
      throw new Conflict(`Pool overlaps with other one on this address space`);
    const subnet = askedSubnet ?? freeSubnet(cluster.DefaultAddrPool, cluster.SubnetSize, subnets);
    const gateway = asked[0]?.Gateway || formatIp(parseSubnet(subnet).base + 1n, 4);
    const gw = parseIp(gateway, 4).value;
    const range = hostRange(parseSubnet(subnet));
    if (gw < range.first || gw > range.last)
      throw new InvalidArgument(`gateway ${gateway} is not an address of subnet ${subnet}`);
    const now = new Date().toISOString();
    const record: OverlayRecord = {
      ID: newClusterId(),
      Version: { Index: 0 },
      CreatedAt: now,
      UpdatedAt: now,
      Spec: {
        Name: name,
        Labels: req.Labels ?? {},
        DriverConfiguration: { Name: "overlay", Options: options },
        IPAMOptions: { Driver: { Name: "default" }, Configs: [{ Subnet: subnet, Gateway: gateway }] },
        Attachable: req.Attachable === true,
        Internal: req.Internal === true,
        ...(req.Ingress ? { Ingress: true } : {}),
        Scope: "swarm",
      },
      VNI: freeVni(vnis),
    };
    if (await store.createNetwork(record, subnet)) return record;
  }
  throw new Conflict("the network's VXLAN id or subnet was taken by another manager meanwhile: try again");
}

/** Removes an overlay no service names and no container is on. */
export async function removeOverlay(store: ClusterStore, ref: string): Promise<OverlayRecord> {
  const n = findOverlay(await store.list<OverlayRecord>("networks"), ref);
  if (!n) throw new NotFound(`network ${ref} not found`);
  const users = (await store.list<ServiceRecord>("services")).filter((s) =>
    serviceNetworks(s.Spec).includes(n.ID),
  );
  if (users.length)
    throw new Conflict(
      `rpc error: code = FailedPrecondition desc = network ${n.ID} is in use by service ${users[0]!.ID}`,
    );
  // Tasks of removed services still detaching do not hold it (swarmkit's rule: stack rm removes
  // the services, then at once their networks); any other container does.
  const services = new Set((await store.list<ServiceRecord>("services")).map((s) => s.ID));
  const holding = (await store.endpoints(n.ID)).list.filter((e) => !e.ServiceID || services.has(e.ServiceID));
  if (holding.length)
    throw new Conflict(
      `error while removing network: network ${n.Spec.Name} id ${n.ID} has active endpoints`,
    );
  await store.removeNetwork(n);
  return n;
}

/** The networks a service's tasks join: the task template's, else the spec's (the older field). */
export function taskNetworks(spec: ServiceSpec): Array<{ Target: string; Aliases?: string[] }> {
  return spec.TaskTemplate.Networks?.length ? spec.TaskTemplate.Networks : (spec.Networks ?? []);
}

/** The overlay networks a service's tasks join (by id). */
export function serviceNetworks(spec: ServiceSpec): string[] {
  return taskNetworks(spec).map((n) => n.Target);
}

/**
 * A service's networks resolved to ids (the docker CLI sends ids, docker-py may send names), each
 * an overlay of this cluster.
 */
export async function resolveServiceNetworks(store: ClusterStore, spec: ServiceSpec): Promise<void> {
  const list = [...(spec.TaskTemplate.Networks ?? []), ...(spec.Networks ?? [])];
  if (!list.length) return;
  const all = await store.list<OverlayRecord>("networks");
  for (const n of list) {
    const found = findOverlay(all, n.Target ?? "");
    if (!found)
      throw new InvalidArgument(
        `rpc error: code = NotFound desc = network ${n.Target} not found (a service's networks are overlay networks)`,
      );
    n.Target = found.ID;
  }
}

/**
 * vip mode: one address per network for the service (its connections are balanced over the
 * tasks); dnsrr: none. Addresses no longer needed are given back.
 */
export async function assignVips(store: ClusterStore, service: ServiceRecord): Promise<ServiceRecord> {
  // The ports as published (docker shows them here, with their defaults and chosen numbers),
  // first: a port refused leaves nothing taken (those taken here for it are given back).
  const ports = await publishPorts(store, service).catch(async (err: unknown) => {
    await releasePorts(store, service.ID, service);
    throw err;
  });
  const owner = `vip:${service.ID}`;
  const wanted = service.Spec.EndpointSpec?.Mode === "dnsrr" ? [] : serviceNetworks(service.Spec);
  const kept = (service.Endpoint.VirtualIPs ?? []).filter((v) => wanted.includes(v.NetworkID));
  for (const v of service.Endpoint.VirtualIPs ?? [])
    if (!kept.includes(v)) await store.releaseAddress(v.NetworkID, v.Addr.split("/")[0]!, owner);
  const networks = await store.list<OverlayRecord>("networks");
  for (const id of wanted) {
    if (kept.some((v) => v.NetworkID === id)) continue;
    const n = networks.find((x) => x.ID === id);
    if (!n) continue;
    const ip = await takeFreeAddress(store, n, owner);
    kept.push({ NetworkID: id, Addr: `${ip}/${parseSubnet(n.Spec.IPAMOptions.Configs[0]!.Subnet).prefix}` });
  }
  const { Ports: _before, ...endpoint } = service.Endpoint;
  return {
    ...service,
    Endpoint: { ...endpoint, VirtualIPs: kept, ...(ports.length ? { Ports: ports } : {}) },
  };
}

/** A service gone (or never made): its VIPs and its published ports given back. */
export async function releaseVips(store: ClusterStore, service: ServiceRecord): Promise<void> {
  for (const v of service.Endpoint.VirtualIPs ?? [])
    await store.releaseAddress(v.NetworkID, v.Addr.split("/")[0]!, `vip:${service.ID}`);
  await releasePorts(store, service.ID);
}

/** An address for `owner` on the network: the one asked for, or the first free one. */
export async function takeFreeAddress(
  store: ClusterStore,
  n: OverlayRecord,
  owner: string,
  requested?: string,
): Promise<string> {
  const { Subnet, Gateway } = n.Spec.IPAMOptions.Configs[0]!;
  if (requested) {
    const s = parseSubnet(Subnet, 4);
    const { first, last } = hostRange(s);
    const v = parseIp(requested, 4).value;
    if (v < first || v > last || requested === Gateway)
      throw new InvalidArgument(`no configured subnet or ip-range contain the IP address ${requested}`);
    if (!(await store.takeAddress(n.ID, requested, owner)))
      throw new Conflict(`Address already in use: ${requested} on network ${n.Spec.Name}`);
    return requested;
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    const ip = freeAddress(Subnet, Gateway, new Set((await store.addresses(n.ID)).keys()));
    if (await store.takeAddress(n.ID, ip, owner)) return ip;
  }
  throw new Conflict(`could not take an address on network ${n.Spec.Name}: too many at once, try again`);
}

/** The network's record in the shape the network part keeps (Driver overlay, Scope swarm). */
export function asNetworkRecord(n: OverlayRecord): NetworkRecord {
  const config = n.Spec.IPAMOptions.Configs[0]!;
  return {
    Name: n.Spec.Name,
    Id: n.ID,
    Created: n.CreatedAt,
    Scope: "swarm",
    Driver: "overlay",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [{ Subnet: config.Subnet, Gateway: config.Gateway }] },
    Internal: n.Spec.Internal,
    Attachable: n.Spec.Attachable,
    Ingress: n.Spec.Ingress === true,
    Options: { [VNI_OPTION]: String(n.VNI), ...n.Spec.DriverConfiguration.Options },
    Labels: n.Spec.Labels,
    BridgeName: "br0",
    VNI: n.VNI,
  };
}

/** dockerd's NetworkResource for an overlay, with the containers of this node on it. */
export function overlayView(
  n: OverlayRecord,
  containers: Record<string, unknown> = {},
  peers?: EndpointRecord[],
): Record<string, unknown> {
  const { BridgeName: _bridge, VNI: _vni, ...resource } = asNetworkRecord(n);
  return {
    ...resource,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: containers,
    ...(peers
      ? {
          Peers: [...new Map(peers.map((p) => [p.NodeID, { Name: p.NodeID, IP: p.NodeAddr }])).values()],
        }
      : {}),
  };
}
