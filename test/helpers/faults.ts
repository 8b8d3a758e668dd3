/**
 * Faults on a cluster of the test fixture (cluster.ts), and the cluster as its managers' API shows
 * it: what the chaos test (test/integration/cluster-chaos.test.ts) strikes, and what `npm run
 * bench cluster-chaos` strikes on Berth and on docker swarm alike. Everything here reads the
 * docker API's shapes (nodes, services, tasks, containers), which both daemons answer.
 *
 * Each fault strikes one node and waits until a manager reports it (node down, another leader,
 * node ready again): it returns when it struck and how long the cluster took to notice. Starting
 * a killed daemon again is the caller's: the test does it at once, the bench once the cluster
 * has recovered without the node.
 */
import type { ServiceRecord, TaskRecord } from "../../src/cluster/types.js";
import type { ClusterNode } from "./cluster.js";
import { sleep, until } from "./wait.js";

/** From a fault to the cluster's noticing it, at most. */
export const DETECTION_MS = 60_000;

export interface ApiNode {
  ID: string;
  Description: { Hostname: string };
  Status: { State: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string };
}

/**
 * What a manager reports. The records are typed as Berth's; dockerd's have the same fields but
 * for Berth's own SpecVersion (absent: checks on it hold vacuously for dockerd).
 */
export interface ClusterView {
  nodes: ApiNode[];
  services: ServiceRecord[];
  tasks: TaskRecord[];
}

/** One API GET to a node, given up after 5 s (a manager that lost the store may not answer). */
export async function getJson<T>(node: ClusterNode, path: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${node.name}: GET ${path}: no answer in 5 s`)), 5_000);
  });
  try {
    const answer = await Promise.race([node.api("GET", path), timeout]);
    if (answer.status !== 200)
      throw new Error(`${node.name}: GET ${path}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
    return JSON.parse(answer.body.toString()) as T;
  } finally {
    clearTimeout(timer);
  }
}

export const nodeNamed = (v: ClusterView, node: ClusterNode) =>
  v.nodes.find((n) => n.Description.Hostname === node.name);
export const hostOf = (v: ClusterView, id: string | undefined) =>
  v.nodes.find((n) => n.ID === id)?.Description.Hostname ?? `?${id}`;
export const serviceNamed = (v: ClusterView, name: string) => v.services.find((s) => s.Spec.Name === name);
/** Tasks the cluster means to run and that run. */
export const runningTasks = (v: ClusterView, service: ServiceRecord) =>
  v.tasks.filter(
    (t) => t.ServiceID === service.ID && t.DesiredState === "running" && t.Status.State === "running",
  );
export const replicasOf = (s: ServiceRecord) =>
  (s.Spec.Mode as { Replicated?: { Replicas?: number } }).Replicated?.Replicas ?? 1;
export const leaderOf = (v: ClusterView) =>
  v.nodes.find((n) => n.ManagerStatus?.Leader)?.Description.Hostname;
export const isDown = (node: ClusterNode) => (v: ClusterView) => nodeNamed(v, node)?.Status.State === "down";
export const isGlobal = (s: ServiceRecord) => !!s.Spec.Mode && "Global" in s.Spec.Mode;

const SERVICE_LABEL = "com.docker.swarm.service.name";

/** A node's running containers of a service, with their address on `network` ("" if none). */
export async function containersOf(
  node: ClusterNode,
  service: string,
  network = "",
): Promise<Array<{ id: string; ip: string }>> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`${SERVICE_LABEL}=${service}`] }));
  const list = await getJson<
    Array<{ Id: string; NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> } }>
  >(node, `/containers/json?filters=${filters}`);
  return list.map((c) => ({ id: c.Id, ip: c.NetworkSettings?.Networks?.[network]?.IPAddress ?? "" }));
}

/**
 * The cluster's nodes and managers, as a fault sees them: which nodes may be asked (their
 * daemon runs and their link is up), and the cluster as the first of those managers that
 * answers reports it.
 */
export class ClusterWatch {
  /** Nodes cut off the LAN: not asked anything meanwhile. */
  readonly cut = new Set<ClusterNode>();

  constructor(
    readonly nodes: ClusterNode[],
    readonly managers: ClusterNode[],
    private readonly options: {
      /** ms between two looks while waiting (the test's 20; the bench polls less, not to load the peers). */
      every?: number;
      /** What to add to a failure: each node's own state, say. */
      diagnose?: () => string;
    } = {},
  ) {}

  reachable(n: ClusterNode): boolean {
    return n.pid !== undefined && !this.cut.has(n);
  }

