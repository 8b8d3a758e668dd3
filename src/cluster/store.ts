/**
 * The one module that speaks to etcd: the key layout, typed reads and writes, watches.
 *
 * Key layout (one prefix per kind, JSON values in the API's shapes):
 *   /berth/cluster            ClusterRecord (the CA certificate; join tokens sealed)
 *   /berth/nodes/<id>         NodeRecord
 *   /berth/alive/<id>         the node's address, on the node's lease: present while it heartbeats
 *   /berth/services/<id>      ServiceRecord
 *   /berth/tasks/<id>         TaskRecord
 *   /berth/secrets/<id>       SecretRecord (its data sealed)
 *   /berth/configs/<id>       SecretRecord of a config (its data sealed too)
 *   /berth/leader             the elected leader's node id, on its lease
 *   /berth/networks/<id>      OverlayRecord
 *   /berth/alloc/vni/<vni>    the network holding a VXLAN id (created once: never given twice)
 *   /berth/alloc/subnet/<net> the network holding a subnet ("10.0.1.0_24")
 *   /berth/alloc/ip/<net>/<ip>  the owner of an address: a container, or a service's VIP
 *   /berth/alloc/port/<proto>/<port>  the service ("svc:<id>") holding a port published in
 *                             ingress mode (given or chosen from 30000-32767)
 *   /berth/endpoints/<net>/<ip> EndpointRecord, on its node's lease
 * A record's Version.Index is its etcd mod revision, so an update that names an old version
 * fails as docker's does ("update out of sequence").
 */
import { Conflict, NotFound } from "../errors.js";
import {
  type Compare,
  type EtcdClient,
  type KeyValue,
  MAX_TXN_OPS,
  type Operation,
  type WatchEvent,
} from "./etcd.js";
import { GroupCommit } from "./group-commit.js";
import type {
  ClusterRecord,
  EndpointRecord,
  Meta,
  NodeRecord,
  OverlayRecord,
  ServiceRecord,
  TaskRecord,
} from "./types.js";

export const KEYS = {
  cluster: "/berth/cluster",
  nodes: "/berth/nodes/",
  alive: "/berth/alive/",
  services: "/berth/services/",
  tasks: "/berth/tasks/",
  secrets: "/berth/secrets/",
  configs: "/berth/configs/",
  leader: "/berth/leader",
  networks: "/berth/networks/",
  alloc: "/berth/alloc/",
  endpoints: "/berth/endpoints/",
} as const;

export type Kind = "nodes" | "services" | "tasks" | "secrets" | "configs" | "networks";

/** A write made by the leader: it holds only while the leader key is the one it created. */
export interface LeaderGuard {
  createRevision: number;
}

export class OutOfSequence extends Conflict {
  constructor(kind: string) {
    super(`update out of sequence: the ${kind} was changed meanwhile; read it again and retry`);
  }
}

function parse<T extends Meta>(kv: KeyValue): T {
  const record = JSON.parse(kv.value) as T;
  record.Version = { Index: kv.modRevision };
  return record;
}

export class ClusterStore {
  /** Updates written together with those made at about the same time (see updateGrouped). */
  private readonly grouped: GroupCommit;

  constructor(readonly etcd: EtcdClient) {
    this.grouped = new GroupCommit(etcd);
  }

  async cluster(): Promise<ClusterRecord | undefined> {
    return (await this.clusterAt())?.record;
  }

  /** The cluster's record and the revision it was written at (its Version.Index). */
  async clusterAt(): Promise<{ record: ClusterRecord; index: number } | undefined> {
    const kv = await this.etcd.get(KEYS.cluster);
    return kv ? { record: JSON.parse(kv.value) as ClusterRecord, index: kv.modRevision } : undefined;
  }

  /** Writes the cluster's record if it is still at `index`. */
  updateCluster(record: ClusterRecord, index: number): Promise<boolean> {
    return this.etcd.txn(
      [{ key: KEYS.cluster, target: "MOD", modRevision: index }],
      [{ put: { key: KEYS.cluster, value: JSON.stringify(record) } }],
    );
  }

