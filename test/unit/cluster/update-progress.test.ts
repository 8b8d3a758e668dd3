import assert from "node:assert/strict";
import { test } from "node:test";
import type { ServiceRecord, TaskRecord, TaskState, UpdateConfig } from "../../../src/cluster/types.js";
import { respec, updateVerdict } from "../../../src/cluster/update-progress.js";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function service(
  update: UpdateConfig = {},
  state: "updating" | "rollback_started" = "updating",
): ServiceRecord {
  return {
    ID: "svc",
    Version: { Index: 1 },
    CreatedAt: at(-100),
    UpdatedAt: at(0),
    Spec: {
      Name: "web",
      TaskTemplate: { ContainerSpec: { Image: "new" } },
      Mode: { Replicated: { Replicas: 4 } },
      UpdateConfig: update,
      RollbackConfig: { FailureAction: "continue" },
    },
    PreviousSpec: {
      Name: "web",
      TaskTemplate: { ContainerSpec: { Image: "old" } },
      Mode: { Replicated: { Replicas: 4 } },
    },
    Endpoint: { Spec: {} },
    UpdateStatus: { State: state, StartedAt: at(0), Message: "update in progress" },
    SpecVersion: 2,
  };
}

/** A task of the given spec version: made at `made`, running from `ran`, last status at `last`. */
function task(
  id: string,
  version: number,
  state: TaskState,
  made: number,
  last: number,
  ran?: number,
  desired: TaskRecord["DesiredState"] = "running",
): TaskRecord {
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: at(made),
    UpdatedAt: at(last),
    Labels: {},
    Spec: { ContainerSpec: { Image: version === 2 ? "new" : "old" } },
    ServiceID: "svc",
    Slot: 1,
    NodeID: "n1",
    Status: { Timestamp: at(last), State: state, Message: "", PortStatus: {} },
    DesiredState: desired,
    SpecVersion: version,
    ...(ran !== undefined ? { RunningSince: at(ran) } : {}),
  };
}

test("an update completes once every task runs the new spec and has run for the monitor period", () => {
  const s = service({ Monitor: 5e9 });
  const tasks = [task("a", 2, "running", 1, 2, 2), task("b", 2, "running", 1, 3, 3)];
  assert.equal(updateVerdict(s, tasks, 2, false, T0 + 6000).kind, "going", "b has run 3 s of 5");
  assert.equal(updateVerdict(s, tasks, 2, false, T0 + 8000).kind, "completed");
  assert.equal(updateVerdict(s, tasks, 2, true, T0 + 8000).kind, "going", "tasks still being made");
  const withOld = [...tasks, task("c", 1, "running", -50, -49, -49)];
  assert.equal(updateVerdict(s, withOld, 3, false, T0 + 8000).kind, "going", "an old task still runs");
  const oldStopped = [...tasks, task("c", 1, "shutdown", -50, 4, -49, "shutdown")];
  assert.equal(updateVerdict(s, oldStopped, 2, false, T0 + 8000).kind, "completed");
});

test("a task of the new spec that ends within the monitor period fails the update", () => {
  const s = service({ Monitor: 5e9, FailureAction: "rollback" });
  const failed = task("bad", 2, "failed", 1, 3, 2, "shutdown");
  assert.deepEqual(updateVerdict(s, [failed], 4, false, T0 + 4000), {
    kind: "failed",
    taskId: "bad",
    action: "rollback",
  });
  // One that never ran (its image would not start) counts too.
  const rejected = task("rej", 2, "rejected", 1, 2, undefined, "shutdown");
  assert.equal(updateVerdict(s, [rejected], 4, false, T0 + 4000).kind, "failed");
  // An exit long after the monitor period is an ordinary restart, not the update's fault.
  const late = task("late", 2, "failed", 1, 30, 2, "shutdown");
  assert.equal(updateVerdict(s, [late], 4, false, T0 + 31_000).kind, "going");
  // Tasks ended before this update began are not counted against it.
  const before = task("before", 2, "failed", -10, -8, -9, "shutdown");
  assert.equal(updateVerdict(s, [before], 4, false, T0 + 4000).kind, "going");
  // An old task stopped by the update is no failure.
  const stopped = task("old", 1, "shutdown", -50, 2, -49, "shutdown");
  assert.equal(updateVerdict(s, [stopped], 4, false, T0 + 4000).kind, "going");
});

test("the failure ratio allows that share of the replicas to fail; continue never stops", () => {
  const fails = [task("x", 2, "failed", 1, 2, undefined, "shutdown")];
  assert.equal(updateVerdict(service({ MaxFailureRatio: 0.25 }), fails, 4, false, T0 + 3000).kind, "going");
  const two = [...fails, task("y", 2, "failed", 1, 2, undefined, "shutdown")];
  const verdict = updateVerdict(service({ MaxFailureRatio: 0.25 }), two, 4, false, T0 + 3000);
  assert.deepEqual(verdict, { kind: "failed", taskId: "x", action: "pause" }, "pause is the default");
  assert.equal(updateVerdict(service({ FailureAction: "continue" }), two, 4, false, T0 + 3000).kind, "going");
  // A rollback is judged by the rollback policy (here: continue).
  assert.equal(updateVerdict(service({}, "rollback_started"), two, 4, false, T0 + 3000).kind, "going");
});

test("a new spec starts a rolling update; a scale does not, nor does a job's new spec", () => {
  const s = service();
  const updated = respec(s, { ...s.Spec, TaskTemplate: { ContainerSpec: { Image: "newer" } } }, false, "m");
  assert.equal(updated.SpecVersion, 3);
  assert.equal(updated.UpdateStatus?.State, "updating");
  assert.equal(updated.PreviousSpec, s.Spec);
  const scaled = respec(
    { ...s, UpdateStatus: undefined },
    { ...s.Spec, Mode: { Replicated: { Replicas: 9 } } },
    false,
    "m",
  );
  assert.equal(scaled.SpecVersion, 2);
  assert.equal(scaled.UpdateStatus, undefined);
  const back = respec(s, s.PreviousSpec!, true, "update rolled back");
  assert.equal(back.UpdateStatus?.State, "rollback_started");
  assert.equal(back.UpdateStatus?.Message, "update rolled back");
  const job = { ...s, UpdateStatus: undefined, Spec: { ...s.Spec, Mode: { ReplicatedJob: {} } } };
  const rerun = respec(job, { ...job.Spec, TaskTemplate: { ContainerSpec: { Image: "x" } } }, false, "m");
  assert.equal(rerun.SpecVersion, 3);
  assert.equal(rerun.UpdateStatus, undefined);
});
