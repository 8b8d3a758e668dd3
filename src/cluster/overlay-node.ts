/**
 * Overlay networks, one node's side. It follows the swarm's networks, services and endpoints in
 * the store (a watch, then a read of them all, coalesced), and from them:
 *  - programs the VXLAN forwarding and neighbour entries of each overlay that has a container
 *    here (src/network/overlay.ts), before any traffic needs them;
 *  - keeps each local container's VIP rules: in the container's own namespace, an nftables
 *    table that sends each new connection to a service's VIP to the next of its serving tasks
 *    (round robin, IPVS's default, with the kernel's numgen), so no IPVS is needed;
 *  - answers the embedded DNS for overlay names: a service (its VIP, or its tasks' addresses in
 *    dnsrr mode), `tasks.SERVICE`, and containers by name and alias.
 * It publishes this node's endpoints on the node's lease: when the node dies they vanish from
 * every other node within one lease; when a lease is granted anew they are published again.
 */
import { errorText } from "../errors.js";
import { nft, nftIn, nftQuiet } from "../network/host-net.js";
import type { NetworkManager } from "../network/manager.js";
import type { NetworkRecord } from "../network/network-store.js";
import { ensureOverlay, OVERLAY_MTU, overlaysHere, programPeers, removeOverlay } from "../network/overlay.js";
import type { OverlayEndpoint, SwarmNetworks } from "../network/swarm-networks.js";
import type { NodeReports } from "./node-reports.js";
import { asNetworkRecord, findOverlay, MTU_OPTION, taskNetworks } from "./overlays.js";
import type { ClusterStore } from "./store.js";
import type { EndpointRecord, NodeRecord, OverlayRecord, ServiceRecord, TaskRecord } from "./types.js";

const COALESCE_MS = 20;
const VIP_TABLE = "berth_vip";
const SERVICE_ID_LABEL = "com.docker.swarm.service.id";
const SERVICE_NAME_LABEL = "com.docker.swarm.service.name";
const TASK_ID_LABEL = "com.docker.swarm.task.id";

/** The nftables table of one container's VIP rules (none: the table goes). */
export function vipRuleset(rules: Array<{ vip: string; backends: string[] }>): string {
  const lines = rules.map(({ vip, backends }) =>
    backends.length
      ? `    ip daddr ${vip} dnat to numgen inc mod ${backends.length} map { ${backends.map((b, i) => `${i} : ${b}`).join(", ")} }`
      : `    ip daddr ${vip} reject`,
  );
  // Declaring the table first makes the delete valid when it did not exist: one atomic swap.
  return `table ip ${VIP_TABLE}\ndelete table ip ${VIP_TABLE}\n${
    lines.length
      ? `table ip ${VIP_TABLE} {\n  chain output {\n    type nat hook output priority -100; policy accept;\n${lines.join("\n")}\n  }\n}\n`
      : ""
  }`;
}

const MESH_TABLE = "berth_mesh";

export interface MeshPort {
  protocol: "tcp" | "udp";
  published: number;
  /** "address . port" of this node's tasks (by their host-routable address, the task's port). */
  local: string[];
  /** "address . port" of the other nodes that run a task (the published port there). */
  remote: string[];
}

/**
 * The routing mesh's host table: a published port answers on this node's addresses and goes to
 * a task in turn — one here directly (the task sees the client's own address), or another node,
 * through its published port, with this node's address as source so that the answer comes back
 * the same way. What another node forwards is served here only (no second hop).
 */
export function meshRuleset(ports: MeshPort[], nodes: string[]): string {
  const pick = (targets: string[]) =>
    `dnat ip to numgen inc mod ${targets.length} map { ${targets.map((t, i) => `${i} : ${t}`).join(", ")} }`;
  const rules = ports.flatMap((p) => {
    const match = `fib daddr type local ${p.protocol} dport ${p.published}`;
    return [
      ...(p.local.length ? [`${match} ip saddr @nodes ${pick(p.local)}`] : [`${match} ip saddr @nodes drop`]),
      ...(p.local.length || p.remote.length ? [`${match} ${pick([...p.local, ...p.remote])}`] : []),
    ];
  });
  const head = `table ip ${MESH_TABLE}\ndelete table ip ${MESH_TABLE}\n`;
  if (!rules.length) return head;
  const chain = (name: string, hook: string) =>
    `  chain ${name} {\n    type nat hook ${hook} priority -101; policy accept;\n${rules.map((r) => `    ${r}`).join("\n")}\n  }\n`;
  return `${head}table ip ${MESH_TABLE} {\n  set nodes { type ipv4_addr;${nodes.length ? ` elements = { ${nodes.join(", ")} }` : ""} }\n${chain("prerouting", "prerouting")}${chain("output", "output")}  chain postrouting {\n    type nat hook postrouting priority srcnat - 1; policy accept;\n    ct status dnat ip daddr @nodes masquerade\n  }\n}\n`;
}

