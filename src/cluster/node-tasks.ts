/**
 * The tasks of each node, from one mirror of the store's tasks (./mirror.ts): a node agent reads
 * its own from memory and is woken only by changes of its own, rather than reading every task of
 * the cluster at each pass. One feed serves every agent of a process (one on a real node, many
 * in a process of hollow nodes). It keeps the services too: an agent that starts a task needs
 * its service, and a read from etcd for each start was, at 30,000 tasks, a good share of etcd's
 * load.
 */
import type { WatchEvent } from "./etcd.js";
import { StoreMirror } from "./mirror.js";
import { type ClusterStore, KEYS, parseEntry } from "./store.js";
import type { ServiceRecord, TaskRecord } from "./types.js";

export class NodeTaskFeed {
  /** task id → the node it is on, as last seen (a removal names only the key). */
  private readonly nodeOf = new Map<string, string>();
  private readonly byNode = new Map<string, Map<string, TaskRecord>>();
  private readonly listeners = new Map<string, Set<() => void>>();

  private constructor(
    private readonly tasks: StoreMirror<unknown>,
    private readonly services: StoreMirror<unknown>,
    /** Whether the copies are the feed's, to start and stop (a manager's are its leader's too). */
    private readonly own: boolean,
  ) {}

  /** A worker's feed: copies of the store's tasks and services of its own. */
  static following(store: ClusterStore, log: (message: string) => void = () => {}): NodeTaskFeed {
    let feed: NodeTaskFeed | undefined;
    const tasks = new StoreMirror<unknown>(store.etcd, KEYS.tasks, parseEntry, (e) => feed?.changed(e), log);
    const services = new StoreMirror<unknown>(store.etcd, KEYS.services, parseEntry, () => {}, log);
    feed = new NodeTaskFeed(tasks, services, true);
    return feed;
  }

  /**
   * A manager's feed: from the copy of the whole store its leader keeps (a second copy of every
   * task, parsed again at each change, cost 60–110 MiB of the manager's peak RSS at 30,000
   * tasks). Whoever owns `mirror` starts and stops it, and passes its changes to `changed`.
   */
  static over(mirror: StoreMirror<unknown>): NodeTaskFeed {
    return new NodeTaskFeed(mirror, mirror, false);
  }

  /** The copy's changes (its events, or "reread" after it was read whole). */
  changed(events: WatchEvent[] | "reread"): void {
    if (events === "reread") {
      this.rebuild();
      return;
    }
    const touched = new Set<string>();
    for (const e of events) {
      if (!e.kv.key.startsWith(KEYS.tasks)) continue;
      const id = e.kv.key.slice(KEYS.tasks.length);
      const before = this.nodeOf.get(id);
      const task =
        e.type === "PUT" ? (this.tasks.entries.get(e.kv.key)?.value as TaskRecord | undefined) : undefined;
      if (before !== undefined) touched.add(before);
      this.place(id, before, task);
      if (task?.NodeID) touched.add(task.NodeID);
    }
    for (const node of touched) this.notify(node);
  }

  /**
   * The service as the copy holds it, when that is the spec `specVersion` names (a task's): the
   * caller reads the store otherwise (a copy behind, or not read yet).
   */
  service(id: string, specVersion: number): ServiceRecord | undefined {
    const s = this.services.entries.get(KEYS.services + id)?.value as ServiceRecord | undefined;
    return s?.SpecVersion === specVersion ? s : undefined;
  }

  /** Follows `nodeId`'s tasks: `onChange` when one of them changes. The first read is awaited. */
  async subscribe(nodeId: string, onChange: () => void): Promise<() => void> {
    const set = this.listeners.get(nodeId) ?? new Set();
    set.add(onChange);
    this.listeners.set(nodeId, set);
    void this.services.start().catch(() => {}); // without it, services are read from the store
    await this.tasks.start().catch(() => {}); // a store down now: tasksOf tries again
    return () => {
      set.delete(onChange);
      if (!set.size) this.listeners.delete(nodeId);
      if (!this.listeners.size && this.own) {
        this.tasks.stop();
        this.services.stop();
      }
    };
  }

  /** The node's tasks as the store last said; throws when the store was never read. */
  async tasksOf(nodeId: string): Promise<TaskRecord[]> {
    await this.tasks.start();
    return this.current(nodeId);
  }

  /** The node's tasks in the copy now (none before the first read). */
  current(nodeId: string): TaskRecord[] {
    return [...(this.byNode.get(nodeId)?.values() ?? [])];
  }

  /** The store's revision the copy is complete up to. */
  get revision(): number {
    return this.tasks.revision;
  }

  private place(id: string, before: string | undefined, task: TaskRecord | undefined): void {
    if (before !== undefined) {
      this.byNode.get(before)?.delete(id);
      this.nodeOf.delete(id);
    }
    if (!task?.NodeID) return;
    this.nodeOf.set(id, task.NodeID);
    const tasks = this.byNode.get(task.NodeID) ?? new Map<string, TaskRecord>();
    this.byNode.set(task.NodeID, tasks);
    tasks.set(id, task);
  }

  private rebuild(): void {
    this.nodeOf.clear();
    this.byNode.clear();
    for (const [key, e] of this.tasks.entries)
      if (e.value && key.startsWith(KEYS.tasks))
        this.place(key.slice(KEYS.tasks.length), undefined, e.value as TaskRecord);
    for (const node of this.listeners.keys()) this.notify(node);
  }

  private notify(nodeId: string): void {
    for (const fn of this.listeners.get(nodeId) ?? []) fn();
  }
}
