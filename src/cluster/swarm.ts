/**
 * This daemon's membership of a cluster: `swarm init`, `join`, `leave`, and what survives a
 * restart. The local state (ids, role, addresses, certificates, the embedded etcd member's data)
 * lives under <root>/swarm; everything shared lives in etcd. While in a cluster the node runs its
 * agent, heartbeats on a lease, and — on a manager — campaigns to lead (leader.ts). Without a
 * swarm none of this runs.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:https";
import { cpus, hostname, networkInterfaces, totalmem } from "node:os";
import { join } from "node:path";
import type { Engine } from "../engine/engine.js";
import { BerthError, Conflict, InvalidArgument, NotFound } from "../errors.js";
import type { NetworkManager } from "../network/manager.js";
import type { CreateNetworkRequest } from "../network/network-store.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { NodeAgent } from "./agent.js";
import { KeysAtRest, newUnlockKey } from "./autolock.js";
import {
  createCA,
  createKeyAndRequest,
  type KeyPair,
  type NodeRole,
  newJoinToken,
  parseJoinToken,
  sameToken,
  signRequest,
} from "./ca.js";
import { clientURL, EmbeddedEtcd, type EtcdFiles, peerURL, tlsOf } from "./embedded-etcd.js";
import { EngineRuntime } from "./engine-runtime.js";
import { EtcdClient, type EtcdLogin, type EtcdTls, type Member } from "./etcd.js";
import type { ExternalStore } from "./external-store.js";
import { newClusterId } from "./ids.js";
import { roleIntact, sealRole } from "./integrity.js";
import {
  askPeer,
  JOIN_PORT,
  type JoinAnswer,
  JoinRefused,
  type JoinRequest,
  type PeerCall,
  PeerRefused,
  peerAddress,
  requestJoin,
  servePeers,
  splitHostPort,
} from "./join.js";
import { Leader } from "./leader.js";
import { StoreMirror } from "./mirror.js";
import {
  acceptReport,
  ManagerReports,
  type NodeReports,
  REPORT_PATHS,
  StoreReports,
} from "./node-reports.js";
import { NodeTaskFeed } from "./node-tasks.js";
import { OverlayNode } from "./overlay-node.js";
import { createOverlay, removeOverlay } from "./overlays.js";
import { acceptBatch } from "./report-batch.js";
import { seal, unseal } from "./sealing.js";
import { filesForTask, type TaskFile } from "./secrets.js";
import { ClusterStore, KEYS, parseEntry, type Snapshot, snapshotOf } from "./store.js";
import {
  admitStoreUser,
  enableStoreAccess,
  removeStoreUser,
  setStoreRole,
  storeUser,
} from "./store-access.js";
import { gatherTaskLogs, type LogQuery, logQuery, serveTaskLogs } from "./task-logs.js";
import type { ClusterRecord, JoinTokens, NodeRecord, OverlayRecord, SwarmSpec, TaskRecord } from "./types.js";

/** Raised for the calls docker answers with 503 (not in a swarm, not a manager, already in one). */
export class SwarmUnavailable extends BerthError {
  constructor(message: string) {
    super("unavailable", message);
  }
}

export const NOT_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
export const WORKER_NOT_MANAGER =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
export const NOT_IN_SWARM = "This node is not part of a swarm";
/** What the cluster record's sealed values are bound to (one copied into the other opens not). */
const TOKENS = "join-tokens";
const UNLOCK_KEY = "unlock-key";
const SWARM_LOCKED =
  'Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to unlock it.';
const ALREADY_IN_SWARM =
  'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join another one.';

/** How long a node's lease lasts without a heartbeat, and how often it beats. */
export const LEASE_TTL_SECONDS = 5;
export const HEARTBEAT_MS = 1500;
/** How many heartbeats between two reads of the store's member list. */
const ENDPOINT_REFRESH_BEATS = 20;

interface LocalState {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
  addr: string;
  listenAddr: string;
  /** Client URLs of the store, as last known. */
  endpoints: string[];
  /** True when this node runs an etcd member of its own. */
  embedded: boolean;
  /** Autolock: the node's keys are sealed on disk (under the unlock key of this digest). */
  locked?: boolean;
  lockDigest?: string | undefined;
}

export interface InitRequest {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  ForceNewCluster?: boolean;
  Spec?: Partial<SwarmSpec>;
  DefaultAddrPool?: string[];
  SubnetSize?: number;
  DataPathPort?: number;
  /** Berth's: the default placement strategy. */
  Strategy?: string;
}

export interface JoinBody {
  ListenAddr?: string;
  AdvertiseAddr?: string;
  RemoteAddrs?: string[];
  JoinToken?: string;
}

export const STRATEGIES = ["spread", "binpack", "random"];