/** The ports of services published in ingress mode: what the routing mesh serves. */
function meshPorts(services: ServiceRecord[]) {
  return services.flatMap((s) =>
    // Endpoint.Ports: with the numbers the managers chose for ports published without one.
    (s.Endpoint.Ports ?? s.Spec.EndpointSpec?.Ports ?? [])
      .filter((p) => p.PublishMode !== "host" && p.PublishedPort)
      .map((p) => ({ s, p })),
  );
}

export class OverlayNode implements SwarmNetworks {
  private networks: OverlayRecord[] = [];
  private services: ServiceRecord[] = [];
  private endpoints: EndpointRecord[] = [];
  /** This node's endpoints as published, by network and address (published again on a new lease). */
  private readonly mine = new Map<string, EndpointRecord>();
  /** The VIP ruleset last written in each local container's namespace. */
  private readonly vipRules = new Map<string, string>();
  /** The routing mesh's table as last written on the host. */
  private meshRules = "";
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queued = false;
  private pass: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly store: ClusterStore,
    /** Where its endpoints and addresses are written: the store, or a manager (a worker's). */
    private readonly reports: NodeReports,
    private readonly nodeId: string,
    private readonly addr: string,
    private readonly network: NetworkManager,
    private readonly lease: () => string | undefined,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    await this.refresh();
    this.stopWatch = this.store.watchOverlays(
      0,
      () => this.kick(),
      (id, record) => {
        this.networks = [
          ...this.networks.filter((n) => n.ID !== id),
          ...(record ? [{ ...record, ID: id }] : []),
        ];
      },
      // Tasks matter only to the routing mesh: with no port published, a busy swarm's task
      // states would make a full read of services and endpoints each. A service that comes with
      // a port is a change of services, and its pass reads the tasks itself.
      () => {
        if (meshPorts(this.services).length) this.kick();
      },
    );
    // Services change VIPs; a full read now and then also heals a missed watch event.
    this.timer = setInterval(() => this.kick(), 5000);
    this.network.useSwarm(this);
    await this.collectStale();
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
    clearInterval(this.timer);
    // The mesh's rules go with the daemon (the node's published ports answer again at its start).
    if (this.meshRules) void nftQuiet(meshRuleset([], []));
    this.meshRules = "";
  }

  /** A refresh now, waited for (a network just made must be known before the API answers). */
  async sync(): Promise<void> {
    this.kick();
    await this.pass;
  }

  /** The swarm's overlay networks as last read. */
  records(): OverlayRecord[] {
    return this.networks;
  }

  kick(): void {
    if (this.stopped || this.queued) return;
    this.queued = true;
    this.pass = this.pass.then(async () => {
      await new Promise((r) => setTimeout(r, COALESCE_MS));
      this.queued = false;
      await this.refresh().catch((err) => this.log(`swarm overlay: ${errorText(err)}`));
    });
  }

  /** Reads networks, services and endpoints, then makes this node's data plane match them. */
  private async refresh(): Promise<void> {
    const [networks, services, endpoints] = await Promise.all([
      this.store.list<OverlayRecord>("networks"),
      this.store.list<ServiceRecord>("services"),
      this.store.endpoints(),
    ]);
    this.networks = networks;
    this.services = services;
    this.endpoints = endpoints.list;
    // netns of each local container on an overlay → the overlays it is on
    const local = new Map<string, string[]>();
    for (const n of networks) {
      const members = this.network.overlayMembers(n.ID);
      if (!members.length) continue;
      const remote = this.endpoints
        .filter((e) => e.NetworkID === n.ID && e.NodeID !== this.nodeId)
        .map((e) => ({ ip: e.IP, mac: e.MAC, nodeAddr: e.NodeAddr }));
      // Made already with the first container; after a daemon restart, taken over again.
      const config = n.Spec.IPAMOptions.Configs[0]!;
      await ensureOverlay({
        vni: n.VNI,
        subnet: config.Subnet,
        gateway: config.Gateway,
        mtu: Number(n.Spec.DriverConfiguration.Options[MTU_OPTION] ?? OVERLAY_MTU),
        localAddr: this.addr,
      });
      await programPeers(n.VNI, remote);
      for (const m of members) local.set(m.netns, [...(local.get(m.netns) ?? []), n.ID]);
    }
    for (const [netns, on] of local) await this.programVips(netns, on);
    for (const netns of this.vipRules.keys()) if (!local.has(netns)) this.vipRules.delete(netns);
    // An overlay's namespace with no container of this node left (one left by a daemon that
    // died) goes. Whether one is on it is asked at the removal itself: a container that joined
    // during this pass (of a network this pass has not read yet, too) keeps the namespace.
    for (const vni of overlaysHere()) await removeOverlay(vni, () => this.network.overlayInUse(vni));
    await this.programMesh();
  }

  /** The routing mesh: every ingress-published port of every service, on this node. */
  private async programMesh(): Promise<void> {
    const published = meshPorts(this.services);
    let ports: MeshPort[] = [];
    let nodes: string[] = [];
    if (published.length) {
      const [tasks, nodeRecords, alive] = await Promise.all([
        this.store.list<TaskRecord>("tasks"),
        this.store.list<NodeRecord>("nodes"),
        this.store.alive(),
      ]);
      // Every other node is a node (one back from an outage forwards before this pass sees it
      // alive again); only the live ones get connections.
      nodes = nodeRecords
        .filter((n) => n.ID !== this.nodeId)
        .map((n) => n.Addr)
        .sort();
      const others = nodeRecords.filter((n) => n.ID !== this.nodeId && alive.has(n.ID));
      ports = published.map(({ s, p }) => ({
        protocol: p.Protocol === "udp" ? "udp" : "tcp",
        published: p.PublishedPort!,
        local: this.network
          .serviceTargets(s.ID)
          .sort()
          .map((ip) => `${ip} . ${p.TargetPort}`),
        remote: others
          .filter((n) =>
            tasks.some((t) => t.ServiceID === s.ID && t.NodeID === n.ID && t.Status.State === "running"),
          )
          .map((n) => `${n.Addr} . ${p.PublishedPort}`),
      }));
    }
    const script = meshRuleset(ports, nodes);
    if (script === this.meshRules || (!this.meshRules && !ports.length)) return;
    await nft(script).then(
      () => {
        this.meshRules = ports.length ? script : "";
      },
      (err: Error) => this.log(`swarm routing mesh: ${err.message}`),
    );
  }

  /** A local container's VIP rules: those of the services on the overlays it is on. */
  private async programVips(netns: string, networkIds: string[]): Promise<void> {
    const script = vipRuleset(
      networkIds.flatMap((id) => this.vipsOn(id)).sort((a, b) => a.vip.localeCompare(b.vip)),
    );
    if (this.vipRules.get(netns) === script) return;
    await nftIn(netns, script).then(
      () => this.vipRules.set(netns, script),
      (err: Error) => this.log(`swarm overlay: VIP rules in ${netns}: ${err.message}`),
    );
  }

  /** The VIPs of the services on a network, each with its serving tasks' addresses. */
  private vipsOn(networkId: string): Array<{ vip: string; backends: string[] }> {
    return this.services.flatMap((s) =>
      (s.Endpoint.VirtualIPs ?? [])
        .filter((v) => v.NetworkID === networkId)
        .map((v) => ({
          vip: v.Addr.split("/")[0]!,
          backends: this.endpoints
            .filter((e) => e.NetworkID === networkId && e.ServiceID === s.ID && e.Serving)
            .map((e) => e.IP)
            .sort(),
        })),
    );
  }

  /** Addresses this node took for containers that are no longer here (a crash between the two). */
  private async collectStale(): Promise<void> {
    for (const n of this.networks) {
      const here = new Set(this.network.overlayMembers(n.ID).map((m) => `${this.nodeId}:${m.containerId}`));
      for (const [ip, owner] of await this.store.addresses(n.ID))
        if (owner.startsWith(`${this.nodeId}:`) && !here.has(owner))
          await this.reports.release(n.ID, ip, owner);
    }
  }

  // ---- SwarmNetworks

  find(nameOrId: string): NetworkRecord | undefined {
    const n = findOverlay(this.networks, nameOrId);
    return n ? asNetworkRecord(n) : undefined;
  }

  all(): NetworkRecord[] {
    return this.networks.map(asNetworkRecord);
  }

  localAddr(): string {
    return this.addr;
  }

  async allocate(networkId: string, owner: string, requested?: string): Promise<string> {
    const n = this.networks.find((x) => x.ID === networkId);
    if (!n) throw new Error(`network ${networkId} is not in the swarm any more`);
    return this.reports.allocate(n, `${this.nodeId}:${owner}`, requested);
  }

  async release(networkId: string, owner: string, ip: string): Promise<void> {
    await this.reports.release(networkId, ip, `${this.nodeId}:${owner}`);
  }

  async publish(e: OverlayEndpoint): Promise<void> {
    const record: EndpointRecord = {
      NetworkID: e.networkId,
      NodeID: this.nodeId,
      NodeAddr: this.addr,
      IP: e.ip,
      MAC: e.mac,
      ContainerID: e.containerId,
      Name: e.name,
      Aliases: e.aliases,
      ...(e.labels[SERVICE_ID_LABEL] ? { ServiceID: e.labels[SERVICE_ID_LABEL] } : {}),
      ...(e.labels[SERVICE_NAME_LABEL] ? { ServiceName: e.labels[SERVICE_NAME_LABEL] } : {}),
      // A task serves once its agent says it runs (healthy); any other container at once.
      Serving: !e.labels[TASK_ID_LABEL],
    };
    this.mine.set(`${e.networkId}/${e.ip}`, record);
    const lease = this.lease();
    if (lease) await this.reports.publishEndpoint(record, lease);
    this.kick();
  }

  async withdraw(networkId: string, ip: string): Promise<void> {
    this.mine.delete(`${networkId}/${ip}`);
    await this.reports.withdrawEndpoint(networkId, ip);
    this.kick();
  }

  /** A task's container starts or stops receiving its service's connections. */
  async setServing(containerId: string, serving: boolean): Promise<void> {
    const lease = this.lease();
    for (const e of this.mine.values())
      if (e.ContainerID === containerId && e.Serving !== serving) {
        e.Serving = serving;
        if (lease) await this.reports.publishEndpoint(e, lease);
      }
  }

  /** A new lease (the old one expired): this node's endpoints are published on it again. */
  async republish(lease: string): Promise<void> {
    for (const e of this.mine.values()) await this.reports.publishEndpoint(e, lease);
  }

  resolve(asked: string, networkIds: string[]): string[] | undefined {
    const name = asked.replace(/\.$/, "").toLowerCase();
    const on = (e: EndpointRecord) => networkIds.includes(e.NetworkID);
    const tasksOf = (service: string) =>
      this.endpoints
        .filter((e) => on(e) && e.Serving && e.ServiceName?.toLowerCase() === service)
        .map((e) => e.IP);
    if (name.startsWith("tasks.")) {
      const ips = tasksOf(name.slice("tasks.".length));
      return ips.length ? ips : undefined;
    }
    // A service by its name, or by an alias it has on one of these networks (a stack's
    // services are known by their short names so).
    const service =
      this.services.find((s) => s.Spec.Name.toLowerCase() === name) ??
      this.services.find((s) =>
        taskNetworks(s.Spec).some(
          (n) => networkIds.includes(n.Target) && (n.Aliases ?? []).some((a) => a.toLowerCase() === name),
        ),
      );
    if (service) {
      const vips = (service.Endpoint.VirtualIPs ?? [])
        .filter((v) => networkIds.includes(v.NetworkID))
        .map((v) => v.Addr.split("/")[0]!);
      if (vips.length) return vips;
      const ips = tasksOf(service.Spec.Name.toLowerCase());
      if (ips.length) return ips;
    }
    const named = this.endpoints
      .filter(
        (e) => on(e) && (e.Name.toLowerCase() === name || e.Aliases.some((a) => a.toLowerCase() === name)),
      )
      .map((e) => e.IP);
    return named.length ? named : undefined;
  }

  /** The nodes with endpoints on a network (network inspect's Peers). */
  endpointsOf(networkId: string): EndpointRecord[] {
    return this.endpoints.filter((e) => e.NetworkID === networkId);
  }
}
