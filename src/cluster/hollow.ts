/**
 * Hollow nodes, as Kubernetes' kubemark has them: many worker nodes in one process, to load a
 * swarm's control plane as that many hosts would. Each joins with a real join token (its own key,
 * a certificate from the CA), heartbeats on its own lease with its own store client (on a thread
 * of the process's own: ./hollow-heartbeats.ts), and runs the real node agent (./agent.ts), which
 * takes its tasks through assigned → starting → running and shuts them down. Only the seam
 * under the agent differs: HollowRuntime stands for the engine, so no container, image, mount,
 * network or secret is made. The agents of one process share one
 * copy of the store's tasks (./node-tasks.ts) — one watch, rather than one per node.
 */
import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { InvalidArgument } from "../errors.js";
import { NodeAgent } from "./agent.js";
import { createKeyAndRequest, parseJoinToken } from "./ca.js";
import type { TaskContainer, TaskRuntime } from "./engine-runtime.js";
import { EtcdClient } from "./etcd.js";
import { type HeartbeatNode, HeartbeatThread, type RenewalFigures } from "./hollow-heartbeats.js";
import { askPeer, requestJoin, splitHostPort } from "./join.js";
import { ManagerReports, type NodeReports, StoreReports } from "./node-reports.js";
import { NodeTaskFeed } from "./node-tasks.js";
import { ClusterStore } from "./store.js";
import type { ServiceRecord, TaskRecord } from "./types.js";

/** The engine's stand-in: a container is a record in memory that runs until it is stopped. */
export class HollowRuntime implements TaskRuntime {
  private readonly running = new Map<string, TaskContainer>();

  containers(): Map<string, TaskContainer> {
    return new Map([...this.running].map(([id, c]) => [id, { ...c }]));
  }

  /** Every image is there: nothing is pulled. */
  hasImage(): boolean {
    return true;
  }

  async pull(): Promise<void> {}

  async run(task: TaskRecord, service: ServiceRecord): Promise<TaskContainer> {
    const c: TaskContainer = {
      id: randomBytes(32).toString("hex"),
      name: `${service.Spec.Name}.${task.Slot ?? task.NodeID}.${task.ID}`,
      taskId: task.ID,
      running: true,
      exitCode: 0,
      pid: 0,
    };
    this.running.set(task.ID, c);
    return { ...c };
  }

  /** Stops at once, as a process that exits on its stop signal. */
  async stop(c: TaskContainer): Promise<TaskContainer> {
    const held = this.running.get(c.taskId);
    if (held) held.running = false;
    return { ...(held ?? c), running: false };
  }

  async remove(c: TaskContainer): Promise<void> {
    this.running.delete(c.taskId);
  }

  async collect(): Promise<void> {}

  /** Hollow containers neither die on their own nor have a healthcheck: no event comes. */
  subscribe(): () => void {
    return () => {};
  }
}

/**
 * When each task was first seen on its node assigned, and reported running, as the nodes' copy
 * of the store shows them (for benchmarks: the control plane's delays as the nodes see them).
 */
export class TaskTimings {
  readonly tasks = new Map<string, { service: string; node: string; assigned: number; running?: number }>();

  observe(tasks: TaskRecord[]): void {
    const now = Date.now();
    for (const t of tasks) {
      if (!t.NodeID) continue;
      let seen = this.tasks.get(t.ID);
      if (!seen) {
        seen = { service: t.ServiceID, node: t.NodeID, assigned: now };
        this.tasks.set(t.ID, seen);
      }
      if (t.Status.State === "running" && seen.running === undefined) seen.running = now;
    }
  }
}

export interface HollowOptions {
  /** A manager's join address, host:port. */
  manager: string;
  /** A worker join token of the swarm. */
  token: string;
  /** How many hollow nodes. */
  count: number;
  /** The address the nodes give as theirs (they all share this process's). */
  addr: string;
  /** Host names are `<prefix>-<n>`. */
  prefix: string;
  log: (message: string) => void;
  /** Records when tasks reach their nodes and run. */
  timings?: TaskTimings | undefined;
}

/** One hollow node: a joined worker's store client and agent (its heartbeat: ./hollow-heartbeats.ts). */
class HollowNode {
  agent: NodeAgent | undefined;
  private stopTimings: (() => void) | undefined;
  readonly runtime = new HollowRuntime();