export function defaultSwarmSpec(given: Partial<SwarmSpec> = {}, base?: SwarmSpec): SwarmSpec {
  const d: SwarmSpec = base ?? {
    Name: "default",
    Labels: {},
    Orchestration: { TaskHistoryRetentionLimit: 5 },
    Raft: {
      SnapshotInterval: 10000,
      KeepOldSnapshots: 0,
      LogEntriesForSlowFollowers: 500,
      ElectionTick: 10,
      HeartbeatTick: 1,
    },
    Dispatcher: { HeartbeatPeriod: HEARTBEAT_MS * 1_000_000 },
    CAConfig: { NodeCertExpiry: 3650 * 24 * 3600 * 1_000_000_000 },
    TaskDefaults: {},
    EncryptionConfig: { AutoLockManagers: false },
  };
  // What a client gives is kept as given (docker echoes it); what it leaves out keeps its value.
  return {
    Name: given.Name || d.Name,
    Labels: given.Labels ?? d.Labels,
    Orchestration: { ...d.Orchestration, ...given.Orchestration },
    Raft: { ...d.Raft, ...given.Raft },
    Dispatcher: { ...d.Dispatcher, ...given.Dispatcher },
    CAConfig: { ...d.CAConfig, ...given.CAConfig },
    TaskDefaults: { ...d.TaskDefaults, ...given.TaskDefaults },
    EncryptionConfig: { ...d.EncryptionConfig, ...given.EncryptionConfig },
  };
}

/** The address to advertise when none is given: the one on the interface of the default route. */
function chooseAddress(given: string | undefined): string {
  if (given) {
    const [host] = splitHostPort(given);
    const ifc = networkInterfaces()[host];
    if (ifc) {
      const v4 = ifc.find((a) => a.family === "IPv4");
      if (!v4) throw new InvalidArgument(`interface ${host} has no IPv4 address`);
      return v4.address;
    }
    if (!/^[0-9.]+$|:/.test(host))
      throw new InvalidArgument(
        `advertise address must be a non-zero IP address or network interface (with optional port number): "${given}"`,
      );
    if (host === "0.0.0.0")
      throw new InvalidArgument(
        "advertise address must be a non-zero IP address or network interface (with optional port number)",
      );
    return host;
  }
  let route = "";
  try {
    route = readFileSync("/proc/net/route", "utf8");
  } catch {}
  const dev = route
    .split("\n")
    .slice(1)
    .map((l) => l.split("\t"))
    .find((f) => f[1] === "00000000")?.[0];
  const addrs = Object.entries(networkInterfaces())
    .filter(([name]) => name !== "lo" && (!dev || name === dev))
    .flatMap(([, list]) => (list ?? []).filter((a) => a.family === "IPv4" && !a.internal));
  if (addrs.length === 1) return addrs[0]!.address;
  if (!addrs.length)
    throw new InvalidArgument("could not find a local address to advertise: use --advertise-addr");
  throw new InvalidArgument(
    `could not choose an IP address to advertise since this system has multiple addresses on interface ${dev} (${addrs.map((a) => a.address).join(" and ")}): use --advertise-addr`,
  );
}

export class Swarm {
  private state: LocalState | undefined;
  store: ClusterStore | undefined;
  private etcd: EtcdClient | undefined;
  private member: EmbeddedEtcd | undefined;
  private peerServer: Server | undefined;
  private agent: NodeAgent | undefined;
  private overlay: OverlayNode | undefined;
  private leader: Leader | undefined;
  /** A manager's copy of the store, kept by a watch: the leader's passes and the API's big reads. */
  private view: StoreMirror<unknown> | undefined;
  private lease: string | undefined;
  /** The heartbeat in progress (see beat). */
  private beating: Promise<void> | undefined;
  /** The manager that answered this node's last call (see askManagers). */
  private lastManager: { id: string; addr: string } | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private busy = false;
  private beats = 0;
  private tls: { key: string; cert: string; ca: string } | undefined;
  /** Set when the store cannot be reached: `info` shows it. */
  error = "";

  /** Autolock: a restarted manager waits for `swarm unlock` (its keys are sealed on disk). */
  private locked = false;
  private keys: KeysAtRest;

  constructor(
    private readonly root: string,
    runRoot: string,
    private readonly engine: Engine,
    private readonly log: (message: string) => void,
    /** --cluster-store: the user's etcd instead of members embedded in the managers. */
    private readonly external?: ExternalStore,
    /** The node's networks: overlays join them. */
    private readonly network?: NetworkManager,
  ) {
    this.keys = new KeysAtRest(join(this.dir, "certs"), join(runRoot, "swarm-keys"));
  }

  private get dir(): string {
    return join(this.root, "swarm");
  }

  private get files(): EtcdFiles {
    return {
      ca: join(this.dir, "certs", "ca.pem"),
      cert: join(this.dir, "certs", "node.pem"),
      key: join(this.keys.clearDir, "node.key"),
    };
  }

  /** The certificate that opens the store's client port when it has access control (no node name). */
  private get storeCertFile(): string {
    return join(this.dir, "certs", "store.pem");
  }

  /** How this node signs in to the store: undefined for a store without access control. */
  private storeLogin(): EtcdLogin | undefined {
    const file = join(this.keys.clearDir, "store.pass");
    if (!this.state || !existsSync(file)) return undefined;
    return { user: storeUser(this.state.nodeId), password: readFileSync(file, "utf8") };
  }

  /** The TLS and login of a client of the store with access control. */
  private storeAccess(): { tls: Required<EtcdTls>; login: EtcdLogin } | undefined {
    const login = this.storeLogin();
    if (!login) return undefined;
    return { tls: { ...tlsOf(this.files), cert: readFileSync(this.storeCertFile, "utf8") }, login };
  }

  get nodeId(): string {
    return this.state?.nodeId ?? "";
  }

  get addr(): string {
    return this.state?.addr ?? "";
  }

  get active(): boolean {
    return this.state !== undefined;
  }

  get isManager(): boolean {
    return this.state?.role === "manager";
  }

  get isLeader(): boolean {
    return this.leader?.leading ?? false;
  }

