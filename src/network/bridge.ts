/**
 * The default bridge network: a Linux bridge (berth0, 10.91.0.0/16, clear of docker's
 * 172.17.0.0/16 and podman's 10.88.0.0/16), a network namespace and a veth pair per container,
 * addresses from a persistent IPAM, outbound NAT and published ports in nftables (table
 * `ip berth`, Berth's own: no other table is touched). Published ports are DNAT'ed in the kernel
 * (no userland proxy), from other hosts, from the host itself (127.0.0.1 included, through
 * route_localnet) and from containers through the host's addresses (hairpin).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ContainerRecord, NetworkSettings, PortBinding } from "../engine/docker-types.js";
import { defaultHosts, hostResolvConf } from "../engine/etc-files.js";
import type { Attachment, AttachRequest, NetworkProvider } from "../engine/network-provider.js";
import { InvalidArgument } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { ipBatch, ipBatchForce, nft, nftQuiet } from "./host-net.js";
import { Ipam } from "./ipam.js";
import { formatAddress, formatSubnet, parseSubnet, type Subnet } from "./ipv4.js";
import { mapElements, type Published, probePort, requestedBindings } from "./ports.js";

export const BRIDGE = "berth0";
export const TABLE = "berth";
const SUBNET = "10.91.0.0/16";
const NETNS_PREFIX = "berth-";

interface Endpoint {
  id: string;
  netns: string;
  veth: string;
  ip: string;
  published: Published[];
}

/** The whole ruleset of table `ip berth` for a bridge and subnet (created once, then only map elements change). */
export function ruleset(bridge: string, subnet: string): string {
  return `table ip ${TABLE} {
  map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }
  map ports_by_address { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_by_address
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @ports_by_address
    fib daddr type local dnat ip to meta l4proto . th dport map @ports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${subnet} oifname != "${bridge}" masquerade
    oifname "${bridge}" ip saddr 127.0.0.0/8 masquerade
    oifname "${bridge}" ct status dnat ip saddr ${subnet} masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "${bridge}" accept
    oifname "${bridge}" ct state established,related accept
    oifname "${bridge}" ct status dnat accept
  }
}
`;
}

export class BridgeNetwork implements NetworkProvider {
  private readonly subnet: Subnet = parseSubnet(SUBNET);
  private readonly gateway = this.subnet.base + 1;
  private readonly ipam: Ipam;
  private ready: Promise<void> | undefined;

  constructor(private readonly dir: string) {
    mkdirSync(join(dir, "endpoints"), { recursive: true, mode: 0o700 });
    this.ipam = new Ipam(join(dir, "bridge-ipam.json"), this.subnet, this.gateway);
  }

  private endpointFile(id: string): string {
    return join(this.dir, "endpoints", `${id}.json`);
  }