  async putCluster(record: ClusterRecord): Promise<void> {
    await this.etcd.put(KEYS.cluster, JSON.stringify(record));
  }

  async list<T extends Meta>(kind: Kind): Promise<T[]> {
    return (await this.etcd.list(KEYS[kind])).kvs.map((kv) => parse<T>(kv));
  }

  /** Everything the orchestrator looks at, read at one revision. */
  async snapshot(): Promise<Snapshot> {
    const { kvs, revision } = await this.etcd.list("/berth/");
    return snapshotOf(
      kvs.map((kv) => ({ kv, value: parseEntry(kv) })),
      revision,
    );
  }

  async get<T extends Meta>(kind: Kind, id: string): Promise<T | undefined> {
    const kv = await this.etcd.get(KEYS[kind] + id);
    return kv ? parse<T>(kv) : undefined;
  }

  /** Records of one kind by id, read in as few calls as etcd allows; undefined where none is. */
  async getMany<T extends Meta>(kind: Kind, ids: string[]): Promise<Array<T | undefined>> {
    const found: Array<T | undefined> = [];
    for (let i = 0; i < ids.length; i += MAX_TXN_OPS) {
      const kvs = await this.etcd.getMany(ids.slice(i, i + MAX_TXN_OPS).map((id) => KEYS[kind] + id));
      for (const kv of kvs) found.push(kv ? parse<T>(kv) : undefined);
    }
    return found;
  }

  async alive(): Promise<Set<string>> {
    return new Set((await this.etcd.list(KEYS.alive)).kvs.map((kv) => kv.key.slice(KEYS.alive.length)));
  }

  /** Creates a record that must not exist yet. */
  async create<T extends Meta>(kind: Kind, record: T, guard?: LeaderGuard): Promise<boolean> {
    const key = KEYS[kind] + record.ID;
    return this.etcd.txn(
      [{ key, target: "CREATE", createRevision: 0 }, ...leaderCompare(guard)],
      [{ put: { key, value: serialise(record) } }],
    );
  }

  /**
   * Writes a record if it is still at `version` (its Version.Index when read). False when it
   * changed meanwhile, or when `guard` no longer holds.
   */
  async update<T extends Meta>(kind: Kind, record: T, guard?: LeaderGuard): Promise<boolean> {
    const key = KEYS[kind] + record.ID;
    return this.etcd.txn(
      [{ key, target: "MOD", modRevision: record.Version.Index }, ...leaderCompare(guard)],
      [{ put: { key, value: serialise(record) } }],
    );
  }

  /**
   * As update (without a leader's guard), in one call of etcd with the other updates made at
   * about the same time: many nodes' task states cost one transaction, not one each.
   */
  updateGrouped<T extends Meta>(kind: Kind, record: T): Promise<boolean> {
    return this.grouped.write(KEYS[kind] + record.ID, serialise(record), record.Version.Index);
  }

  /**
   * Several creates and updates in one transaction: all or none. With the store's revision after
   * it (a reader of a mirror waits for that one).
   */
  async batch(
    writes: Array<{ kind: Kind; record: Meta; create?: boolean } | { kind: Kind; remove: Meta }>,
    guard?: LeaderGuard,
  ): Promise<{ succeeded: boolean; revision: number }> {
    if (!writes.length) return { succeeded: true, revision: 0 };
    const compare: Compare[] = [...leaderCompare(guard)];
    const ops: Operation[] = [];
    for (const w of writes) {
      if ("remove" in w) {
        const key = KEYS[w.kind] + w.remove.ID;
        compare.push({ key, target: "MOD", modRevision: w.remove.Version.Index });
        ops.push({ delete: { key } });
      } else {
        const key = KEYS[w.kind] + w.record.ID;
        compare.push(
          w.create
            ? { key, target: "CREATE", createRevision: 0 }
            : { key, target: "MOD", modRevision: w.record.Version.Index },
        );
        ops.push({ put: { key, value: serialise(w.record) } });
      }
    }
    return this.etcd.txnAt(compare, ops);
  }