  /** The store, for a call that only a manager may make. */
  managerStore(): ClusterStore {
    if (!this.state) throw new SwarmUnavailable(NOT_MANAGER);
    if (this.locked) throw new SwarmUnavailable(SWARM_LOCKED);
    if (this.state.role !== "manager" || !this.store) throw new SwarmUnavailable(WORKER_NOT_MANAGER);
    return this.store;
  }

  /** The CA key (managers only): signs joins and opens sealed values. */
  caKey(): string {
    return readFileSync(join(this.keys.clearDir, "ca.key"), "utf8");
  }

  caCert(): string {
    return readFileSync(this.files.ca, "utf8");
  }

  async joinTokens(cluster: ClusterRecord): Promise<JoinTokens> {
    return JSON.parse(unseal(this.caKey(), cluster.SealedTokens, undefined, TOKENS)) as JoinTokens;
  }

  sealTokens(tokens: JoinTokens): string {
    return seal(this.caKey(), JSON.stringify(tokens), undefined, TOKENS);
  }

  newToken(): string {
    return newJoinToken(this.caCert());
  }

  /** At daemon start: a node that was in a cluster takes its place again. */
  async open(): Promise<void> {
    const file = join(this.dir, "state.json");
    if (!existsSync(file)) return;
    this.state = JSON.parse(readFileSync(file, "utf8")) as LocalState;
    if (this.state.locked) {
      // Copies a crash left on the tmpfs do not count: every start needs the key.
      this.keys.forget();
      this.locked = true;
      this.log('swarm: this manager is locked: give its unlock key with "swarm unlock"');
      return;
    }
    this.keys.load();
    try {
      await this.run();
    } catch (err) {
      this.error = (err as Error).message;
      this.log(`swarm: ${this.error}; will keep trying`);
      this.retryLater();
    }
  }

  private retryLater(): void {
    const timer = setTimeout(() => {
      if (!this.state || this.lease) return;
      void this.run().then(
        () => {
          this.error = "";
        },
        (err: Error) => {
          this.error = err.message;
          this.retryLater();
        },
      );
    }, 2000);
    timer.unref();
  }