  /** The cluster as the first reachable manager that answers sees it. */
  async view(): Promise<ClusterView> {
    const errors: string[] = [];
    for (const m of this.managers.filter((n) => this.reachable(n))) {
      try {
        const [nodes, services, tasks] = await Promise.all([
          getJson<ApiNode[]>(m, "/nodes"),
          getJson<ServiceRecord[]>(m, "/services"),
          getJson<TaskRecord[]>(m, "/tasks"),
        ]);
        return { nodes, services, tasks };
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new Error(`no manager answered: ${errors.join("; ")}`);
  }

  /** Waits until `check` holds (a view no manager gave counts as not yet); fails naming `what` after `ms`. */
  async until(what: string, check: (v: ClusterView) => boolean, ms: number): Promise<void> {
    await until(
      what,
      async () => {
        const v = await this.view().catch(() => undefined);
        return !!v && check(v);
      },
      ms,
      this.options.every,
    ).catch((err: Error) => {
      throw new Error(`${err.message}${this.options.diagnose ? `\n${this.options.diagnose()}` : ""}`);
    });
  }

  /** Resolves once the cluster is whole and as desired (shortfalls()); fails with what was still wrong after `ms`. */
  async converged(what: string, ms: number): Promise<void> {
    let last: string[] = [];
    await until(
      what,
      async () => {
        last = await this.shortfalls().catch((err: Error) => [err.message]);
        return last.length === 0;
      },
      ms,
      this.options.every,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${last.join("; ")}${this.options.diagnose ? `\n${this.options.diagnose()}` : ""}`,
      );
    });
  }

  /** Waits (from `t0`) until `check` holds on the cluster's view; the ms it took. */
  async detect(what: string, t0: number, check: (v: ClusterView) => boolean): Promise<number> {
    await this.until(what, check, DETECTION_MS);
    return Date.now() - t0;
  }

  /**
   * What keeps the cluster from being whole and as desired ([] once it is): every node ready,
   * one leader, each service's tasks running as many as desired (one a node for a global one),
   * of its current spec, one a slot, and as many containers on the nodes.
   */
  async shortfalls(): Promise<string[]> {
    if (this.nodes.some((n) => !this.reachable(n))) return ["a node is down or cut off"];
    const v = await this.view();
    const problems: string[] = [];
    for (const n of this.nodes)
      if (nodeNamed(v, n)?.Status.State !== "ready")
        problems.push(`${n.name} is ${nodeNamed(v, n)?.Status.State}`);
    if (v.nodes.filter((n) => n.ManagerStatus?.Leader).length !== 1) problems.push("no single leader");
    for (const s of v.services) {
      if (s.UpdateStatus?.State === "updating") problems.push(`${s.Spec.Name} is updating`);
      const tasks = runningTasks(v, s);
      if (tasks.some((t) => t.SpecVersion !== s.SpecVersion))
        problems.push(`${s.Spec.Name}: a task of an older spec runs`);
      const global = isGlobal(s);
      const desired = global ? this.nodes.length : replicasOf(s);
      if (tasks.length !== desired)
        problems.push(`${s.Spec.Name}: ${tasks.length} tasks running of ${desired}`);
      if (global && new Set(tasks.map((t) => t.NodeID)).size !== tasks.length)
        problems.push(`${s.Spec.Name}: a node runs two`);
      if (!global && new Set(tasks.map((t) => t.Slot)).size !== tasks.length)
        problems.push(`${s.Spec.Name}: a slot runs two`);
      const containers = (await Promise.all(this.nodes.map((n) => containersOf(n, s.Spec.Name)))).map(
        (c) => c.length,
      );
      if (containers.reduce((a, b) => a + b, 0) !== desired || (global && containers.some((c) => c !== 1)))
        problems.push(`${s.Spec.Name}: containers per node ${containers.join("-")}, ${desired} desired`);
    }
    return problems;
  }
}

/** A fault struck: on which node, when, and how long until the cluster noticed what. */
export interface Detection {
  target: ClusterNode;
  /** Date.now() when it struck. */
  at: number;
  /** ms from the fault to the cluster's noticing it (what it noticed: `detected`). */
  detectionMs: number;
  detected: string;
}

/**
 * The node's daemon and every helper it started (containers' monitors; a manager's etcd member)
 * killed -9; detected when a manager shows the node down. It stays down.
 */
export async function killWithMonitors(watch: ClusterWatch, node: ClusterNode): Promise<Detection> {
  const at = Date.now();
  await node.crashWithMonitors();
  const detectionMs = await watch.detect(`${node.name} down`, at, isDown(node));
  return { target: node, at, detectionMs, detected: "node down" };
}

/** The node's link cut for `ms`; detected when a manager shows it down. Healed before it returns. */
export async function cutLinkFor(watch: ClusterWatch, node: ClusterNode, ms: number): Promise<Detection> {
  const at = Date.now();
  watch.cut.add(node);
  node.cutLink();
  try {
    const detectionMs = await watch.detect(`${node.name} down`, at, isDown(node));
    await sleep(Math.max(0, at + ms - Date.now()));
    return { target: node, at, detectionMs, detected: "node down" };
  } finally {
    node.healLink();
    watch.cut.delete(node);
  }
}

/** The leader manager's daemon killed -9; detected when another manager is leader. It stays down. */
export async function killLeader(watch: ClusterWatch): Promise<Detection> {
  const name = leaderOf(await watch.view());
  const leader = watch.managers.find((m) => m.name === name);
  if (!leader) throw new Error(`no leader among the managers (the cluster reports ${name})`);
  const at = Date.now();
  await leader.crash();
  const detectionMs = await watch.detect("another leader", at, (v) => {
    const l = leaderOf(v);
    return !!l && l !== leader.name;
  });
  return { target: leader, at, detectionMs, detected: "new leader" };
}

/** The node's daemon killed -9 and started again (with `args`); detected when it is back ready. */
export async function restartDaemon(
  watch: ClusterWatch,
  node: ClusterNode,
  args?: string[],
): Promise<Detection> {
  const at = Date.now();
  await node.crash();
  await node.start(args);
  const detectionMs = await watch.detect(
    `${node.name} ready again`,
    at,
    (v) => nodeNamed(v, node)?.Status.State === "ready",
  );
  return { target: node, at, detectionMs, detected: "back ready" };
}
