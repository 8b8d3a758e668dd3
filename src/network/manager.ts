/**
 * Bridge networks on this host: the default `bridge` (berth0) and user-defined ones. Each
 * container with a network of its own gets a namespace (`berth-<id>`), and per network a veth
 * pair to that network's bridge, an address from the network's persistent IPAM, routes, and
 * /etc/hosts; user networks answer container names and aliases with an embedded DNS server on
 * their gateway address. Published ports and NAT are in nftables (nft-rules.ts). Everything a
 * container holds is written down before it is made, so that detach and reconcile (after a
 * crash) can take it back.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type {
  ContainerRecord,
  EndpointSettings,
  NetworkSettings,
  PortBinding,
} from "../engine/docker-types.js";
import { defaultHosts, hostResolvConf } from "../engine/etc-files.js";
import type { Attachment, AttachRequest, NetworkProvider } from "../engine/network-provider.js";
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { Mutex } from "../util/mutex.js";
import { DnsServer } from "./dns.js";
import { ipBatch, ipBatchForce, nft, nftQuiet } from "./host-net.js";
import { type Family, parseIp, parseSubnet } from "./ip.js";
import { Ipam } from "./ipam.js";
import {
  type CreateNetworkRequest,
  DEFAULT_NETWORK,
  ipv4Config,
  ipv6Config,
  type NetworkRecord,
  NetworkStore,
} from "./network-store.js";
import { addNetworkRules, baseRuleset, baseRuleset6, removeNetworkRules, TABLE } from "./nft-rules.js";
import { ensureOverlay, OVERLAY_MTU, plugIntoOverlay, removeOverlay, unplugFromOverlay } from "./overlay.js";
import { mapElements, type Published, probePort, requestedBindings } from "./ports.js";
import type { SwarmNetworks } from "./swarm-networks.js";

const NETNS_PREFIX = "berth-";

/** One container on one network. */
interface Link {
  networkId: string;
  ip: string;
  /** On a network with IPv6. */
  ip6?: string;
  veth: string;
  ifname: string;
  aliases: string[];
  /** The container's interface's. */
  mac: string;
  /** What was asked for this endpoint, shown back as docker shows it. */
  config?: EndpointRequest;
  /** The container's default route goes through this network. */
  gateway?: boolean;
  /** An overlay's VXLAN id: the veth's other end is in the overlay's namespace. */
  vni?: number;
}

/** What a container holds: its namespace, its links, its published ports. */
interface Sandbox {
  id: string;
  name: string;
  netns: string;
  links: Link[];
  published: Published[];
  /** A swarm task's service: the routing mesh sends the service's published ports here. */
  service?: string;
}

/** An endpoint's settings as a client gives them (NetworkingConfig, network connect). */
export type EndpointRequest = Partial<
  Pick<EndpointSettings, "IPAMConfig" | "Aliases" | "Links" | "MacAddress" | "DriverOpts">
>;

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
/** The bridge containers on overlays leave through, as docker names it. */
export const GATEWAY_BRIDGE = "docker_gwbridge";
const ICC_OPTION = "com.docker.network.bridge.enable_icc";
/** A swarm task's container (docker's label): only tasks join a non-attachable overlay. */
const SWARM_TASK_LABEL = "com.docker.swarm.task.id";
const SWARM_SERVICE_LABEL = "com.docker.swarm.service.id";

/** docker's address for an endpoint without one asked: 02:42 and the IPv4 address's bytes. */
export function macFromAddress(ip: string): string {
  return ["02", "42", ...ip.split(".").map((b) => Number(b).toString(16).padStart(2, "0"))].join(":");
}