  private saveState(): void {
    writeFileAtomicSync(join(this.dir, "state.json"), `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
  }

  private saveCerts(ca: string, node: KeyPair, caKey?: string, store?: JoinAnswer["store"]): void {
    mkdirSync(join(this.dir, "certs"), { recursive: true, mode: 0o700 });
    writeFileSync(this.files.ca, ca);
    writeFileSync(this.files.cert, node.cert);
    // The keys on disk; the daemon reads the copies load() makes on the tmpfs.
    writeFileSync(join(this.dir, "certs", "node.key"), node.key, { mode: 0o600 });
    if (caKey) writeFileSync(join(this.dir, "certs", "ca.key"), caKey, { mode: 0o600 });
    if (store) {
      writeFileSync(this.storeCertFile, store.cert);
      writeFileSync(join(this.dir, "certs", "store.pass"), store.password, { mode: 0o600 });
    }
    this.keys.load();
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new SwarmUnavailable("another swarm operation is in progress on this node");
    this.busy = true;
    return fn().finally(() => {
      this.busy = false;
    });
  }

  async init(req: InitRequest): Promise<string> {
    return this.exclusive(async () => {
      if (this.state) throw new SwarmUnavailable(ALREADY_IN_SWARM);
      const strategy = req.Strategy || "spread";
      if (!STRATEGIES.includes(strategy))
        throw new InvalidArgument(`unknown placement strategy "${strategy}": use spread, binpack or random`);
      const addr = chooseAddress(req.AdvertiseAddr);
      const listenAddr = listenAddress(req.ListenAddr);
      const clusterId = newClusterId();
      const nodeId = newClusterId();
      const ca = createCA();
      const { key, csr } = createKeyAndRequest();
      const cert = signRequest(ca, csr, { clusterId, nodeId, role: "manager", ips: [addr] });
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.saveCerts(ca.cert, { key, cert }, ca.key);
      this.state = {
        clusterId,
        nodeId,
        role: "manager",
        addr,
        listenAddr,
        endpoints: this.external?.endpoints ?? [clientURL(addr)],
        embedded: !this.external,
      };
      await this.enter(async () => {
        if (!this.external) {
          await this.startMember(undefined);
          // The first manager turns the store's access control on, signed in by certificate
          // alone, then signs in as its own user like every node after it.
          const storeCert = signRequest(ca, csr, {
            clusterId,
            nodeId,
            role: "manager",
            ips: [addr],
            storeClient: true,
          });
          const bootstrap = new EtcdClient([clientURL("127.0.0.1")], {
            ...tlsOf(this.files),
            cert: storeCert,
          });
          try {
            const login = await enableStoreAccess(bootstrap, nodeId, ca.key);
            this.saveCerts(ca.cert, { key, cert }, ca.key, { cert: storeCert, ...login });
          } finally {
            bootstrap.close();
          }
        }
        const store = new ClusterStore(this.connect());
        const existing = this.external && (await store.cluster());
        if (existing)
          throw new InvalidArgument(
            `the cluster store at ${this.external!.endpoints.join(",")} already holds a swarm (${existing.ID}): join one of its managers instead`,
          );
        const now = new Date().toISOString();
        const tokens = { Worker: newJoinToken(ca.cert), Manager: newJoinToken(ca.cert) };
        await store.putCluster({
          ID: clusterId,
          CreatedAt: now,
          UpdatedAt: now,
          Spec: defaultSwarmSpec(req.Spec),
          CACert: ca.cert,
          SealedTokens: seal(ca.key, JSON.stringify(tokens), undefined, TOKENS),
          ...(req.Spec?.EncryptionConfig?.AutoLockManagers
            ? { SealedUnlockKey: seal(ca.key, newUnlockKey(), undefined, UNLOCK_KEY) }
            : {}),
          Strategy: strategy,
          DefaultAddrPool: req.DefaultAddrPool?.length ? req.DefaultAddrPool : ["10.0.0.0/8"],
          SubnetSize: req.SubnetSize || 24,
          DataPathPort: req.DataPathPort || 4789,
        });
        await store.create("nodes", sealRole(ca.key, this.nodeRecord(nodeId, "manager", addr)));
        // docker's routing-mesh network, made with the swarm (its first subnet of the pool).
        const cluster = await store.cluster();
        if (cluster)
          await createOverlay(store, cluster, { Name: "ingress", Driver: "overlay", Ingress: true }, []);
        store.etcd.close();
      });
      return nodeId;
    });
  }

  async join(req: JoinBody): Promise<void> {
    return this.exclusive(async () => {
      if (this.state) throw new SwarmUnavailable(ALREADY_IN_SWARM);
      const remotes = req.RemoteAddrs ?? [];
      if (!remotes.length) throw new InvalidArgument("at least 1 RemoteAddr is required to join");
      const token = req.JoinToken ?? "";
      parseJoinToken(token);
      const listenAddr = listenAddress(req.ListenAddr);
      const addr = chooseAddress(req.AdvertiseAddr);
      const { key, csr } = createKeyAndRequest();
      const request: JoinRequest = { token, csr, addr, hostname: hostname(), description: {} };
      let answer: JoinAnswer | undefined;
      let last: Error | undefined;
      for (const remote of remotes) {
        try {
          answer = await requestJoin(remote, request);
          break;
        } catch (err) {
          last = err as Error;
          if (err instanceof JoinRefused && !/could not reach/.test(last.message)) break;
        }
      }
      if (!answer) throw last ?? new JoinRefused("no manager answered");
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.saveCerts(answer.caCert, { key, cert: answer.cert }, answer.caKey, answer.store);
      this.state = {
        clusterId: answer.clusterId,
        nodeId: answer.nodeId,
        role: answer.role,
        addr,
        listenAddr,
        endpoints: answer.endpoints,
        embedded: answer.initialCluster !== undefined,
      };
      await this.enter(async () => {
        if (answer.initialCluster) await this.startMember(answer.initialCluster);
      });
    });
  }

  /** The manager's side of a join (join.ts hands it over). */
  private async admit(req: JoinRequest): Promise<JoinAnswer> {
    const store = this.managerStore();
    const cluster = await store.cluster();
    if (!cluster) throw new JoinRefused("the cluster's record is missing from the store");
    const tokens = await this.joinTokens(cluster);
    const role: NodeRole | undefined = sameToken(req.token, tokens.Manager)
      ? "manager"
      : sameToken(req.token, tokens.Worker)
        ? "worker"
        : undefined;
    if (!role) throw new JoinRefused("invalid join token");
    const nodeId = newClusterId();
    await store.create(
      "nodes",
      sealRole(this.caKey(), this.nodeRecord(nodeId, role, req.addr, req.hostname)),
    );
    return this.credentials(store, cluster, nodeId, role, req.addr, req.csr);
  }

  /**
   * What a node needs to act in its role: a certificate for its request, the store's endpoints;
   * a manager also the CA key and, with an embedded store, a store member of its own (added here,
   * started by the node with the members this answer names).
   */
  private async credentials(
    store: ClusterStore,
    cluster: ClusterRecord,
    nodeId: string,
    role: NodeRole,
    addr: string,
    csr: string,
  ): Promise<JoinAnswer> {
    const cert = signRequest({ key: this.caKey(), cert: cluster.CACert }, csr, {
      clusterId: cluster.ID,
      nodeId,
      role,
      ips: [addr],
    });
    let members = await store.etcd.members();
    const answer: JoinAnswer = {
      clusterId: cluster.ID,
      nodeId,
      role,
      cert,
      caCert: cluster.CACert,
      // A store of the user's own: the URLs this manager reaches it by, not what etcd advertises.
      endpoints: this.state!.embedded ? members.flatMap((m) => m.clientURLs) : this.endpointsToUse(),
    };
    // A store with access control: the node's own user, in its role, and a certificate for it.
    if (this.storeLogin()) {
      const login = await admitStoreUser(store.etcd, nodeId, role, this.caKey());
      const storeCert = signRequest({ key: this.caKey(), cert: cluster.CACert }, csr, {
        clusterId: cluster.ID,
        nodeId,
        role,
        ips: [addr],
        storeClient: true,
      });
      answer.store = { cert: storeCert, ...login };
    }
    if (role === "manager") {
      answer.caKey = this.caKey();
      if (this.state!.embedded) {
        // A member added before (a promotion cut short) is not added twice.
        if (!members.some((m) => m.peerURLs.includes(peerURL(addr))))
          members = await addMemberPatiently(store, peerURL(addr));
        answer.initialCluster = members.map((m) => `${m.name || nodeId}=${m.peerURLs[0]}`);
      }
    }
    return answer;
  }

  /** A node removed from the swarm (`node rm`): its store user goes with it. */
  async removed(nodeId: string): Promise<void> {
    if (this.storeLogin()) await removeStoreUser(this.managerStore().etcd, nodeId);
  }

  /** A node asks again for what its role needs, once the store says it was promoted or demoted. */
  private async renewCredentials(nodeId: string, body: unknown): Promise<JoinAnswer> {
    const store = this.managerStore();
    const csr = (body as { csr?: unknown } | null)?.csr;
    if (typeof csr !== "string")
      throw new InvalidArgument("a credentials request names a certificate request");
    const [node, cluster] = await Promise.all([store.get<NodeRecord>("nodes", nodeId), store.cluster()]);
    if (!node || !cluster) throw new NotFound(`node ${nodeId} is not in the swarm`);
    // The CA key goes only to a node a manager made a manager (a worker can write its own record).
    if (node.Spec.Role === "manager" && !roleIntact(this.caKey(), node))
      throw new Conflict(`node ${nodeId}'s manager role was not given by a manager: refused`);
    return this.credentials(store, cluster, nodeId, node.Spec.Role, node.Addr, csr);
  }

  /** A manager demoted (the API's node update): its store member goes; the node notices. */
  async demoted(node: NodeRecord): Promise<void> {
    const store = this.managerStore();
    // Its store user loses the root role now, not when the node notices.
    if (this.storeLogin()) await setStoreRole(store.etcd, node.ID, "worker");
    if (!this.state?.embedded) return;
    const member = (await store.etcd.members()).find(
      (m) => m.name === node.ID || m.peerURLs.includes(peerURL(node.Addr)),
    );
    if (member) await store.etcd.removeMember(member.id);
  }

  /**
   * The store names a role this node does not hold yet (`node promote`/`demote`, also while it
   * was away): it gets the role's credentials from a manager and starts again in that role. Its
   * lease and its task containers stay.
   */
  private async adoptRole(role: NodeRole): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    const s = this.state!;
    try {
      const { key, csr } = createKeyAndRequest();
      const answer = await this.askManagers<JoinAnswer>("/credentials", { csr }, false);
      if (answer.role !== role) return; // changed again meanwhile: the next beat decides
      if (role === "worker") await this.store?.resign(s.nodeId).catch(() => {});
      await this.teardown();
      rmSync(join(this.dir, "etcd"), { recursive: true, force: true });
      rmSync(join(this.dir, "certs", "ca.key"), { force: true });
      this.keys.discardSealed();
      this.keys.forget();
      s.locked = false;
      s.lockDigest = undefined;
      this.saveCerts(answer.caCert, { key, cert: answer.cert }, answer.caKey, answer.store);
      s.role = role;
      s.embedded = answer.initialCluster !== undefined;
      s.endpoints = answer.endpoints.filter((u) => role === "manager" || u !== clientURL(s.addr));
      if (answer.initialCluster) await this.startMember(answer.initialCluster);
      this.saveState();
      this.log(`swarm: this node is a ${role} now`);
      await this.run();
      this.error = "";
    } catch (err) {
      this.error = `becoming a ${role}: ${(err as Error).message}`;
      this.log(`swarm: ${this.error}`);
      if (!this.heartbeat) this.retryLater();
    } finally {
      this.busy = false;
    }
  }

