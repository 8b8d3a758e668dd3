/**
 * Placement: which node a task of a service goes to. Pure: it reads a `ClusterLoad` and, in
 * `placeMany`, adds to it; it never talks to etcd. Modelled on swarmkit's scheduler: each node
 * goes through the filters in order and the first that rejects it is counted, so a task that fits
 * nowhere says why ("no suitable node (insufficient memory on 3 nodes)"); the nodes that pass
 * are ranked by one strategy, after placement preferences have picked the group of nodes.
 *
 * Cost: building a plan is O(nodes × preferences); each placement after that is
 * O(log nodes + groups), because a task changes the load of its own node only, so only that node
 * is checked and re-ranked again.
 */
import { type Constraint, matchesConstraints, spreadValue } from "./constraints.js";

export interface SchedNode {
  id: string;
  hostname: string;
  role: "manager" | "worker";
  availability: "active" | "pause" | "drain";
  /** The node is up (its lease is alive). */
  ready: boolean;
  /** node.labels.* */
  labels: Record<string, string>;
  /** engine.labels.* */
  engineLabels: Record<string, string>;
  /** node.platform.os / node.platform.arch */
  platform: { os: string; architecture: string };
  /** Capacity. */
  resources: { nanoCpus: number; memoryBytes: number };
}

/** A task already on a node: it counts for the node's load. */
export interface PlacedTask {
  serviceId: string;
  reservations: { nanoCpus: number; memoryBytes: number };
  /** Ports published in mode=host (tcp). */
  hostPorts: number[];
}

export type Strategy = "spread" | "binpack" | "random";

export interface PlacementRequest {
  serviceId: string;
  constraints: Constraint[];
  /** Spread descriptors, e.g. ["node.labels.zone"] from `--placement-pref spread=node.labels.zone`. */
  spreadPreferences: string[];
  /** 0 = unlimited. */
  maxReplicasPerNode: number;
  reservations: { nanoCpus: number; memoryBytes: number };
  hostPorts: number[];
  strategy: Strategy;
}

export type Placement = { nodeId: string } | { reason: string };

/** One node's load, kept as counters so that placing never re-reads the task lists. */
export interface NodeLoad {
  readonly node: SchedNode;
  readonly tasks: number;
  readonly tasksByService: ReadonlyMap<string, number>;
  readonly reserved: { readonly nanoCpus: number; readonly memoryBytes: number };
  readonly hostPorts: ReadonlySet<number>;
}

interface Counters {
  node: SchedNode;
  tasks: number;
  tasksByService: Map<string, number>;
  reserved: { nanoCpus: number; memoryBytes: number };
  hostPorts: Set<number>;
}

/** What a node's tasks hold, counted already (by a caller that keeps the counts current). */
export interface Holding {
  tasks: number;
  readonly tasksByService: ReadonlyMap<string, number>;
  readonly reserved: { readonly nanoCpus: number; readonly memoryBytes: number };
}

/**
 * The tasks on each node, as counters. A task on a node the view does not know is left out: its
 * node has left the cluster, and the task is going away with it (swarmkit does the same).
 */
export class ClusterLoad {
  readonly #nodes = new Map<string, Counters>();
  /** Nodes whose per-service counts are still the caller's map (copied before the first add). */
  readonly #borrowed = new Set<Counters>();