  /** The bridge, its address and the nftables table, made on first use. */
  private ensureBridge(): Promise<void> {
    // Another daemon on this host may have torn both down (teardownIfUnused): look again then.
    if (!existsSync(`/sys/class/net/${BRIDGE}`)) this.ready = undefined;
    this.ready ??= (async () => {
      if (!existsSync(`/sys/class/net/${BRIDGE}`)) {
        await ipBatch([
          `link add ${BRIDGE} type bridge`,
          `addr add ${formatAddress(this.gateway)}/${this.subnet.prefix} dev ${BRIDGE}`,
          `link set ${BRIDGE} up`,
        ]);
      }
      // Published ports answer on 127.0.0.1 too: let the kernel route loopback sources to the bridge.
      writeFileSync(`/proc/sys/net/ipv4/conf/${BRIDGE}/route_localnet`, "1");
      writeFileSync("/proc/sys/net/ipv4/ip_forward", "1");
      // Made once; another daemon on this host may already use it (its ports are map elements).
      const exists = await nft(`list table ip ${TABLE}\n`).then(
        () => true,
        () => false,
      );
      if (!exists) await nft(ruleset(BRIDGE, formatSubnet(this.subnet)));
    })().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  async attach(request: AttachRequest): Promise<Attachment> {
    const mode = request.networkMode;
    if (mode !== "bridge" && mode !== "default" && mode !== "")
      throw new InvalidArgument(`network ${mode} not found`);
    await this.ensureBridge();
    const id = request.containerId;
    const requestedIp = request.endpoints["bridge"]?.IPAMConfig?.IPv4Address;
    if (requestedIp)
      throw new InvalidArgument("user specified IP address is supported on user defined networks only");
    const ip = this.ipam.allocate(id);
    const endpoint: Endpoint = {
      id,
      netns: `${NETNS_PREFIX}${id.slice(0, 12)}`,
      veth: `vb${id.slice(0, 12)}`,
      ip,
      published: [],
    };
    // Written first: whatever fails below, detach (or reconcile) finds what to take back.
    writeFileAtomicSync(this.endpointFile(id), JSON.stringify(endpoint));
    try {
      for (const r of requestedBindings(
        request.portBindings,
        request.exposedPorts,
        request.publishAllPorts,
      )) {
        const hostPort = await probePort(r.proto, r.hostIp, r.hostPort);
        if (endpoint.published.some((p) => p.proto === r.proto && p.hostPort === hostPort))
          throw new InvalidArgument(`Bind for ${r.hostIp}:${hostPort} failed: port is already allocated`);
        endpoint.published.push({ ...r, hostPort });
      }
      writeFileAtomicSync(this.endpointFile(id), JSON.stringify(endpoint));
      await ipBatch([
        `netns add ${endpoint.netns}`,
        `link add ${endpoint.veth} type veth peer name eth0 netns ${endpoint.netns}`,
        `link set ${endpoint.veth} master ${BRIDGE}`,
        `link set ${endpoint.veth} type bridge_slave hairpin on`,
        `link set ${endpoint.veth} up`,
      ]);
      await ipBatch(
        [
          `addr add ${ip}/${this.subnet.prefix} dev eth0`,
          "link set lo up",
          "link set eth0 up",
          `route add default via ${formatAddress(this.gateway)}`,
        ],
        endpoint.netns,
      );
      const { any, byAddress } = mapElements(endpoint.published, ip);
      const adds = [
        ...(any.length ? [`add element ip ${TABLE} ports { ${any.join(", ")} }`] : []),
        ...(byAddress.length ? [`add element ip ${TABLE} ports_by_address { ${byAddress.join(", ")} }`] : []),
      ];
      if (adds.length) await nft(`${adds.join("\n")}\n`);
    } catch (err) {
      await this.detach(id);
      throw err;
    }
    const mac = readFileSync(`/sys/class/net/${endpoint.veth}/address`, "utf8").trim();
    const record = {
      Config: { Hostname: request.hostname, Domainname: request.domainname },
    } as ContainerRecord;
    return {
      netnsPath: `/run/netns/${endpoint.netns}`,
      settings: this.settings(endpoint, mac),
      hosts: defaultHosts(record, [ip], request.extraHosts),
      resolvConf: hostResolvConf({
        Dns: request.dns,
        DnsSearch: request.dnsSearch,
        DnsOptions: request.dnsOptions,
        NetworkMode: "bridge",
      }),
    };
  }

  private settings(e: Endpoint, vethMac: string): NetworkSettings {
    const ports: Record<string, PortBinding[] | null> = {};
    for (const p of e.published)
      ports[`${p.containerPort}/${p.proto}`] = [
        ...(ports[`${p.containerPort}/${p.proto}`] ?? []),
        { HostIp: p.hostIp, HostPort: String(p.hostPort) },
      ];
    const gateway = formatAddress(this.gateway);
    return {
      Bridge: "",
      SandboxID: e.netns,
      SandboxKey: `/run/netns/${e.netns}`,
      Ports: ports,
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      SecondaryIPAddresses: null,
      SecondaryIPv6Addresses: null,
      EndpointID: e.veth,
      Gateway: gateway,
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      IPAddress: e.ip,
      IPPrefixLen: this.subnet.prefix,
      IPv6Gateway: "",
      MacAddress: "",
      Networks: {
        bridge: {
          IPAMConfig: null,
          Links: null,
          Aliases: null,
          MacAddress: "",
          NetworkID: "bridge",
          EndpointID: `${e.veth}@${vethMac}`,
          Gateway: gateway,
          IPAddress: e.ip,
          IPPrefixLen: this.subnet.prefix,
          IPv6Gateway: "",
          GlobalIPv6Address: "",
          GlobalIPv6PrefixLen: 0,
          DriverOpts: null,
        },
      },
    };
  }

  async detach(containerId: string): Promise<void> {
    let endpoint: Endpoint;
    try {
      endpoint = JSON.parse(readFileSync(this.endpointFile(containerId), "utf8")) as Endpoint;
    } catch {
      return;
    }
    const { any, byAddress } = mapElements(endpoint.published, endpoint.ip);
    for (const e of any) await nftQuiet(`delete element ip ${TABLE} ports { ${e.split(" : ")[0]} }\n`);
    for (const e of byAddress)
      await nftQuiet(`delete element ip ${TABLE} ports_by_address { ${e.split(" : ")[0]} }\n`);
    // Deleting the host end of the pair deletes both; the namespace goes with its name.
    await ipBatchForce([`link del ${endpoint.veth}`, `netns del ${endpoint.netns}`]);
    this.ipam.release(containerId);
    rmSync(this.endpointFile(containerId), { force: true });
  }

  async reconcile(live: Set<string>): Promise<void> {
    for (const file of readdirSync(join(this.dir, "endpoints"))) {
      const id = file.replace(/\.json$/, "");
      if (!live.has(id)) await this.detach(id);
    }
    for (const id of this.ipam.holders()) if (!live.has(id)) this.ipam.release(id);
  }

  /**
   * At daemon shutdown: when no container is on the bridge any more (of this daemon or another
   * one sharing the host), the bridge and the table go, so that nothing of Berth's stays behind.
   */
  async teardownIfUnused(): Promise<void> {
    if (!existsSync(`/sys/class/net/${BRIDGE}`)) return;
    if (readdirSync(`/sys/class/net/${BRIDGE}/brif`).length > 0) return;
    await ipBatchForce([`link del ${BRIDGE}`]);
    await nftQuiet(`delete table ip ${TABLE}\n`);
  }
}