  private nodeRecord(id: string, role: NodeRole, addr: string, host = hostname()): NodeRecord {
    const now = new Date().toISOString();
    return {
      ID: id,
      Version: { Index: 0 },
      CreatedAt: now,
      UpdatedAt: now,
      Spec: { Labels: {}, Role: role, Availability: "active" },
      Description: {
        Hostname: host,
        Platform: { Architecture: process.arch === "x64" ? "x86_64" : process.arch, OS: "linux" },
        Resources: { NanoCPUs: cpus().length * 1e9, MemoryBytes: totalmem() },
        Engine: { EngineVersion: "berth", Labels: {}, Plugins: [] },
        TLSInfo: { TrustRoot: "", CertIssuerSubject: "", CertIssuerPublicKey: "" },
      },
      Addr: addr,
    };
  }

  private async startMember(initialCluster: string[] | undefined): Promise<void> {
    const s = this.state!;
    this.member = new EmbeddedEtcd({
      name: s.nodeId,
      addr: s.addr,
      dataDir: join(this.dir, "etcd"),
      files: this.files,
      ...(initialCluster ? { initialCluster } : {}),
      access: () => this.storeAccess(),
      log: (m) => this.log(`swarm: ${m}`),
    });
    await this.member.start();
  }

  /**
   * A client of the store: the user's etcd as --cluster-store names it, or the members embedded
   * in the managers, reached with this node's certificate.
   */
  private connect(): EtcdClient {
    const endpoints = this.endpointsToUse();
    if (this.external) return new EtcdClient(endpoints, this.external.tls);
    const access = this.storeAccess();
    if (access) return new EtcdClient(endpoints, access.tls, access.login);
    // A store of the user's own that this daemon was not told of: plain HTTP is all it can reach.
    const https = endpoints.every((e) => e.startsWith("https:"));
    return new EtcdClient(endpoints, https ? tlsOf(this.files) : undefined);
  }

