/**
 * The leader's copy of what its passes decide on — nodes, alive keys, services, the cluster
 * record, and the tasks by service with what each node holds — kept current from the store's
 * changes as they arrive, rather than rebuilt from every record at each pass: at 30,000 tasks the
 * rebuild alone took a pass tens of milliseconds, and a pass came for every new service.
 *
 * It also says which services a batch of changes concerns (`apply`), so that a pass for a new
 * service or a task's news looks at that service alone (leader.ts); a change of a node, an alive
 * key or the cluster concerns them all, and one of anything else none.
 */
import type { WatchEvent } from "./etcd.js";
import type { MirrorEntry } from "./mirror.js";
import { KEYS } from "./store.js";
import {
  type ClusterRecord,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
  TERMINAL,
} from "./types.js";

/** A task the orchestrator still wants: running, or waiting to (stop-first). */
export const wanted = (t: TaskRecord) => t.DesiredState === "running" || t.DesiredState === "ready";

/** What a task (or a service's template) reserves on its node. */
export const taskReservations = (t: { Spec: TaskRecord["Spec"] }) => ({
  nanoCpus: t.Spec.Resources?.Reservations?.NanoCPUs ?? 0,
  memoryBytes: t.Spec.Resources?.Reservations?.MemoryBytes ?? 0,
});

/** A task that holds a place on its node: placed, wanted, not ended. */
export const occupies = (t: TaskRecord): t is TaskRecord & { NodeID: string } =>
  !!t.NodeID && wanted(t) && !TERMINAL.has(t.Status.State);

/** What the tasks that hold a place on one node hold, as the scheduler counts it. */
export interface NodeHolding {
  tasks: number;
  tasksByService: Map<string, number>;
  reserved: { nanoCpus: number; memoryBytes: number };
}

/** The services a batch of changes concerns, or "all". */
export type Scope = ReadonlySet<string> | "all";

export class LeaderView {
  cluster: ClusterRecord | undefined;
  readonly nodes = new Map<string, NodeRecord>();
  readonly alive = new Set<string>();
  readonly services = new Map<string, ServiceRecord>();
  /** service id → its tasks (by key), services removed included while tasks remain. */
  readonly tasksByService = new Map<string, Map<string, TaskRecord>>();
  /** node id → what its placed tasks hold. */
  readonly holdings = new Map<string, NodeHolding>();
  /** key → task, as last seen: what a change or removal takes away. */
  private readonly tasks = new Map<string, TaskRecord>();

  /** Everything again, from the mirror's entries (its first read, or a reread). */
  reset(entries: Iterable<MirrorEntry<unknown>>): void {
    this.cluster = undefined;
    this.nodes.clear();
    this.alive.clear();
    this.services.clear();
    this.tasksByService.clear();
    this.holdings.clear();
    this.tasks.clear();
    for (const { kv, value } of entries) this.set(kv.key, value);
  }

  /** Takes the mirror's changes (values as the mirror parsed them); returns the services they concern. */
  apply(events: readonly WatchEvent[], value: (key: string) => unknown): Scope {
    let scope: Set<string> | "all" = new Set();
    for (const e of events) {
      const key = e.kv.key;
      const before = key.startsWith(KEYS.tasks) ? this.tasks.get(key) : undefined;
      this.set(key, e.type === "DELETE" ? undefined : value(key));
      if (scope === "all") continue;
      if (key.startsWith(KEYS.services)) scope.add(key.slice(KEYS.services.length));
      else if (key.startsWith(KEYS.tasks)) {
        const after = this.tasks.get(key);
        if (before) scope.add(before.ServiceID);
        if (after) scope.add(after.ServiceID);
        // A record that does not parse belongs to no service we can name.
        if (!before && !after) scope = "all";
      } else if (key === KEYS.cluster || key.startsWith(KEYS.nodes) || key.startsWith(KEYS.alive))
        scope = "all";
      // Anything else (allocations, networks, endpoints, secrets) no pass decides on.
    }
    return scope;
  }

  private set(key: string, value: unknown): void {
    if (key.startsWith(KEYS.tasks)) {
      const before = this.tasks.get(key);
      if (before) this.dropTask(key, before);
      if (value !== undefined) this.addTask(key, value as TaskRecord);
    } else if (key.startsWith(KEYS.services)) {
      const id = key.slice(KEYS.services.length);
      if (value === undefined) this.services.delete(id);
      else this.services.set(id, value as ServiceRecord);
    } else if (key.startsWith(KEYS.nodes)) {
      const id = key.slice(KEYS.nodes.length);
      if (value === undefined) this.nodes.delete(id);
      else this.nodes.set(id, value as NodeRecord);
    } else if (key.startsWith(KEYS.alive)) {
      const id = key.slice(KEYS.alive.length);
      if (value === undefined) this.alive.delete(id);
      else this.alive.add(id);
    } else if (key === KEYS.cluster) this.cluster = value as ClusterRecord | undefined;
  }

  private addTask(key: string, t: TaskRecord): void {
    this.tasks.set(key, t);
    const list = this.tasksByService.get(t.ServiceID) ?? new Map<string, TaskRecord>();
    if (!list.size) this.tasksByService.set(t.ServiceID, list);
    list.set(key, t);
    if (occupies(t)) this.hold(t.NodeID, t, 1);
  }

  private dropTask(key: string, t: TaskRecord): void {
    this.tasks.delete(key);
    const list = this.tasksByService.get(t.ServiceID);
    list?.delete(key);
    if (list && !list.size) this.tasksByService.delete(t.ServiceID);
    if (occupies(t)) this.hold(t.NodeID, t, -1);
  }

  private hold(nodeId: string, t: TaskRecord, sign: 1 | -1): void {
    let h = this.holdings.get(nodeId);
    if (!h) {
      h = { tasks: 0, tasksByService: new Map(), reserved: { nanoCpus: 0, memoryBytes: 0 } };
      this.holdings.set(nodeId, h);
    }
    const r = taskReservations(t);
    h.tasks += sign;
    h.reserved.nanoCpus += sign * r.nanoCpus;
    h.reserved.memoryBytes += sign * r.memoryBytes;
    const n = (h.tasksByService.get(t.ServiceID) ?? 0) + sign;
    if (n > 0) h.tasksByService.set(t.ServiceID, n);
    else h.tasksByService.delete(t.ServiceID);
    if (h.tasks <= 0) this.holdings.delete(nodeId);
  }
}
