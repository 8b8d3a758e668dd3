/**
 * The node agent's stop of a task container that fails (a full disk): tried again at the agent's
 * resync, not as fast as its loop turns — a stop failing in a tight loop wrote 2,500 log lines a
 * minute in the chaos test.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeAgent } from "../../../src/cluster/agent.js";
import type { TaskContainer, TaskRuntime } from "../../../src/cluster/engine-runtime.js";
import type { NodeReports } from "../../../src/cluster/node-reports.js";
import type { NodeTaskFeed } from "../../../src/cluster/node-tasks.js";
import type { ClusterStore } from "../../../src/cluster/store.js";
import type { TaskRecord } from "../../../src/cluster/types.js";
import { sleep } from "../../helpers/wait.js";

test("a task container whose stop fails is stopped again at the next resync, not in a loop", async () => {
  const container: TaskContainer = {
    id: "c1",
    name: "web.1.t1",
    taskId: "t1",
    running: true,
    exitCode: 0,
    pid: 42,
  };
  const task = {
    ID: "t1",
    DesiredState: "shutdown",
    Status: { State: "running" },
    Spec: { ContainerSpec: { StopGracePeriod: 1e9 } },
  } as unknown as TaskRecord;
  let stops = 0;
  const runtime = {
    containers: () => new Map([[container.taskId, container]]),
    stop: async () => {
      stops++;
      throw new Error("no space left on device");
    },
    collect: async () => {},
    subscribe: () => () => {},
  } as unknown as TaskRuntime;
  const feed = {
    subscribe: async () => () => {},
    tasksOf: async () => [task],
  } as unknown as NodeTaskFeed;
  const logged: string[] = [];
  const agent = new NodeAgent(
    runtime,
    {} as ClusterStore,
    {} as NodeReports,
    feed,
    "node1",
    (m) => logged.push(m),
    () => "",
  );
  await agent.start();
  await sleep(1000);
  await agent.stop();
  assert.equal(stops, 1, `stopped ${stops} times in 1 s`);
  assert.deepEqual(logged, ["swarm agent: stopping task t1: no space left on device"]);
});