  /** Its own member first (a manager), then the others. */
  private endpointsToUse(): string[] {
    if (this.external) return this.external.endpoints;
    const s = this.state!;
    const endpoints = s.embedded
      ? [clientURL("127.0.0.1"), ...s.endpoints.filter((e) => e !== clientURL(s.addr))]
      : s.endpoints;
    return [...new Set(endpoints)];
  }

  /**
   * The end of an init or a join: `prepare` (the store member, the first records), then the
   * state saved and the node running; a failure anywhere leaves the node out of any swarm.
   */
  private async enter(prepare: () => Promise<void>): Promise<void> {
    try {
      await prepare();
      this.saveState();
      await this.run();
    } catch (err) {
      await this.teardown();
      rmSync(this.dir, { recursive: true, force: true });
      this.state = undefined;
      throw err;
    }
  }

  /** Starts what a member node runs: its etcd member (managers), lease, agent, join server, leader. */
  private async run(): Promise<void> {
    const s = this.state!;
    if (s.embedded && !this.member)
      await this.startMember(existsSync(join(this.dir, "etcd", "data")) ? [] : undefined);
    this.etcd ??= this.connect();
    this.store ??= new ClusterStore(this.etcd);
    const store = this.store;
    const me = await store.get<NodeRecord>("nodes", s.nodeId);
    if (!me)
      throw new SwarmUnavailable(
        "this node was removed from the swarm: leave it (docker swarm leave --force) and join again",
      );
    // A worker on a store with access control reports through a manager; a manager writes.
    const reports: NodeReports =
      s.role === "worker" && this.storeLogin()
        ? new ManagerReports((path, body) => this.askManagers(path, body, false))
        : new StoreReports(store);
    // Each node describes itself (the manager that admitted it only knew its name and address).
    await reports.describe(s.nodeId, {
      Description: this.nodeRecord(s.nodeId, s.role, s.addr).Description,
      Addr: s.addr,
      PeerPort: splitHostPort(s.listenAddr)[1],
    });
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    if (this.network) {
      this.overlay = new OverlayNode(
        store,
        reports,
        s.nodeId,
        s.addr,
        this.network,
        () => this.lease,
        this.log,
      );
      await this.overlay.start();
    }
    const manager = s.role === "manager";
    // A manager's agent reads its tasks from the copy of the store its leader keeps.
    let feed: NodeTaskFeed | undefined;
    if (manager) {
      const view = new StoreMirror<unknown>(
        store.etcd,
        "/berth/",
        parseEntry,
        (e) => {
          this.leader?.changed(e);
          feed?.changed(e);
        },
        this.log,
      );
      this.view = view;
      feed = NodeTaskFeed.over(view);
    } else feed = NodeTaskFeed.following(store, this.log);
    this.agent = new NodeAgent(
      new EngineRuntime(this.engine, (taskId) => this.fetchFiles(taskId)),
      store,
      reports,
      feed,
      s.nodeId,
      this.log,
      () => this.caCert(),
      (containerId, serving) => void this.overlay?.setServing(containerId, serving).catch(() => {}),
    );
    await this.agent.start();
    const [host, port] = splitHostPort(s.listenAddr);
    this.peerServer = await servePeers({ host, port }, this.peerTls(), {
      ...(manager ? { caCert: () => this.caCert(), join: (req: JoinRequest) => this.admit(req) } : {}),
      call: (call) => this.answerPeer(call),
    });
    if (this.view) {
      this.leader = new Leader(
        store,
        this.view,
        s.nodeId,
        () => this.lease,
        this.log,
        () => this.caKey(),
      );
      this.leader.start();
    }
  }

  /** This node's certificate and key, and the CA, for calls between nodes. */
  peerTls(): { key: string; cert: string; ca: string } {
    this.tls ??= tlsOf(this.files);
    return this.tls;
  }

  /** What another node asks of this one (it showed a certificate of the cluster's CA). */
  private async answerPeer(call: PeerCall): Promise<void> {
    const logs = /^\/tasks\/([0-9a-z]+)\/logs$/.exec(call.path);
    if (logs) return serveTaskLogs(this.engine, logs[1]!, logQuery(call.query), call.res);
    if (call.path === "/credentials" && this.isManager) {
      const answer = await this.renewCredentials(call.nodeId, await call.body());
      call.res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      return;
    }
    if (call.path.startsWith("/reports/") && this.isManager) {
      const [store, body] = [this.managerStore(), await call.body()];
      const answer =
        call.path === REPORT_PATHS.batch
          ? await acceptBatch(store, call.nodeId, body, (id) => this.heldTask(id))
          : await acceptReport(store, call.nodeId, call.path, body);
      call.res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      return;
    }
    const files = /^\/tasks\/([0-9a-z]+)\/files$/.exec(call.path);
    if (files && this.isManager) {
      const answer = await filesForTask(this.managerStore(), this.caKey(), files[1]!, call.nodeId);
      call.res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      return;
    }
    throw new NotFound(`${call.path}: no such call`);
  }

  /** A task's secrets and configs, from the first manager that answers (this one, if it is one). */
  private fetchFiles(taskId: string): Promise<TaskFile[]> {
    return this.askManagers<TaskFile[]>(`/tasks/${taskId}/files`, undefined, true);
  }