  constructor(
    readonly id: string,
    readonly store: ClusterStore,
    readonly reports: NodeReports,
    readonly caCert: string,
  ) {}

  async start(feed: NodeTaskFeed, log: (m: string) => void, timings?: TaskTimings): Promise<void> {
    if (timings)
      this.stopTimings = await feed.subscribe(this.id, () => timings.observe(feed.current(this.id)));
    this.agent = new NodeAgent(this.runtime, this.store, this.reports, feed, this.id, log, () => this.caCert);
    await this.agent.start();
  }

  async stop(): Promise<void> {
    this.stopTimings?.();
    await this.agent?.stop();
    this.store.etcd.close();
  }
}

/** How many joins are asked of the manager at a time. */
const JOINS_AT_ONCE = 8;

export class HollowNodes {
  readonly nodes: HollowNode[] = [];
  feed: NodeTaskFeed | undefined;
  private heartbeats: HeartbeatThread | undefined;

  constructor(private readonly options: HollowOptions) {
    validateHollow(options);
  }

  /** Joins every node, then starts their heartbeats and agents. */
  async start(): Promise<void> {
    const o = this.options;
    const beating: HeartbeatNode[] = [];
    let next = 0;
    const joinOne = async (n: number) => {
      const { key, csr } = createKeyAndRequest();
      const answer = await requestJoin(o.manager, {
        token: o.token,
        csr,
        addr: o.addr,
        hostname: `${o.prefix}-${n}`,
        description: {},
      });
      if (answer.role !== "worker")
        throw new InvalidArgument("hollow nodes join as workers: give a worker token");
      const tls = { ca: answer.caCert, cert: answer.cert, key };
      // As a real worker: on a store with access control, its own login and store certificate,
      // and its reports through the manager it joined.
      const access = answer.store;
      const storeTls = access ? { ...tls, cert: access.cert } : tls;
      const login = access ? { user: access.user, password: access.password } : undefined;
      const store = new ClusterStore(new EtcdClient(answer.endpoints, storeTls, login));
      beating.push({ id: answer.nodeId, addr: o.addr, endpoints: answer.endpoints, tls: storeTls, login });
      const reports: NodeReports = access
        ? new ManagerReports((path, body) => askPeer(o.manager, path, tls, body))
        : new StoreReports(store);
      this.nodes.push(new HollowNode(answer.nodeId, store, reports, answer.caCert));
    };
    await Promise.all(
      Array.from({ length: Math.min(JOINS_AT_ONCE, o.count) }, async () => {
        while (next < o.count) await joinOne(++next);
      }),
    );
    this.heartbeats = await HeartbeatThread.start(beating, o.log);
    this.feed = NodeTaskFeed.following(this.nodes[0]!.store, o.log);
    for (const node of this.nodes) await node.start(this.feed, o.log, o.timings);
  }

  /** Stops the agents, then the heartbeats: the leases given back, the nodes are down at once. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.heartbeats?.stop();
  }

  /** How the nodes' leases held up since they started. */
  renewals(): Promise<RenewalFigures> {
    return this.heartbeats
      ? this.heartbeats.figures()
      : Promise.resolve({ longestGapMs: 0, leasesLost: 0, longestCallMs: 0, threadDelayMaxMs: 0 });
  }

  /** Tasks whose hollow containers run now, over all nodes (a test's check). */
  running(): number {
    let n = 0;
    for (const node of this.nodes) for (const c of node.runtime.containers().values()) if (c.running) n++;
    return n;
  }
}

/** Throws InvalidArgument for options no hollow node could start with. */
export function validateHollow(
  o: Pick<HollowOptions, "manager" | "token" | "count" | "addr" | "prefix">,
): void {
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > 10_000)
    throw new InvalidArgument(`--nodes: a whole number from 1 to 10000, not "${o.count}"`);
  const [host, port] = splitHostPort(o.manager);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new InvalidArgument(`--manager: host:port of a manager's join address, not "${o.manager}"`);
  parseJoinToken(o.token);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,40}$/.test(o.prefix))
    throw new InvalidArgument(`--prefix: letters, digits, dots and dashes (at most 41), not "${o.prefix}"`);
  if (!isIP(o.addr)) throw new InvalidArgument(`--addr: an IP address, not "${o.addr}"`);
}