  constructor(nodes: SchedNode[], tasks: Map<string, PlacedTask[]>) {
    for (const node of nodes) {
      this.#nodes.set(node.id, {
        node,
        tasks: 0,
        tasksByService: new Map(),
        reserved: { nanoCpus: 0, memoryBytes: 0 },
        hostPorts: new Set(),
      });
    }
    for (const [nodeId, list] of tasks) for (const task of list) this.add(nodeId, task);
  }

  /**
   * The load from counts kept elsewhere (the leader's view), without going through every task:
   * each node's per-service counts are used as they are until a task is added there, and the
   * counts given are never changed. `hostPorts`: the host-mode ports in use, by node.
   */
  static fromHoldings(
    nodes: SchedNode[],
    holdings: ReadonlyMap<string, Holding>,
    hostPorts: ReadonlyMap<string, Set<number>>,
  ): ClusterLoad {
    const load = new ClusterLoad([], new Map());
    for (const node of nodes) {
      const h = holdings.get(node.id);
      const c: Counters = {
        node,
        tasks: h?.tasks ?? 0,
        tasksByService: (h?.tasksByService as Map<string, number>) ?? new Map(),
        reserved: { nanoCpus: h?.reserved.nanoCpus ?? 0, memoryBytes: h?.reserved.memoryBytes ?? 0 },
        hostPorts: new Set(hostPorts.get(node.id)),
      };
      load.#nodes.set(node.id, c);
      if (h) load.#borrowed.add(c);
    }
    return load;
  }

  add(nodeId: string, task: PlacedTask): void {
    const n = this.#nodes.get(nodeId);
    if (!n) return;
    if (this.#borrowed.delete(n)) n.tasksByService = new Map(n.tasksByService);
    n.tasks++;
    n.tasksByService.set(task.serviceId, (n.tasksByService.get(task.serviceId) ?? 0) + 1);
    n.reserved.nanoCpus += task.reservations.nanoCpus;
    n.reserved.memoryBytes += task.reservations.memoryBytes;
    for (const port of task.hostPorts) n.hostPorts.add(port);
  }

  get(nodeId: string): NodeLoad | undefined {
    return this.#nodes.get(nodeId);
  }

  /** In the order the nodes were given. */
  nodes(): IterableIterator<NodeLoad> {
    return this.#nodes.values();
  }
}

/** Where one task of `req` goes; the load is left as it is. */
export function place(
  req: PlacementRequest,
  load: ClusterLoad,
  random: () => number = Math.random,
): Placement {
  const plan = new Plan(req, load, random);
  const n = plan.pick();
  return n ? { nodeId: n.node.id } : { reason: plan.explain() };
}

/** Places `count` tasks of one request one after the other, adding each to the load; returns one Placement per task. */
export function placeMany(
  req: PlacementRequest,
  count: number,
  load: ClusterLoad,
  random: () => number = Math.random,
): Placement[] {
  const plan = new Plan(req, load, random);
  const task: PlacedTask = {
    serviceId: req.serviceId,
    reservations: req.reservations,
    hostPorts: req.hostPorts,
  };
  const placements: Placement[] = [];
  for (let i = 0; i < count; i++) {
    const n = plan.pick();
    if (!n) {
      // Nothing frees up within one call, so every task left gets the same reason.
      const reason = plan.explain();
      while (placements.length < count) placements.push({ reason });
      break;
    }
    load.add(n.node.id, task);
    plan.placed(n);
    placements.push({ nodeId: n.node.id });
  }
  return placements;
}

// ---- filters ----

/** Why a filter rejected a node, in filter order (which is also the order of equal counts in reasons). */
const REJECTIONS = [
  "unavailable",
  "constraints",
  "cpu",
  "memory",
  "resources",
  "ports",
  "max-replicas",
] as const;
type Rejection = (typeof REJECTIONS)[number];

/** swarmkit's Explain() strings, with the resource one split so a user learns which resource is short. */
function explain(why: Rejection, count: number): string {
  const nodes = count === 1 ? "1 node" : `${count} nodes`;
  switch (why) {
    case "unavailable":
      return `${nodes} not available for new tasks`;
    case "constraints":
      return `scheduling constraints not satisfied on ${nodes}`;
    case "cpu":
      return `insufficient CPU on ${nodes}`;
    case "memory":
      return `insufficient memory on ${nodes}`;
    case "resources":
      return `insufficient resources on ${nodes}`;
    case "ports":
      return `host-mode port already in use on ${nodes}`;
    case "max-replicas":
      // swarmkit's wording, without a count.
      return "max replicas per node limit exceed";
  }
}

function rejection(req: PlacementRequest, n: NodeLoad): Rejection | undefined {
  const { node } = n;
  // A paused or drained node keeps its tasks but takes no new ones.
  if (!node.ready || node.availability !== "active") return "unavailable";
  if (!matchesConstraints(node, req.constraints)) return "constraints";
  const { nanoCpus, memoryBytes } = req.reservations;
  const cpuShort = nanoCpus > 0 && n.reserved.nanoCpus + nanoCpus > node.resources.nanoCpus;
  const memoryShort = memoryBytes > 0 && n.reserved.memoryBytes + memoryBytes > node.resources.memoryBytes;
  if (cpuShort && memoryShort) return "resources";
  if (memoryShort) return "memory";
  if (cpuShort) return "cpu";
  for (const port of req.hostPorts) if (n.hostPorts.has(port)) return "ports";
  if (req.maxReplicasPerNode > 0 && serviceTasks(n, req.serviceId) >= req.maxReplicasPerNode) {
    return "max-replicas";
  }
  return undefined;
}