  /**
   * A new service, with its name held for it in the same transaction: two creates of one name at
   * once (on two managers, say) cannot both succeed, and no create reads every service first.
   * False when the name is held (or, never in practice, the id is taken).
   */
  async createService(record: ServiceRecord): Promise<boolean> {
    const key = KEYS.services + record.ID;
    const name = serviceNameKey(record.Spec.Name);
    const create = () =>
      this.etcd.txn(
        [
          { key, target: "CREATE", createRevision: 0 },
          { key: name, target: "CREATE", createRevision: 0 },
        ],
        [{ put: { key, value: serialise(record) } }, { put: { key: name, value: record.ID } }],
      );
    if (await create()) return true;
    // A name held for a service that is gone (a leader held it for a service being removed:
    // see holdServiceName) is given up, and the create tried once more.
    const holder = (await this.etcd.get(name))?.value;
    if (!holder) return false;
    await this.etcd.txn(
      [
        { key: name, target: "VALUE", value: holder },
        { key: KEYS.services + holder, target: "CREATE", createRevision: 0 },
      ],
      [{ delete: { key: name } }],
    );
    return create();
  }

  /** A service gone, and its name with it when the name is held for it. */
  async removeService(service: ServiceRecord): Promise<void> {
    const key = KEYS.services + service.ID;
    const name = serviceNameKey(service.Spec.Name);
    // Not held for it: a service made before names were held, until a leader held its name.
    if (
      !(await this.etcd.txn(
        [{ key: name, target: "VALUE", value: service.ID }],
        [{ delete: { key } }, { delete: { key: name } }],
      ))
    )
      await this.remove("services", service.ID);
  }

  /** Whether a service holds `name`. */
  async serviceNameHeld(name: string): Promise<boolean> {
    return (await this.etcd.get(serviceNameKey(name))) !== undefined;
  }

  /** The ids of the services that hold names, by name (lower case). */
  async serviceNames(): Promise<Map<string, string>> {
    const { kvs } = await this.etcd.list(SERVICE_NAMES);
    return new Map(kvs.map((kv) => [kv.key.slice(SERVICE_NAMES.length), kv.value]));
  }

  /**
   * Holds `service`'s name for it, unless another service holds it; a leader's write, under its
   * guard. If the service is being removed meanwhile, its name stays held for nothing until a
   * create of that name gives it up.
   */
  holdServiceName(service: ServiceRecord, guard: LeaderGuard): Promise<boolean> {
    const name = serviceNameKey(service.Spec.Name);
    return this.etcd.txn(
      [{ key: name, target: "CREATE", createRevision: 0 }, ...leaderCompare(guard)],
      [{ put: { key: name, value: service.ID } }],
    );
  }

  async remove(kind: Kind, id: string): Promise<void> {
    if (!(await this.etcd.delete(KEYS[kind] + id)))
      throw new NotFound(`${kind.slice(0, -1)} ${id} not found`);
  }

  /** Keeps `/berth/alive/<node>` on the node's lease: while it is there, the node is up. */
  async announce(nodeId: string, addr: string, lease: string): Promise<void> {
    await this.etcd.put(KEYS.alive + nodeId, addr, lease);
  }

  /**
   * The node is down from now (it leaves): a worker cannot revoke a lease that holds endpoints a
   * manager wrote for it, but it can take back its own alive key.
   */
  async unannounce(nodeId: string): Promise<void> {
    await this.etcd.delete(KEYS.alive + nodeId);
  }

