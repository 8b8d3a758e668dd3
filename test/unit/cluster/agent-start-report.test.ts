/**
 * The node agent's start of a task whose state cannot be said at once (a store or manager slow
 * to answer under load): the container runs, so the task is not rejected — a rejected task is
 * replaced by the leader while its container still runs. The next pass says it runs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeAgent } from "../../../src/cluster/agent.js";
import { createCA } from "../../../src/cluster/ca.js";
import { HollowRuntime } from "../../../src/cluster/hollow.js";
import { signTask } from "../../../src/cluster/integrity.js";
import type { NodeReports } from "../../../src/cluster/node-reports.js";
import type { NodeTaskFeed } from "../../../src/cluster/node-tasks.js";
import type { ClusterStore } from "../../../src/cluster/store.js";
import type { ServiceRecord, TaskRecord } from "../../../src/cluster/types.js";
import { assignedTask } from "../../helpers/tasks.js";
import { until } from "../../helpers/wait.js";

test("a task whose container started is not rejected when its state cannot be said at once", async () => {
  const ca = createCA();
  let task = signTask(ca.key, assignedTask("n1"));
  const service = { ID: "s1", SpecVersion: 1, Spec: { Name: "web" } } as ServiceRecord;
  const runtime = new HollowRuntime();
  // The first read of the task after its start times out, as under load; later ones answer.
  let reads = 0;
  const store = {
    get: async () => {
      if (++reads === 1) throw new Error("Deadline exceeded after 5.000s");
      return task;
    },
  } as unknown as ClusterStore;
  const states: string[] = [];
  const reports = {
    taskStatus: async (t: TaskRecord) => {
      states.push(t.Status.State);
      task = { ...t, Version: { Index: task.Version.Index + 1 } };
      return true;
    },
  } as unknown as NodeReports;
  const feed = {
    subscribe: async () => () => {},
    tasksOf: async () => [task],
    service: () => service,
  } as unknown as NodeTaskFeed;
  const logged: string[] = [];
  const agent = new NodeAgent(
    runtime,
    store,
    reports,
    feed,
    "n1",
    (m) => logged.push(m),
    () => ca.cert,
  );
  await agent.start();
  try {
    await until("the task said running", () => states.includes("running"), 5000);
  } finally {
    await agent.stop();
  }
  assert.deepEqual(states, ["starting", "running"], "never rejected");
  assert.equal(runtime.containers().size, 1, "one container, still running");
  assert.match(logged.join("\n"), /task t1 runs; its state is said at the next pass: Deadline exceeded/);
});