function serviceTasks(n: NodeLoad, serviceId: string): number {
  return n.tasksByService.get(serviceId) ?? 0;
}

// ---- strategies ----

/** The nodes of one group that can take the task, best first by one strategy. */
interface Pool {
  best(): NodeLoad | undefined;
  /** `n` got a task and still passes the filters. */
  changed(n: NodeLoad): void;
  remove(n: NodeLoad): void;
}

function makePool(req: PlacementRequest, nodes: NodeLoad[], random: () => number): Pool {
  switch (req.strategy) {
    case "spread":
      // swarmkit's default: fewest tasks of this service, then fewest tasks at all.
      return new HeapPool(nodes, (a, b) => {
        const d = serviceTasks(a, req.serviceId) - serviceTasks(b, req.serviceId) || a.tasks - b.tasks;
        return d !== 0 ? d < 0 : a.node.id < b.node.id;
      });
    case "binpack":
      // Fill the fullest node first, so whole nodes stay free for large tasks. With no
      // reservations at all, the node with the most tasks is the fullest.
      return new HeapPool(nodes, (a, b) => {
        const d =
          used(b, "memoryBytes") - used(a, "memoryBytes") || used(b, "nanoCpus") - used(a, "nanoCpus");
        const t = d || b.tasks - a.tasks;
        return t !== 0 ? t < 0 : a.node.id < b.node.id;
      });
    case "random":
      return new RandomPool(nodes, random);
  }
}

function used(n: NodeLoad, resource: "nanoCpus" | "memoryBytes"): number {
  const capacity = n.node.resources[resource];
  return capacity > 0 ? n.reserved[resource] / capacity : 0;
}

/** A binary heap that knows where each node sits, so a changed node is re-ranked in O(log n). */
class HeapPool implements Pool {
  readonly #items: NodeLoad[];
  readonly #at = new Map<NodeLoad, number>();
  readonly #before: (a: NodeLoad, b: NodeLoad) => boolean;

  constructor(nodes: NodeLoad[], before: (a: NodeLoad, b: NodeLoad) => boolean) {
    this.#items = nodes.slice();
    this.#before = before;
    for (const [i, n] of this.#items.entries()) this.#at.set(n, i);
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  best(): NodeLoad | undefined {
    return this.#items[0];
  }

  changed(n: NodeLoad): void {
    const i = this.#at.get(n);
    if (i !== undefined) this.#down(this.#up(i));
  }

  remove(n: NodeLoad): void {
    const i = this.#at.get(n);
    if (i === undefined) return;
    this.#at.delete(n);
    const last = this.#items.pop()!;
    if (i === this.#items.length) return;
    this.#set(i, last);
    this.#down(this.#up(i));
  }

  #set(i: number, n: NodeLoad): void {
    this.#items[i] = n;
    this.#at.set(n, i);
  }

  #up(i: number): number {
    const items = this.#items;
    const n = items[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(n, items[parent]!)) break;
      this.#set(i, items[parent]!);
      i = parent;
    }
    this.#set(i, n);
    return i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= items.length) break;
      if (child + 1 < items.length && this.#before(items[child + 1]!, items[child]!)) child++;
      if (!this.#before(items[child]!, n)) break;
      this.#set(i, items[child]!);
      i = child;
    }
    this.#set(i, n);
  }
}

/** Uniform over the nodes that pass; `random()` in [0, 1) indexes them in the load's order. */
class RandomPool implements Pool {
  readonly #items: NodeLoad[];
  readonly #at = new Map<NodeLoad, number>();
  readonly #random: () => number;