  /**
   * A node's heartbeat: its lease renewed, or — expired (a long pause) or never made — a new one
   * with the node's alive key on it. The lease held now, and whether it is new.
   */
  async heartbeat(
    nodeId: string,
    addr: string,
    lease: string | undefined,
    ttlSeconds: number,
  ): Promise<{ lease: string; fresh: boolean }> {
    if (lease && (await this.etcd.keepAlive(lease))) return { lease, fresh: false };
    const made = await this.etcd.grantLease(ttlSeconds);
    await this.announce(nodeId, addr, made);
    return { lease: made, fresh: true };
  }

  /** Tries to become the leader: true when this node's key is now the leader key. */
  async campaign(nodeId: string, lease: string): Promise<LeaderGuard | undefined> {
    const won = await this.etcd.txn(
      [{ key: KEYS.leader, target: "CREATE", createRevision: 0 }],
      [{ put: { key: KEYS.leader, value: nodeId, lease } }],
    );
    const kv = await this.etcd.get(KEYS.leader);
    if (won || (kv && kv.value === nodeId && kv.lease === lease))
      return kv ? { createRevision: kv.createRevision } : undefined;
    return undefined;
  }

  // ---- overlay networks: allocations that are created once, so never handed out twice

  /** A new overlay network with its VXLAN id and subnet, all three or none (another took one). */
  createNetwork(record: OverlayRecord, subnet: string): Promise<boolean> {
    const keys = [
      KEYS.networks + record.ID,
      `${KEYS.alloc}vni/${record.VNI}`,
      `${KEYS.alloc}subnet/${subnet.replace("/", "_")}`,
    ];
    return this.etcd.txn(
      keys.map((key) => ({ key, target: "CREATE", createRevision: 0 })),
      [
        { put: { key: keys[0]!, value: serialise(record) } },
        { put: { key: keys[1]!, value: record.ID } },
        { put: { key: keys[2]!, value: record.ID } },
      ],
    );
  }

  /** A network and every allocation it holds; its endpoints must be gone. */
  async removeNetwork(record: OverlayRecord): Promise<void> {
    const subnet = record.Spec.IPAMOptions.Configs[0]!.Subnet.replace("/", "_");
    await this.etcd.txn(
      [],
      [
        { delete: { key: KEYS.networks + record.ID } },
        { delete: { key: `${KEYS.alloc}vni/${record.VNI}` } },
        { delete: { key: `${KEYS.alloc}subnet/${subnet}` } },
        { delete: { key: `${KEYS.alloc}ip/${record.ID}/`, prefix: true } },
      ],
    );
  }

  /** Taken VXLAN ids and subnets, for choosing free ones. */
  async networkAllocations(): Promise<{ vnis: Set<number>; subnets: string[] }> {
    const { kvs } = await this.etcd.list(KEYS.alloc);
    const vnis = new Set<number>();
    const subnets: string[] = [];
    for (const kv of kvs) {
      const rest = kv.key.slice(KEYS.alloc.length);
      if (rest.startsWith("vni/")) vnis.add(Number(rest.slice(4)));
      else if (rest.startsWith("subnet/")) subnets.push(rest.slice(7).replace("_", "/"));
    }
    return { vnis, subnets };
  }

  /** The addresses taken on a network, with their owners. */
  async addresses(networkId: string): Promise<Map<string, string>> {
    const prefix = `${KEYS.alloc}ip/${networkId}/`;
    const { kvs } = await this.etcd.list(prefix);
    return new Map(kvs.map((kv) => [kv.key.slice(prefix.length), kv.value]));
  }

  /** Who holds one address of a network (one key read, not the network's every address). */
  async addressOwner(networkId: string, ip: string): Promise<string | undefined> {
    return (await this.etcd.get(`${KEYS.alloc}ip/${networkId}/${ip}`))?.value;
  }

  /** Takes an address for `owner` if nobody holds it. */
  takeAddress(networkId: string, ip: string, owner: string): Promise<boolean> {
    const key = `${KEYS.alloc}ip/${networkId}/${ip}`;
    return this.etcd.txn([{ key, target: "CREATE", createRevision: 0 }], [{ put: { key, value: owner } }]);
  }