  /**
   * A call to the live managers, in turn, until one answers; `self`: this node may answer. A
   * manager that refuses the call (bad input, not this node's to ask) ends it: another would
   * say the same. One that is unreachable, no manager any more or failing inside, does not.
   */
  private async askManagers<T>(path: string, body: unknown, self: boolean): Promise<T> {
    // The manager that answered last is asked first: a worker's reports need no read of the
    // nodes (thousands of records in a large swarm) while it answers.
    const known = this.lastManager;
    if (known && (self || known.id !== this.nodeId)) {
      try {
        return await askPeer<T>(known.addr, path, this.peerTls(), body);
      } catch (err) {
        if (err instanceof PeerRefused && err.refusal) throw err;
        this.lastManager = undefined;
      }
    }
    const store = this.store!;
    const [nodes, alive] = await Promise.all([store.list<NodeRecord>("nodes"), store.alive()]);
    const managers = nodes
      .filter((n) => n.Spec.Role === "manager" && alive.has(n.ID) && (self || n.ID !== this.nodeId))
      .sort((a, b) => Number(b.ID === this.nodeId) - Number(a.ID === this.nodeId));
    let last: unknown = new SwarmUnavailable(`no manager is reachable (${path})`);
    for (const m of managers) {
      try {
        const answer = await askPeer<T>(peerAddress(m), path, this.peerTls(), body);
        this.lastManager = { id: m.ID, addr: peerAddress(m) };
        return answer;
      } catch (err) {
        if (err instanceof PeerRefused && err.refusal) throw err;
        last = err;
      }
    }
    throw last;
  }

  /** The logs of `tasks`, from the nodes that ran them. */
  taskLogs(
    tasks: TaskRecord[],
    nodes: NodeRecord[],
    q: LogQuery,
    write: (stream: "stdout" | "stderr", line: Buffer) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    return gatherTaskLogs(tasks, nodes, q, this.peerTls(), write, signal);
  }