export class NetworkManager implements NetworkProvider {
  readonly networks: NetworkStore;
  private readonly sandboxDir: string;
  private readonly ipams = new Map<string, Ipam>();
  private readonly dns = new Map<string, DnsServer>();
  private readonly prepared = new Set<string>();
  /** Containers started at once all prepare their network: the first makes the bridge, alone. */
  private readonly preparing = new Mutex();
  /** Endpoint teardowns in flight, by container (see detach). */
  private readonly teardowns = new Map<string, Promise<void>>();
  /** The cluster's overlay networks, while this daemon is in a swarm. */
  private swarm: SwarmNetworks | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: (message: string) => void = () => {},
  ) {
    this.networks = new NetworkStore(join(dir, "networks"));
    this.sandboxDir = join(dir, "sandboxes");
    mkdirSync(this.sandboxDir, { recursive: true, mode: 0o700 });
    mkdirSync(join(dir, "ipam"), { recursive: true, mode: 0o700 });
  }

  // ---- networks ----

  /** The cluster's side of overlay networks (set by swarm mode; undefined outside a swarm). */
  useSwarm(swarm: SwarmNetworks | undefined): void {
    this.swarm = swarm;
  }

  /** A local network or a swarm one, by name, id or prefix. */
  private find(nameOrId: string): NetworkRecord | undefined {
    return this.networks.find(nameOrId) ?? this.swarm?.find(nameOrId);
  }

  describeNetwork(nameOrId: string): { id: string; name: string; builtin: boolean } {
    const n = this.network(nameOrId);
    return { id: n.Id, name: n.Name, builtin: n.Name === DEFAULT_NETWORK };
  }

  /** A network by name or id; "default" (what clients send for the default mode) is `bridge`. */
  network(nameOrId: string): NetworkRecord {
    const key = nameOrId === "default" || nameOrId === "" ? DEFAULT_NETWORK : nameOrId;
    const found = this.find(key);
    if (!found) throw new NotFound(`network ${key} not found`);
    return found;
  }

  create(req: CreateNetworkRequest): NetworkRecord {
    return this.networks.create(req);
  }

  /** Removes a network no container is on (docker refuses otherwise, naming them). */
  async remove(nameOrId: string): Promise<void> {
    const n = this.networks.get(nameOrId);
    if (n.Name === DEFAULT_NETWORK)
      throw new Conflict(`bridge is a pre-defined network and cannot be removed`);
    const users = this.sandboxes().filter((s) => s.links.some((l) => l.networkId === n.Id));
    if (users.length)
      throw new Conflict(`error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
    this.networks.remove(n);
    await this.unprepare(n);
    for (const file of [`${n.Id}.json`, `${n.Id}.v6.json`])
      rmSync(join(this.dir, "ipam", file), { force: true });
  }

  /** The containers on a network, as `network inspect` lists them. */
  containersOn(
    networkId: string,
  ): Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
  > {
    const out: Record<
      string,
      { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }
    > = {};
    const n = this.network(networkId);
    const prefix = parseSubnet(ipv4Config(n).Subnet).prefix;
    const v6 = ipv6Config(n);
    for (const s of this.sandboxes())
      for (const l of s.links.filter((x) => x.networkId === networkId))
        out[s.id] = {
          Name: s.name,
          EndpointID: l.veth,
          MacAddress: l.mac,
          IPv4Address: `${l.ip}/${prefix}`,
          IPv6Address: v6 && l.ip6 ? `${l.ip6}/${parseSubnet(v6.Subnet).prefix}` : "",
        };
    return out;
  }

  /** The IPAM of a network's IPv4 subnet, or of its IPv6 one. */
  private ipam(n: NetworkRecord, family: Family = 4): Ipam {
    const key = `${n.Id}/${family}`;
    let ipam = this.ipams.get(key);
    if (!ipam) {
      const config = family === 4 ? ipv4Config(n) : ipv6Config(n)!;
      const subnet = parseSubnet(config.Subnet, family);
      ipam = new Ipam(
        join(this.dir, "ipam", family === 4 ? `${n.Id}.json` : `${n.Id}.v6.json`),
        subnet,
        parseIp(config.Gateway, family).value,
        config.IPRange ? parseSubnet(config.IPRange, family) : subnet,
        Object.values(config.AuxiliaryAddresses ?? {}).map((a) => parseIp(a, family).value),
      );
      this.ipams.set(key, ipam);
    }
    return ipam;
  }

  /** Every IPAM of a network (IPv4, and IPv6 when it has it). */
  private allIpams(n: NetworkRecord): Ipam[] {
    return ipv6Config(n) ? [this.ipam(n), this.ipam(n, 6)] : [this.ipam(n)];
  }

  /** The table, the network's bridge and its rules, and (user networks) its DNS server. */
  private prepare(n: NetworkRecord): Promise<void> {
    return this.preparing.run(() => this.prepareNow(n));
  }

  private async prepareNow(n: NetworkRecord): Promise<void> {
    const bridgeUp = existsSync(`/sys/class/net/${n.BridgeName}`);
    if (bridgeUp && this.prepared.has(n.Id)) return;
    const tableExists = await nft(`list table ip ${TABLE}\n`).then(
      () => true,
      () => false,
    );
    if (!tableExists) {
      await nft(baseRuleset());
      this.prepared.clear();
    }
    const config = ipv4Config(n);
    const v6 = ipv6Config(n);
    if (!bridgeUp) {
      const mtu = n.Options["com.docker.network.driver.mtu"] ?? n.Options["mtu"];
      await ipBatch([
        `link add ${n.BridgeName} type bridge`,
        ...(mtu ? [`link set ${n.BridgeName} mtu ${mtu}`] : []),
        `addr add ${config.Gateway}/${parseSubnet(config.Subnet).prefix} dev ${n.BridgeName}`,
        // nodad: the gateway is ours alone, and must answer before duplicate detection would end.
        ...(v6 ? [`addr add ${v6.Gateway}/${parseSubnet(v6.Subnet).prefix} dev ${n.BridgeName} nodad`] : []),
        `link set ${n.BridgeName} up`,
      ]);
    }
    // Published ports answer on 127.0.0.1 too: loopback sources may be routed to the bridge.
    writeFileSync(`/proc/sys/net/ipv4/conf/${n.BridgeName}/route_localnet`, "1");
    writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
    await nft(
      addNetworkRules({ id: n.Id, bridge: n.BridgeName, subnet: config.Subnet, internal: n.Internal }),
    );
    if (v6) {
      // Routing between the bridge and the world, as docker's --ipv6 turns it on.
      writeFileSync("/proc/sys/net/ipv6/conf/all/forwarding", "1");
      await nft(baseRuleset6());
      await nft(
        addNetworkRules({ id: n.Id, bridge: n.BridgeName, subnet: v6.Subnet, internal: n.Internal }, "ip6"),
      );
    }
    if (n.Name !== DEFAULT_NETWORK && !this.dns.has(n.Id)) {
      const server = new DnsServer(
        config.Gateway,
        (name, client) => this.resolve(n.Id, name, client),
        upstreamServers,
      );
      await server.start().then(
        () => this.dns.set(n.Id, server),
        (err: Error) => this.log(`network ${n.Name}: no DNS by name (${err.message})`),
      );
    }
    this.prepared.add(n.Id);
  }

  private async unprepare(n: NetworkRecord): Promise<void> {
    this.dns.get(n.Id)?.stop();
    this.dns.delete(n.Id);
    this.prepared.delete(n.Id);
    const rules = { id: n.Id, bridge: n.BridgeName, internal: n.Internal };
    for (const line of removeNetworkRules({ ...rules, subnet: ipv4Config(n).Subnet }))
      await nftQuiet(`${line}\n`);
    const v6 = ipv6Config(n);
    if (v6)
      for (const line of removeNetworkRules({ ...rules, subnet: v6.Subnet }, "ip6"))
        await nftQuiet(`${line}\n`);
    await ipBatchForce([`link del ${n.BridgeName}`]);
  }

  /**
   * The embedded DNS: the asking container (found by its address on the network it asked on)
   * reaches the containers of every network it is on, by name, alias or short ID; each answer is
   * the address on a network they share.
   */
  private resolve(networkId: string, asked: string, client: string): string[] | undefined {
    const all = this.sandboxes();
    const asker = all.find((s) => s.links.some((l) => l.networkId === networkId && l.ip === client));
    // The gateway bridge joins containers of every overlay: it names nobody.
    const gateway = this.networks.find(GATEWAY_BRIDGE)?.Id;
    const shared = new Set(
      (asker ? asker.links.map((l) => l.networkId) : [networkId]).filter((id) => id !== gateway),
    );
    // A link ("target:alias") of the asker's on this network names its target by the alias.
    const links = asker?.links.find((l) => l.networkId === networkId)?.config?.Links ?? [];
    const linked = links.map((l) => l.split(":")).find(([target, alias]) => (alias ?? target) === asked);
    const name = linked ? linked[0]!.replace(/^\//, "") : asked;
    // Names on overlays are the cluster's (services, their VIPs, containers on every node).
    const overlays = [...shared].filter((id) => this.swarm?.find(id));
    const found: string[] = [...((overlays.length && this.swarm?.resolve(name, overlays)) || [])];
    for (const s of all)
      for (const l of s.links)
        if (
          shared.has(l.networkId) &&
          !overlays.includes(l.networkId) &&
          (s.name === name || l.aliases.includes(name) || (name.length >= 12 && s.id.startsWith(name))) &&
          !found.includes(l.ip)
        )
          found.push(l.ip, ...(l.ip6 ? [l.ip6] : []));
    return found.length ? found : undefined;
  }

  // ---- containers ----

  private sandboxFile(id: string): string {
    return join(this.sandboxDir, `${id}.json`);
  }

  /** A container's endpoints, unless they are being torn down. */
  private sandbox(id: string): Sandbox | undefined {
    if (this.teardowns.has(id)) return undefined;
    try {
      return JSON.parse(readFileSync(this.sandboxFile(id), "utf8")) as Sandbox;
    } catch {
      return undefined;
    }
  }

  private sandboxes(): Sandbox[] {
    return readdirSync(this.sandboxDir)
      .map((f) => this.sandbox(f.replace(/\.json$/, "")))
      .filter((s): s is Sandbox => s !== undefined);
  }

  /** Not synced: a power loss takes the namespaces and links it describes with it. */
  private saveSandbox(s: Sandbox): void {
    writeFileAtomicSync(this.sandboxFile(s.id), JSON.stringify(s), 0o644, { durable: false });
  }

  async attach(request: AttachRequest): Promise<Attachment> {
    const primary = this.network(request.networkMode);
    const id = request.containerId;
    // A restarting container takes the same names: its old links must be gone first.
    await this.teardowns.get(id);
    const sandbox: Sandbox = {
      id,
      name: request.name.replace(/^\//, ""),
      netns: `${NETNS_PREFIX}${id.slice(0, 12)}`,
      links: [],
      published: [],
      ...(request.labels[SWARM_SERVICE_LABEL] ? { service: request.labels[SWARM_SERVICE_LABEL] } : {}),
    };
    this.saveSandbox(sandbox);
    try {
      // The network of the mode first (its gateway is the default route), then the others asked for.
      const others = Object.keys(request.endpoints).filter((k) => this.network(k).Id !== primary.Id);
      for (const key of [primary.Name, ...others]) {
        const n = this.network(key);
        const e =
          request.endpoints[key] ??
          request.endpoints[n.Name] ??
          request.endpoints[n.Id] ??
          (n.Name === DEFAULT_NETWORK ? request.endpoints["default"] : undefined);
        await this.link(sandbox, n, e ?? {}, request.labels);
      }
      // On an overlay, the way out and the names come through the node's gateway bridge.
      if (sandbox.links.some((l) => l.vni !== undefined) && !sandbox.links.some((l) => l.gateway))
        await this.link(sandbox, this.gatewayBridge(), {}, request.labels);
      for (const r of requestedBindings(
        request.portBindings,
        request.exposedPorts,
        request.publishAllPorts,
      )) {
        const hostPort = await probePort(r.proto, r.hostIp, r.hostPort);
        sandbox.published.push({ ...r, hostPort });
      }
      this.saveSandbox(sandbox);
      const target = publishTarget(sandbox)!;
      const { any, byAddress } = mapElements(sandbox.published, target.ip);
      const adds = [
        ...(any.length ? [`add element ip ${TABLE} ports { ${any.join(", ")} }`] : []),
        ...(byAddress.length ? [`add element ip ${TABLE} ports_by_address { ${byAddress.join(", ")} }`] : []),
      ];
      if (adds.length)
        await nft(`${adds.join("\n")}\n`).catch(async () => {
          // Another daemon on this host may have removed the table at its shutdown: make it again.
          this.prepared.clear();
          for (const l of sandbox.links) await this.prepare(this.network(l.networkId));
          await nft(`${adds.join("\n")}\n`);
        });
    } catch (err) {
      await this.detach(id);
      throw err;
    }
    const record = {
      Config: { Hostname: request.hostname, Domainname: request.domainname },
    } as ContainerRecord;
    const dnsNetwork = [primary, ...sandbox.links.map((l) => this.find(l.networkId))].find(
      (n): n is NetworkRecord => !!n && n.Name !== DEFAULT_NETWORK && this.dns.has(n.Id),
    );
    return {
      netnsPath: `/run/netns/${sandbox.netns}`,
      settings: this.settings(sandbox),
      hosts: defaultHosts(record, sandbox.links.map((l) => l.ip).slice(0, 1), request.extraHosts),
      resolvConf: dnsNetwork
        ? resolvConfVia(
            ipv4Config(dnsNetwork).Gateway,
            hostResolvConf({
              Dns: request.dns,
              DnsSearch: request.dnsSearch,
              DnsOptions: request.dnsOptions,
              NetworkMode: "bridge",
            }),
          )
        : hostResolvConf({
            Dns: request.dns,
            DnsSearch: request.dnsSearch,
            DnsOptions: request.dnsOptions,
            NetworkMode: "bridge",
          }),
    };
  }

  /** One more network in a sandbox: a veth pair, an address, a route when it is the first. */
  private async link(
    sandbox: Sandbox,
    n: NetworkRecord,
    endpoint: EndpointRequest,
    labels: Record<string, string> = {},
  ): Promise<Link> {
    const requestedIp = endpoint.IPAMConfig?.IPv4Address || undefined;
    const requestedIp6 = endpoint.IPAMConfig?.IPv6Address || undefined;
    const v6 = ipv6Config(n);
    if (requestedIp6 && !v6)
      throw new InvalidArgument(`network ${n.Name} has no IPv6 (--ipv6): it cannot give ${requestedIp6}`);
    const aliases = endpoint.Aliases ?? [];
    if (sandbox.links.some((l) => l.networkId === n.Id))
      throw new Conflict(`endpoint with name ${sandbox.name} already exists in network ${n.Name}`);
    if (requestedIp && n.Name === DEFAULT_NETWORK)
      throw new InvalidArgument("user specified IP address is supported on user defined networks only");
    if (aliases.length && n.Name === DEFAULT_NETWORK)
      throw new InvalidArgument(
        "network-scoped alias is supported only for containers in user defined networks",
      );
    if (endpoint.MacAddress && !MAC.test(endpoint.MacAddress))
      throw new InvalidArgument(`invalid MAC address ${endpoint.MacAddress}`);
    if (n.Driver === "overlay") return this.linkOverlay(sandbox, n, endpoint, labels);
    await this.prepare(n);
    const ip = this.ipam(n).allocate(`${sandbox.id}`, requestedIp);
    let ip6: string | undefined;
    try {
      ip6 = v6 ? this.ipam(n, 6).allocate(sandbox.id, requestedIp6) : undefined;
    } catch (err) {
      this.ipam(n).release(sandbox.id);
      throw err;
    }
    const routed = !sandbox.links.some((l) => l.gateway) && !n.Internal;
    const link: Link = {
      ...this.newLink(sandbox, n, endpoint, ip),
      ...(ip6 ? { ip6 } : {}),
      gateway: routed,
    };
    sandbox.links.push(link);
    this.saveSandbox(sandbox);
    const config = ipv4Config(n);
    const mtu = n.Options["com.docker.network.driver.mtu"] ?? n.Options["mtu"];
    // The namespace is made with the first link; a container connected again after it was
    // disconnected from every network still has it.
    const madeNetns = !existsSync(`/run/netns/${sandbox.netns}`);
    // Two `ip` runs per network, the namespace made in the first of the first network's.
    await ipBatch([
      ...(madeNetns ? [`netns add ${sandbox.netns}`] : []),
      `link add ${link.veth} ${mtu ? `mtu ${mtu} ` : ""}type veth peer name ${link.ifname} ${mtu ? `mtu ${mtu} ` : ""}address ${link.mac} netns ${sandbox.netns}`,
      `link set ${link.veth} master ${n.BridgeName}`,
      `link set ${link.veth} type bridge_slave hairpin on${n.Options[ICC_OPTION] === "false" ? " isolated on" : ""}`,
      `link set ${link.veth} up`,
    ]);
    await ipBatch(
      [
        ...(madeNetns ? ["link set lo up"] : []),
        `addr add ${ip}/${parseSubnet(config.Subnet).prefix} dev ${link.ifname}`,
        ...(v6 && ip6 ? [`addr add ${ip6}/${parseSubnet(v6.Subnet).prefix} dev ${link.ifname} nodad`] : []),
        `link set ${link.ifname} up`,
        ...(routed ? [`route add default via ${config.Gateway}`] : []),
        ...(routed && v6 ? [`route add ::/0 via ${v6.Gateway}`] : []),
      ],
      sandbox.netns,
    );
    return link;
  }

  /** A link's names: its host end (from the container and network ids), the next free ethN. */
  private newLink(sandbox: Sandbox, n: NetworkRecord, endpoint: EndpointRequest, ip: string): Link {
    const hash = createHash("sha256").update(`${sandbox.id}/${n.Id}`).digest("hex");
    const used = new Set(sandbox.links.map((l) => l.ifname));
    let index = 0;
    while (used.has(`eth${index}`)) index++;
    return {
      networkId: n.Id,
      ip,
      veth: `vb${hash.slice(0, 12)}`,
      ifname: `eth${index}`,
      aliases: endpoint.Aliases ?? [],
      mac: (endpoint.MacAddress || macFromAddress(ip)).toLowerCase(),
      config: endpoint,
    };
  }

  /**
   * A link to an overlay: an address from the cluster's allocator, the overlay's namespace on
   * this node (made with the first), the veth's other end a port of its bridge, and the endpoint
   * published for the other nodes. No default route: that is the gateway bridge's.
   */
  private async linkOverlay(
    sandbox: Sandbox,
    n: NetworkRecord,
    endpoint: EndpointRequest,
    labels: Record<string, string>,
  ): Promise<Link> {
    const swarm = this.swarm;
    if (!swarm) throw new NotFound(`network ${n.Name} not found: this node has left the swarm`);
    if (!n.Attachable && !labels[SWARM_TASK_LABEL])
      throw new InvalidArgument(
        `Could not attach to network ${n.Name}: rpc error: code = PermissionDenied desc = network ${n.Name} not manually attachable`,
      );
    const ip = await swarm.allocate(n.Id, sandbox.id, endpoint.IPAMConfig?.IPv4Address || undefined);
    const link: Link = { ...this.newLink(sandbox, n, endpoint, ip), vni: n.VNI! };
    sandbox.links.push(link);
    this.saveSandbox(sandbox);
    const config = ipv4Config(n);
    const mtu = Number(n.Options["com.docker.network.driver.mtu"] ?? OVERLAY_MTU);
    await ensureOverlay({
      vni: n.VNI!,
      subnet: config.Subnet,
      gateway: config.Gateway,
      mtu,
      localAddr: swarm.localAddr(),
    });
    const madeNetns = !existsSync(`/run/netns/${sandbox.netns}`);
    await ipBatch([
      ...(madeNetns ? [`netns add ${sandbox.netns}`] : []),
      `link add ${link.veth} mtu ${mtu} type veth peer name ${link.ifname} mtu ${mtu} address ${link.mac} netns ${sandbox.netns}`,
    ]);
    await plugIntoOverlay(n.VNI!, link.veth);
    await ipBatch(
      [
        ...(madeNetns ? ["link set lo up"] : []),
        `addr add ${ip}/${parseSubnet(config.Subnet).prefix} dev ${link.ifname}`,
        `link set ${link.ifname} up`,
      ],
      sandbox.netns,
    );
    await swarm.publish({
      networkId: n.Id,
      ip,
      mac: link.mac,
      containerId: sandbox.id,
      name: sandbox.name,
      aliases: link.aliases,
      labels,
    });
    return link;
  }

  /**
   * docker_gwbridge: the node's bridge that containers on overlays leave through (NAT) and ask
   * names on; its ports are isolated from each other (docker's enable_icc=false), so that two
   * overlays stay apart on it.
   */
  private gatewayBridge(): NetworkRecord {
    return (
      this.networks.find(GATEWAY_BRIDGE) ??
      this.networks.create({ Name: GATEWAY_BRIDGE, Options: { [ICC_OPTION]: "false" } })
    );
  }

  /**
   * The addresses, reachable from this host, of the local tasks of a service (the routing mesh's
   * local backends): each one's way out, its gateway bridge or its bridge.
   */
  serviceTargets(serviceId: string): string[] {
    return this.sandboxes()
      .filter((s) => s.service === serviceId)
      .map((s) => publishTarget(s)?.ip)
      .filter((ip): ip is string => !!ip);
  }

  /** The containers of this node on an overlay, with their namespaces (for the VIPs' rules). */
  overlayMembers(networkId: string): Array<{ containerId: string; netns: string; ip: string }> {
    return this.sandboxes().flatMap((s) =>
      s.links
        .filter((l) => l.networkId === networkId)
        .map((l) => ({ containerId: s.id, netns: s.netns, ip: l.ip })),
    );
  }

  /** An overlay link's address and endpoint given back; the overlay's namespace goes with its last. */
  private async releaseOverlayLink(containerId: string, link: Link): Promise<void> {
    if (link.vni === undefined) return;
    await this.swarm?.withdraw(link.networkId, link.ip).catch(() => {});
    await this.swarm?.release(link.networkId, containerId, link.ip).catch(() => {});
    await removeOverlay(link.vni, () => this.overlayInUse(link.vni!, containerId));
  }

  /** Whether a container of this node (other than `except`) has a link on the overlay. */
  overlayInUse(vni: number, except?: string): boolean {
    return this.sandboxes().some((s) => s.id !== except && s.links.some((l) => l.vni === vni));
  }

  /** `network connect` of a running container. */
  async connect(containerId: string, network: string, endpoint: EndpointRequest): Promise<NetworkSettings> {
    const sandbox = this.sandbox(containerId);
    if (!sandbox)
      throw new Conflict(
        `container ${containerId} has no network namespace of its own to connect (is it running, and not on host or none?)`,
      );
    await this.link(sandbox, this.network(network), endpoint);
    return this.settings(sandbox);
  }

  async disconnect(containerId: string, network: string): Promise<NetworkSettings> {
    const n = this.network(network);
    const sandbox = this.sandbox(containerId);
    const link = sandbox?.links.find((l) => l.networkId === n.Id);
    if (!sandbox || !link)
      throw new Conflict(`container ${containerId} is not connected to network ${n.Name}`);
    if (link.vni !== undefined) await unplugFromOverlay(link.vni, link.veth);
    else await ipBatchForce([`link del ${link.veth}`]);
    if (link.vni === undefined) for (const ipam of this.allIpams(n)) ipam.release(containerId);
    sandbox.links = sandbox.links.filter((l) => l !== link);
    this.saveSandbox(sandbox);
    await this.releaseOverlayLink(containerId, link);
    return this.settings(sandbox);
  }

  settings(sandbox: Sandbox): NetworkSettings {
    const ports: Record<string, PortBinding[] | null> = {};
    for (const p of sandbox.published) {
      const key = `${p.containerPort}/${p.proto}`;
      ports[key] = [...(ports[key] ?? []), { HostIp: p.hostIp, HostPort: String(p.hostPort) }];
    }
    const networks: Record<string, EndpointSettings> = {};
    for (const l of sandbox.links) {
      const n = this.find(l.networkId);
      if (!n) continue;
      const config = ipv4Config(n);
      const v6 = ipv6Config(n);
      networks[n.Name] = {
        IPAMConfig: l.config?.IPAMConfig ?? null,
        Links: l.config?.Links ?? null,
        Aliases: n.Name === DEFAULT_NETWORK ? null : [...l.aliases, sandbox.id.slice(0, 12)],
        MacAddress: l.mac,
        NetworkID: n.Id,
        EndpointID: l.veth,
        Gateway: config.Gateway,
        IPAddress: l.ip,
        IPPrefixLen: parseSubnet(config.Subnet).prefix,
        IPv6Gateway: v6?.Gateway ?? "",
        GlobalIPv6Address: l.ip6 ?? "",
        GlobalIPv6PrefixLen: v6 && l.ip6 ? parseSubnet(v6.Subnet).prefix : 0,
        DriverOpts: l.config?.DriverOpts ?? null,
        DNSNames: n.Name === DEFAULT_NETWORK ? null : [sandbox.name, ...l.aliases, sandbox.id.slice(0, 12)],
      };
    }
    const first = sandbox.links[0];
    const firstNet = first ? networks[this.find(first.networkId)?.Name ?? ""] : undefined;
    const onBridge = first && this.find(first.networkId)?.Name === DEFAULT_NETWORK;
    return {
      Bridge: "",
      SandboxID: sandbox.netns,
      SandboxKey: `/run/netns/${sandbox.netns}`,
      Ports: ports,
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: onBridge ? first.veth : "",
      Gateway: onBridge ? (firstNet?.Gateway ?? "") : "",
      GlobalIPv6Address: onBridge ? (firstNet?.GlobalIPv6Address ?? "") : "",
      GlobalIPv6PrefixLen: onBridge ? (firstNet?.GlobalIPv6PrefixLen ?? 0) : 0,
      IPAddress: onBridge ? first.ip : "",
      IPPrefixLen: onBridge ? (firstNet?.IPPrefixLen ?? 0) : 0,
      IPv6Gateway: onBridge ? (firstNet?.IPv6Gateway ?? "") : "",
      MacAddress: onBridge ? first.mac : "",
      Networks: networks,
    };
  }

  /**
   * Releases a container's endpoints. Its published ports go at once (another container may
   * take them next); deleting the links waits for the kernel (about 20 ms of RCU grace periods),
   * so that part, and the addresses freed after it, goes on in the background: a stopped or
   * removed container does not wait for it. `settled` waits for all of it.
   */
  async detach(containerId: string): Promise<void> {
    const sandbox = this.sandbox(containerId);
    if (!sandbox) return;
    const target = publishTarget(sandbox);
    if (target) {
      const { any, byAddress } = mapElements(sandbox.published, target.ip);
      for (const e of any) await nftQuiet(`delete element ip ${TABLE} ports { ${e.split(" : ")[0]} }\n`);
      for (const e of byAddress)
        await nftQuiet(`delete element ip ${TABLE} ports_by_address { ${e.split(" : ")[0]} }\n`);
    }
    // Deleting the host end of a pair deletes both; the namespace goes with its name.
    const teardown = ipBatchForce([
      ...sandbox.links.map((l) => `link del ${l.veth}`),
      `netns del ${sandbox.netns}`,
    ])
      .then(async () => {
        for (const l of sandbox.links) {
          const n = this.find(l.networkId);
          if (n && l.vni === undefined) for (const ipam of this.allIpams(n)) ipam.release(containerId);
        }
        rmSync(this.sandboxFile(containerId), { force: true });
        for (const l of sandbox.links) await this.releaseOverlayLink(containerId, l);
      })
      .catch((err: Error) => this.log(`container ${containerId}: network teardown: ${err.message}`))
      .finally(() => this.teardowns.delete(containerId));
    this.teardowns.set(containerId, teardown);
  }

  /** Resolves when every endpoint teardown in flight has finished. */
  async settled(): Promise<void> {
    await Promise.all(this.teardowns.values());
  }

  async reconcile(live: Set<string>): Promise<void> {
    for (const s of this.sandboxes()) if (!live.has(s.id)) await this.detach(s.id);
    await this.settled();
    for (const n of this.networks.all())
      for (const ipam of this.allIpams(n))
        for (const holder of ipam.holders()) if (!live.has(holder)) ipam.release(holder);
    // User networks with running containers answer names again.
    for (const s of this.sandboxes())
      for (const l of s.links) {
        const n = this.find(l.networkId);
        if (n) await this.prepare(n).catch((err: Error) => this.log(`network ${n.Name}: ${err.message}`));
      }
  }

  /**
   * At daemon shutdown: the bridges no container uses any more (of this daemon or another on
   * the host) go, and the table with the last of them, so that nothing of Berth's stays behind.
   */
  async teardownIfUnused(): Promise<void> {
    await this.settled();
    for (const server of this.dns.values()) server.stop();
    this.dns.clear();
    let inUse = false;
    for (const n of this.networks.all()) {
      const bridge = `/sys/class/net/${n.BridgeName}`;
      if (!existsSync(bridge)) continue;
      if (readdirSync(`${bridge}/brif`).length > 0) inUse = true;
      else await this.unprepare(n);
    }
    if (!inUse) {
      await nftQuiet(`delete table ip ${TABLE}\n`);
      await nftQuiet(`delete table ip6 ${TABLE}\n`);
    }
  }
}

/**
 * The link a container's published ports lead to: the one it leaves the host through (an
 * overlay's address is not routable from the host; its gateway bridge's is).
 */
function publishTarget(sandbox: Sandbox): Link | undefined {
  return sandbox.links.find((l) => l.gateway) ?? sandbox.links[0];
}

/** The host's nameservers, for what the embedded DNS does not know. */
function upstreamServers(): string[] {
  const text = hostResolvConf({ Dns: [], DnsSearch: [], DnsOptions: [], NetworkMode: "bridge" });
  return text
    .split("\n")
    .filter((l) => l.startsWith("nameserver "))
    .map((l) => l.split(/\s+/)[1]!);
}

/** A resolv.conf that sends the container to the embedded DNS, keeping search and options. */
function resolvConfVia(server: string, hostConf: string): string {
  const kept = hostConf.split("\n").filter((l) => l && !l.startsWith("nameserver "));
  return [`nameserver ${server}`, ...kept, ""].join("\n");
}