  constructor(nodes: NodeLoad[], random: () => number) {
    this.#items = nodes.slice();
    for (const [i, n] of this.#items.entries()) this.#at.set(n, i);
    this.#random = random;
  }

  best(): NodeLoad | undefined {
    const count = this.#items.length;
    return count === 0 ? undefined : this.#items[Math.min(count - 1, Math.floor(this.#random() * count))];
  }

  changed(): void {}

  remove(n: NodeLoad): void {
    const i = this.#at.get(n);
    if (i === undefined) return;
    this.#at.delete(n);
    const last = this.#items.pop()!;
    if (i === this.#items.length) return;
    this.#items[i] = last;
    this.#at.set(last, i);
  }
}

// ---- the plan: filters, preference groups, strategy ----

/**
 * swarmkit's decision tree: one level per spread preference, keyed by the label's value (""
 * for nodes without it, which so form their own group). `serviceTasks` counts the service's
 * tasks on every node of the group, passing or not, as swarmkit does; `live` counts the nodes
 * that can take the task, and a group with none is passed over.
 */
interface Group {
  readonly parent: Group | undefined;
  readonly children: Map<string, Group>;
  serviceTasks: number;
  live: number;
  members: NodeLoad[];
  pool: Pool | undefined;
}

function group(parent: Group | undefined): Group {
  return { parent, children: new Map(), serviceTasks: 0, live: 0, members: [], pool: undefined };
}

class Plan {
  readonly #req: PlacementRequest;
  readonly #random: () => number;
  readonly #root = group(undefined);
  readonly #leafOf = new Map<NodeLoad, Group>();
  readonly #rejected = new Map<Rejection, number>();

  constructor(req: PlacementRequest, load: ClusterLoad, random: () => number) {
    this.#req = req;
    this.#random = random;
    for (const n of load.nodes()) {
      const tasks = serviceTasks(n, req.serviceId);
      let g = this.#root;
      g.serviceTasks += tasks;
      for (const descriptor of req.spreadPreferences) {
        // Like swarmkit, a descriptor other than a label spreads over nothing.
        const value = spreadValue(n.node, descriptor);
        if (value === undefined) continue;
        const next = g.children.get(value) ?? group(g);
        g.children.set(value, next);
        g = next;
        g.serviceTasks += tasks;
      }
      const why = rejection(req, n);
      if (why) {
        this.#reject(why);
        continue;
      }
      this.#leafOf.set(n, g);
      g.members.push(n);
      for (let p: Group | undefined = g; p; p = p.parent) p.live++;
    }
  }

  /** The best node for the next task, or undefined when none passes the filters. */
  pick(): NodeLoad | undefined {
    let g = this.#root;
    if (g.live === 0) return undefined;
    while (g.children.size > 0) {
      let best: [string, Group] | undefined;
      for (const entry of g.children) {
        const [key, child] = entry;
        if (child.live === 0) continue;
        if (!best || child.serviceTasks < best[1].serviceTasks) best = entry;
        else if (child.serviceTasks === best[1].serviceTasks && key < best[0]) best = entry;
      }
      g = best![1];
    }
    g.pool ??= makePool(this.#req, g.members, this.#random);
    return g.pool.best();
  }

  /** `n`, just picked, got a task in the load: only its own filters and rank can have changed. */
  placed(n: NodeLoad): void {
    const leaf = this.#leafOf.get(n)!;
    for (let p: Group | undefined = leaf; p; p = p.parent) p.serviceTasks++;
    const why = rejection(this.#req, n);
    if (!why) {
      leaf.pool!.changed(n);
      return;
    }
    this.#reject(why);
    leaf.pool!.remove(n);
    this.#leafOf.delete(n);
    for (let p: Group | undefined = leaf; p; p = p.parent) p.live--;
  }

  /** docker's task error: the reasons, most frequent first, each with its node count. */
  explain(): string {
    const reasons = REJECTIONS.filter((why) => this.#rejected.has(why))
      .sort((a, b) => this.#rejected.get(b)! - this.#rejected.get(a)!)
      .map((why) => explain(why, this.#rejected.get(why)!));
    return reasons.length === 0 ? "no suitable node" : `no suitable node (${reasons.join("; ")})`;
  }

  #reject(why: Rejection): void {
    this.#rejected.set(why, (this.#rejected.get(why) ?? 0) + 1);
  }
}