  /** Gives an address back, if `owner` still holds it. */
  async releaseAddress(networkId: string, ip: string, owner: string): Promise<void> {
    const key = `${KEYS.alloc}ip/${networkId}/${ip}`;
    await this.etcd.txn([{ key, target: "VALUE", value: owner }], [{ delete: { key } }]);
  }

  /** Ingress ports taken ("tcp/30000" → owner). */
  async publishedPorts(): Promise<Map<string, string>> {
    const prefix = `${KEYS.alloc}port/`;
    const { kvs } = await this.etcd.list(prefix);
    return new Map(kvs.map((kv) => [kv.key.slice(prefix.length), kv.value]));
  }

  /**
   * Takes a published port for `owner` if nobody holds it (created once, so never given twice);
   * true too when `owner` already holds it.
   */
  async takePort(protocol: string, port: number, owner: string): Promise<boolean> {
    const key = `${KEYS.alloc}port/${protocol}/${port}`;
    if (await this.etcd.txn([{ key, target: "CREATE", createRevision: 0 }], [{ put: { key, value: owner } }]))
      return true;
    return (await this.etcd.get(key))?.value === owner;
  }

  /** Gives a published port back, if `owner` still holds it. */
  async releasePort(protocol: string, port: number, owner: string): Promise<void> {
    const key = `${KEYS.alloc}port/${protocol}/${port}`;
    await this.etcd.txn([{ key, target: "VALUE", value: owner }], [{ delete: { key } }]);
  }

  async publishEndpoint(e: EndpointRecord, lease: string): Promise<void> {
    await this.etcd.put(`${KEYS.endpoints}${e.NetworkID}/${e.IP}`, JSON.stringify(e), lease);
  }

  async withdrawEndpoint(networkId: string, ip: string): Promise<void> {
    await this.etcd.delete(`${KEYS.endpoints}${networkId}/${ip}`);
  }

  /** One endpoint of a network, if it is published. */
  async endpoint(networkId: string, ip: string): Promise<EndpointRecord | undefined> {
    const kv = await this.etcd.get(`${KEYS.endpoints}${networkId}/${ip}`);
    return kv ? tryParse<EndpointRecord>(kv.value) : undefined;
  }

  /** Endpoints, of one network or of all, and the revision they were read at. */
  async endpoints(networkId?: string): Promise<{ list: EndpointRecord[]; revision: number }> {
    const { kvs, revision } = await this.etcd.list(KEYS.endpoints + (networkId ? `${networkId}/` : ""));
    return {
      list: kvs.map((kv) => tryParse<EndpointRecord>(kv.value)).filter((e): e is EndpointRecord => !!e),
      revision,
    };
  }

  /**
   * Any change of networks, endpoints or services (`onChange`; a node's overlays and VIPs follow
   * them) and of tasks (`onTasks`: the routing mesh follows where they run).
   */
  watchOverlays(
    fromRevision: number,
    onChange: () => void,
    onNetwork: (id: string, record: OverlayRecord | undefined) => void,
    onTasks: () => void = onChange,
  ): () => void {
    const stops = [KEYS.endpoints, KEYS.services].map((prefix) =>
      this.etcd.watch(prefix, fromRevision, onChange),
    );
    stops.push(this.etcd.watch(KEYS.tasks, fromRevision, onTasks));
    // Networks are taken from the events themselves: a network made on a manager is known here
    // as soon as the event arrives, before the next full read.
    stops.push(
      this.etcd.watch(KEYS.networks, fromRevision, (events) => {
        for (const e of events)
          onNetwork(
            e.kv.key.slice(KEYS.networks.length),
            e.type === "DELETE" ? undefined : (tryParse<OverlayRecord>(e.kv.value) ?? undefined),
          );
        onChange();
      }),
    );
    return () => {
      for (const stop of stops) stop();
    };
  }

