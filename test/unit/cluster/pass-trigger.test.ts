import assert from "node:assert/strict";
import { test } from "node:test";
import type { WatchEvent } from "../../../src/cluster/etcd.js";
import { worthAPass } from "../../../src/cluster/pass-trigger.js";
import { KEYS } from "../../../src/cluster/store.js";
import type { ServiceRecord, TaskRecord } from "../../../src/cluster/types.js";

const service = {
  ID: "s1",
  SpecVersion: 2,
  Spec: { Name: "web", Mode: { Replicated: { Replicas: 3 } } },
} as unknown as ServiceRecord;

const task = (over: Partial<TaskRecord> = {}): TaskRecord =>
  ({
    ID: "t1",
    ServiceID: "s1",
    NodeID: "n1",
    SpecVersion: 2,
    DesiredState: "running",
    Status: { State: "starting", Timestamp: "", Message: "", PortStatus: {} },
    ...over,
  }) as TaskRecord;

const put = (key: string): WatchEvent => ({
  type: "PUT",
  kv: { key, value: "", createRevision: 1, modRevision: 2, lease: "0" },
});
const del = (key: string): WatchEvent => ({ ...put(key), type: "DELETE" });

/** worthAPass over one event of `t`, with the store's copy holding `t` and `s`. */
function worth(t: TaskRecord | undefined, s: ServiceRecord | null = service): boolean {
  const held = new Map<string, unknown>([
    [KEYS.tasks + "t1", t],
    [KEYS.services + "s1", s ?? undefined],
  ]);
  return worthAPass([put(KEYS.tasks + "t1")], (k) => held.get(k));
}

test("a placed task stepping towards running, of a settled service, waits for the timed pass", () => {
  for (const state of ["assigned", "accepted", "preparing", "starting", "running"] as const)
    assert.equal(worth(task({ Status: { ...task().Status, State: state } })), false, state);
});

test("a task that ended, is not placed, is stopped, or is gone from the copy takes a pass now", () => {
  for (const state of ["complete", "failed", "rejected", "shutdown", "new", "pending"] as const)
    assert.equal(worth(task({ Status: { ...task().Status, State: state } })), true, state);
  assert.equal(worth(task({ NodeID: undefined } as Partial<TaskRecord>)), true, "not placed");
  assert.equal(worth(task({ DesiredState: "shutdown" })), true, "to stop");
  assert.equal(worth(task({ DesiredState: "ready" })), true, "waits to start");
  assert.equal(worth(undefined), true, "not in the copy (did not parse)");
  assert.equal(worth({ ID: "t1" } as TaskRecord), true, "no status: malformed");
});

test("a task of a service in an update or rollback, of a job, of another spec, or of no service takes a pass now", () => {
  const updating = (State: string) =>
    ({ ...service, UpdateStatus: { State, StartedAt: "", Message: "" } }) as ServiceRecord;
  assert.equal(worth(task(), updating("updating")), true);
  assert.equal(worth(task(), updating("rollback_started")), true);
  assert.equal(worth(task(), updating("completed")), false);
  assert.equal(worth(task(), updating("paused")), false);
  const job = { ...service, Spec: { ...service.Spec, Mode: { ReplicatedJob: {} } } } as ServiceRecord;
  assert.equal(worth(task(), job), true, "a job");
  assert.equal(worth(task({ SpecVersion: 1 })), true, "an older spec");
  assert.equal(worth(task(), null), true, "its service is gone");
});

test("any other change takes a pass now: one such event among quiet ones is enough", () => {
  const quiet = new Map<string, unknown>([
    [KEYS.tasks + "t1", task()],
    [KEYS.services + "s1", service],
  ]);
  const value = (k: string) => quiet.get(k);
  assert.equal(worthAPass([put(KEYS.tasks + "t1")], value), false);
  for (const other of [
    put(KEYS.services + "s1"),
    put(KEYS.nodes + "n1"),
    put(KEYS.alive + "n1"),
    del(KEYS.alive + "n1"),
    put(KEYS.cluster),
    put(KEYS.leader),
    del(KEYS.tasks + "t1"),
  ])
    assert.equal(worthAPass([put(KEYS.tasks + "t1"), other], value), true, `${other.type} ${other.kv.key}`);
  assert.equal(worthAPass([], value), false);
});
