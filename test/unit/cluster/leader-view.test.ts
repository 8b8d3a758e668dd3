import assert from "node:assert/strict";
import { test } from "node:test";
import type { WatchEvent } from "../../../src/cluster/etcd.js";
import { LeaderView, occupies } from "../../../src/cluster/leader-view.js";
import { KEYS } from "../../../src/cluster/store.js";
import type { TaskRecord } from "../../../src/cluster/types.js";

const task = (id: string, over: Partial<TaskRecord> = {}): TaskRecord =>
  ({
    ID: id,
    ServiceID: "s1",
    NodeID: "n1",
    DesiredState: "running",
    Spec: { ContainerSpec: { Image: "busybox" } },
    Status: { State: "running", Timestamp: "", Message: "", PortStatus: {} },
    ...over,
  }) as TaskRecord;

const event = (type: "PUT" | "DELETE", key: string): WatchEvent => ({
  type,
  kv: { key, value: "", createRevision: 1, modRevision: 2, lease: "0" },
});

/** Applies one change to both the view and a plain map of what the store holds. */
function change(view: LeaderView, store: Map<string, unknown>, key: string, value: unknown) {
  if (value === undefined) store.delete(key);
  else store.set(key, value);
  return view.apply([event(value === undefined ? "DELETE" : "PUT", key)], (k) => store.get(k));
}

/** What a pass over every record would count on each node. */
function counted(store: Map<string, unknown>) {
  const out = new Map<string, { tasks: number; byService: Record<string, number>; memory: number }>();
  for (const [key, v] of store) {
    if (!key.startsWith(KEYS.tasks)) continue;
    const t = v as TaskRecord;
    if (!occupies(t)) continue;
    const c = out.get(t.NodeID) ?? { tasks: 0, byService: {}, memory: 0 };
    c.tasks++;
    c.byService[t.ServiceID] = (c.byService[t.ServiceID] ?? 0) + 1;
    c.memory += t.Spec.Resources?.Reservations?.MemoryBytes ?? 0;
    out.set(t.NodeID, c);
  }
  return out;
}

test("the view's counts of each node equal a count over every task, through random changes", () => {
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const view = new LeaderView();
  const store = new Map<string, unknown>();
  const states = ["new", "assigned", "running", "failed", "shutdown"] as const;
  const desired = ["running", "ready", "shutdown", "remove"] as const;
  for (let i = 0; i < 3000; i++) {
    const id = `t${random(60)}`;
    if (random(5) === 0) change(view, store, KEYS.tasks + id, undefined);
    else
      change(
        view,
        store,
        KEYS.tasks + id,
        task(id, {
          ServiceID: `s${random(4)}`,
          ...(random(4) ? { NodeID: `n${random(5)}` } : { NodeID: undefined }),
          DesiredState: desired[random(desired.length)]!,
          Status: { State: states[random(states.length)]!, Timestamp: "", Message: "", PortStatus: {} },
          Spec: {
            ContainerSpec: { Image: "b" },
            Resources: { Reservations: { MemoryBytes: random(3) * 100 } },
          },
        } as Partial<TaskRecord>),
      );
  }
  const want = counted(store);
  assert.deepEqual(
    new Map(
      [...view.holdings].map(([n, h]) => [
        n,
        { tasks: h.tasks, byService: Object.fromEntries(h.tasksByService), memory: h.reserved.memoryBytes },
      ]),
    ),
    want,
  );
  const tasks = [...view.tasksByService.values()].reduce((sum, m) => sum + m.size, 0);
  assert.equal(tasks, [...store.keys()].filter((k) => k.startsWith(KEYS.tasks)).length);
});

test("a change names the services it concerns; a node's, an alive key's or the cluster's concerns them all; others none", () => {
  const view = new LeaderView();
  const store = new Map<string, unknown>();
  assert.deepEqual(change(view, store, KEYS.tasks + "a", task("a", { ServiceID: "s1" })), new Set(["s1"]));
  assert.deepEqual(change(view, store, KEYS.services + "s2", { ID: "s2" }), new Set(["s2"]));
  // A removed task is known by what it was.
  assert.deepEqual(change(view, store, KEYS.tasks + "a", undefined), new Set(["s1"]));
  assert.equal(change(view, store, KEYS.nodes + "n1", { ID: "n1" }), "all");
  assert.equal(change(view, store, KEYS.alive + "n1", "10.0.0.1"), "all");
  assert.equal(change(view, store, KEYS.cluster, { ID: "c" }), "all");
  // A task record that does not parse names no service.
  assert.equal(change(view, store, KEYS.tasks + "b", undefined), "all");
  // What no pass decides on: a name held, an address taken, a network, the leader key.
  for (const key of [`${KEYS.alloc}service-name/web`, `${KEYS.alloc}ip/x`, `${KEYS.networks}n`, KEYS.leader])
    assert.deepEqual(change(view, store, key, "x"), new Set(), key);
  assert.ok(view.nodes.has("n1") && view.alive.has("n1") && view.services.has("s2"));
  view.reset([]);
  assert.equal(view.nodes.size + view.alive.size + view.services.size + view.holdings.size, 0);
});