  /** Whether no manager but `nodeId` is left. */
  async lastManager(nodeId: string): Promise<boolean> {
    const nodes = await this.list<NodeRecord>("nodes");
    return !nodes.some((n) => n.Spec.Role === "manager" && n.ID !== nodeId);
  }

  /** Every key of the swarm gone: its last manager left a store of the user's own. */
  async erase(): Promise<void> {
    await this.etcd.delete("/berth/", true);
  }

  /** Gives up leading (a demoted manager): the leader key goes if it is still this node's. */
  async resign(nodeId: string): Promise<void> {
    await this.etcd.txn(
      [{ key: KEYS.leader, target: "VALUE", value: nodeId }],
      [{ delete: { key: KEYS.leader } }],
    );
  }

  async leader(): Promise<string | undefined> {
    return (await this.etcd.get(KEYS.leader))?.value;
  }

  watch(fromRevision: number, onEvents: (events: WatchEvent[]) => void): () => void {
    return this.etcd.watch("/berth/", fromRevision, onEvents);
  }

  /** Changes of tasks only, with their records (a node agent reads those of its own). */
  watchTasks(
    onTasks: (changes: Array<{ removed: boolean; task: TaskRecord | undefined }>) => void,
  ): () => void {
    return this.etcd.watch(KEYS.tasks, 0, (events) =>
      onTasks(
        events.map((e) => ({
          removed: e.type === "DELETE",
          task: e.type === "DELETE" ? undefined : tryParse<TaskRecord>(e.kv.value),
        })),
      ),
    );
  }
}

/** What the orchestrator reads of the store, at one revision. */
export interface Snapshot {
  nodes: NodeRecord[];
  alive: Set<string>;
  services: ServiceRecord[];
  tasks: TaskRecord[];
  cluster: ClusterRecord | undefined;
  revision: number;
}

/** A key of the swarm's prefix parsed as what it holds (a record, or an alive key's address). */
export function parseEntry(kv: KeyValue): unknown {
  if (kv.key.startsWith(KEYS.nodes) || kv.key.startsWith(KEYS.services) || kv.key.startsWith(KEYS.tasks)) {
    const record = tryParse<Meta>(kv.value);
    if (record) record.Version = { Index: kv.modRevision };
    return record;
  }
  if (kv.key === KEYS.cluster) return tryParse<ClusterRecord>(kv.value);
  return kv.value;
}

/** The snapshot that parsed keys of the swarm's prefix make (from a read or a mirror). */
export function snapshotOf(entries: Iterable<{ kv: KeyValue; value: unknown }>, revision: number): Snapshot {
  let cluster: ClusterRecord | undefined;
  const nodes: NodeRecord[] = [];
  const services: ServiceRecord[] = [];
  const tasks: TaskRecord[] = [];
  const alive = new Set<string>();
  for (const { kv, value } of entries) {
    if (value === undefined) continue;
    if (kv.key.startsWith(KEYS.nodes)) nodes.push(value as NodeRecord);
    else if (kv.key.startsWith(KEYS.services)) services.push(value as ServiceRecord);
    else if (kv.key.startsWith(KEYS.tasks)) tasks.push(value as TaskRecord);
    else if (kv.key.startsWith(KEYS.alive)) alive.add(kv.key.slice(KEYS.alive.length));
    else if (kv.key === KEYS.cluster) cluster = value as ClusterRecord;
  }
  return { nodes, alive, services, tasks, cluster, revision };
}

/** Where each service's name is held: names compare without case, as swarm's do. */
const SERVICE_NAMES = `${KEYS.alloc}service-name/`;
const serviceNameKey = (name: string) => SERVICE_NAMES + name.toLowerCase();

function leaderCompare(guard: LeaderGuard | undefined): Compare[] {
  return guard ? [{ key: KEYS.leader, target: "CREATE", createRevision: guard.createRevision }] : [];
}

/** Version is the store's, not the record's: it is not written. */
function serialise(record: Meta): string {
  const { Version: _version, ...rest } = record;
  return JSON.stringify(rest);
}

function tryParse<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