  /** Keeps the node's lease and its alive key; a lease that expired (a long pause) is made anew. */
  private beat(): Promise<void> {
    // One at a time. During a partition or an election a beat outlasts the interval (each call
    // may wait out its deadline on several members); two beats that both found the lease expired
    // each made a new one, and the alive key could be left on the lease that was then dropped:
    // it expired a TTL later and the node stayed down for good, its other lease renewed.
    this.beating ??= this.beatOnce().finally(() => {
      this.beating = undefined;
    });
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    const store = this.store;
    const s = this.state;
    if (!store || !s) return;
    try {
      const { lease, fresh } = await store.heartbeat(s.nodeId, s.addr, this.lease, LEASE_TTL_SECONDS);
      this.lease = lease;
      if (fresh) await this.overlay?.republish(lease);
      if (!this.busy) this.error = "";
      if (++this.beats % ENDPOINT_REFRESH_BEATS === 1) await this.refreshEndpoints();
      const me = await store.get<NodeRecord>("nodes", s.nodeId);
      if (me && me.Spec.Role !== s.role) void this.adoptRole(me.Spec.Role);
      else if (s.role === "manager" && !this.busy) {
        const cluster = await store.cluster();
        if (cluster) this.applyAutolock(cluster);
      }
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /**
   * Managers come and go: the store's client URLs are read again now and then, so that a worker
   * still finds the store when the managers it joined through are gone.
   */
  private async refreshEndpoints(): Promise<void> {
    const s = this.state!;
    if (!s.embedded) return; // a store of the user's own: its URLs are what the node was given
    const urls = (await this.store!.etcd.members()).flatMap((m) => m.clientURLs).sort();
    if (!urls.length || JSON.stringify(urls) === JSON.stringify([...s.endpoints].sort())) return;
    s.endpoints = urls;
    this.saveState();
    this.etcd!.endpoints = this.endpointsToUse();
  }

  /** Stops every part of the membership (daemon shutdown, leave). */
  private async teardown(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.leader?.stop();
    this.leader = undefined;
    this.view?.stop();
    this.view = undefined;
    await this.agent?.stop();
    this.agent = undefined;
    this.overlay?.stop();
    this.overlay = undefined;
    await new Promise<void>((resolve) =>
      this.peerServer ? this.peerServer.close(() => resolve()) : resolve(),
    );
    this.peerServer?.closeAllConnections();
    this.peerServer = undefined;
    this.etcd?.close();
    this.etcd = undefined;
    this.tls = undefined;
    this.store = undefined;
    await this.member?.stop();
    this.member = undefined;
  }

  /**
   * Daemon shutdown. The lease is left to expire rather than revoked: a daemon back within its
   * TTL (a restart, an upgrade) keeps its tasks; one that stays away is down after it.
   */
  async close(): Promise<void> {
    this.lease = undefined;
    await this.teardown();
    this.keys.forget();
  }

  /** `swarm unlock`: the manager's keys opened with the unlock key, and the node back at work. */
  async unlock(given: string): Promise<void> {
    return this.exclusive(async () => {
      if (!this.state) throw new SwarmUnavailable(NOT_IN_SWARM);
      if (!this.locked) throw new Conflict("swarm is not locked");
      this.keys.unlock(given);
      this.locked = false;
      try {
        await this.run();
      } catch (err) {
        this.error = (err as Error).message;
        this.retryLater();
      }
    });
  }

  /** The unlock key (empty when autolock is off), as managers read it from the store. */
  async unlockKey(): Promise<string> {
    const cluster = await this.managerStore().cluster();
    return cluster?.SealedUnlockKey
      ? unseal(this.caKey(), cluster.SealedUnlockKey, undefined, UNLOCK_KEY)
      : "";
  }

  /** The sealed unlock key a swarm update leaves in the cluster record. */
  nextUnlockKey(record: ClusterRecord, autolock: boolean, rotate: boolean): string | undefined {
    if (!autolock) return undefined;
    if (record.SealedUnlockKey && !rotate) return record.SealedUnlockKey;
    return seal(this.caKey(), newUnlockKey(), undefined, UNLOCK_KEY);
  }

  /**
   * A manager's keys on disk follow the swarm's autolock setting: sealed under the current
   * unlock key, or clear when autolock is off (each manager sees a change at its next beat).
   */
  private applyAutolock(cluster: ClusterRecord): void {
    const s = this.state!;
    const key = cluster.SealedUnlockKey
      ? unseal(this.caKey(), cluster.SealedUnlockKey, undefined, UNLOCK_KEY)
      : undefined;
    const digest = key ? createHash("sha256").update(key).digest("hex") : undefined;
    if (digest === s.lockDigest) return;
    if (key) this.keys.lock(key);
    else this.keys.release();
    s.locked = !!key;
    s.lockDigest = digest;
    this.saveState();
    this.log(key ? "swarm: this manager's keys are sealed with the unlock key" : "swarm: autolock is off");
  }

  async leave(force: boolean): Promise<void> {
    return this.exclusive(async () => {
      const s = this.state;
      if (!s) throw new SwarmUnavailable(NOT_IN_SWARM);
      if (this.locked && !force)
        throw new SwarmUnavailable(
          "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.",
        );
      if (s.role === "manager" && !force)
        throw new SwarmUnavailable(
          "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.",
        );
      const store = this.store;
      if (store) {
        try {
          if (s.embedded) {
            const members = await store.etcd.members();
            const mine = members.find((m) => m.name === s.nodeId);
            if (mine && members.length > 1) await store.etcd.removeMember(mine.id);
          } else if (s.role === "manager" && (await store.lastManager(s.nodeId))) {
            // The swarm ends with its last manager, as an embedded store's data does.
            await store.erase();
          }
          if (this.lease) {
            await store.unannounce(s.nodeId);
            await store.etcd.revokeLease(this.lease);
          }
        } catch (err) {
          if (!force) throw err;
        }
      }
      this.lease = undefined;
      await this.agent?.removeAll();
      await this.network?.settled();
      this.network?.useSwarm(undefined);
      await this.teardown();
      rmSync(this.dir, { recursive: true, force: true });
      this.keys.forget();
      this.state = undefined;
      this.locked = false;
    });
  }

  // ---- overlay networks (the API's /networks for the swarm's)

  /** This node's view of the swarm's overlay networks, while in a swarm. */
  get overlays(): OverlayNode | undefined {
    return this.overlay;
  }

  async createNetwork(req: CreateNetworkRequest, localNames: string[]): Promise<OverlayRecord> {
    const store = this.managerStore();
    const cluster = await store.cluster();
    if (!cluster) throw new NotFound("the cluster's record is missing from the store");
    const record = await createOverlay(store, cluster, req, localNames);
    await this.overlay?.sync();
    return record;
  }

  async removeNetwork(ref: string): Promise<OverlayRecord> {
    const record = await removeOverlay(this.managerStore(), ref);
    await this.overlay?.sync();
    return record;
  }

  /** A task in this manager's copy of the store (reports check against it when it is recent). */
  private heldTask(id: string): TaskRecord | undefined {
    return this.view?.entries.get(KEYS.tasks + id)?.value as TaskRecord | undefined;
  }

  /**
   * The whole state as of now, for the API's reads of every task: from this manager's copy once
   * it holds the store's current revision (so a client reads its own writes), read whole from
   * the store where there is no copy.
   */
  async clusterState(): Promise<Snapshot> {
    const store = this.managerStore();
    const view = this.view;
    if (!view) return store.snapshot();
    await view.start();
    await view.catchUp(await store.etcd.revision());
    return snapshotOf(view.entries.values(), view.revision);
  }

  /** The Swarm block of /info. */
  info(): Record<string, unknown> {
    const s = this.state;
    if (!s)
      return {
        NodeID: "",
        NodeAddr: "",
        LocalNodeState: "inactive",
        ControlAvailable: false,
        Error: "",
        RemoteManagers: null,
      };
    return {
      NodeID: s.nodeId,
      NodeAddr: s.addr,
      LocalNodeState: this.locked ? "locked" : this.error && !this.lease ? "pending" : "active",
      ControlAvailable: s.role === "manager",
      Error: this.error,
      RemoteManagers: s.endpoints.map((e) => ({
        NodeID: "",
        Addr: e.replace(/^https:\/\//, "").replace(/:\d+$/, `:${JOIN_PORT}`),
      })),
    };
  }

  /** The `Swarm` header of /_ping, as dockerd sends it. */
  pingHeader(): string {
    if (!this.state) return "inactive";
    if (this.locked) return "locked";
    if (this.error && !this.lease) return "pending";
    return `active/${this.state.role}`;
  }
}

function listenAddress(given: string | undefined): string {
  const [host, port] = splitHostPort(given || `0.0.0.0:${JOIN_PORT}`);
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * etcd refuses a new member until every member has been connected for a few seconds (its
 * strict reconfiguration check), so a manager that joins right after another waits its turn.
 */
async function addMemberPatiently(store: ClusterStore, peer: string): Promise<Member[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await store.etcd.addMember(peer);
    } catch (err) {
      if (!/unhealthy cluster/.test((err as Error).message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
