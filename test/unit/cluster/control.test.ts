import assert from "node:assert/strict";
import { test } from "node:test";
import { checkNodeSpec, checkServiceSpec, filterTasks, withDefaults } from "../../../src/cluster/control.js";
import { prefixEnd } from "../../../src/cluster/etcd.js";
import { placementRequest } from "../../../src/cluster/leader.js";
import { leftovers, release } from "../../../src/cluster/secrets.js";
import type { ServiceRecord, TaskRecord } from "../../../src/cluster/types.js";
import { InvalidArgument } from "../../../src/errors.js";

const spec = (extra: object = {}) => ({
  Name: "web",
  TaskTemplate: { ContainerSpec: { Image: "busybox" } },
  ...extra,
});

test("a service spec keeps what was given, with docker's defaults only where inspect --insertDefaults asks", () => {
  const s = checkServiceSpec(spec());
  assert.deepEqual(s.Mode, { Replicated: { Replicas: 1 } });
  assert.equal(s.UpdateConfig, undefined);
  assert.equal(withDefaults(s).UpdateConfig?.Parallelism, 1);
  assert.equal(withDefaults(s).RollbackConfig?.Order, "stop-first");
  assert.equal(
    withDefaults(checkServiceSpec(spec({ UpdateConfig: { Order: "start-first" } }))).UpdateConfig?.Order,
    "start-first",
  );
  // Mode keys in any case, as Go decodes them (docker-py sends "global", "replicated").
  assert.deepEqual(checkServiceSpec(spec({ Mode: { global: {} } })).Mode, { Global: {} });
  assert.deepEqual(checkServiceSpec(spec({ Mode: { replicated: { replicas: 5 } } })).Mode, {
    Replicated: { Replicas: 5 },
  });
  assert.throws(
    () => checkServiceSpec(spec({ Mode: { sometimes: {} } })),
    /mode is one of Replicated, Global, ReplicatedJob or GlobalJob \(given: sometimes\)/,
  );
  assert.equal(s.EndpointSpec?.Mode, "vip");
  assert.equal(s.TaskTemplate.Runtime, "container");
  assert.match(checkServiceSpec({ TaskTemplate: { ContainerSpec: { Image: "x" } } }).Name, /^[a-z]+-[a-z]+$/);
});

test("bad service specs are refused with the reason", () => {
  const cases: Array<[object, RegExp]> = [
    [{ TaskTemplate: { ContainerSpec: {} } }, /image reference must be provided/],
    [{ Name: "no spaces" }, /valid as a DNS name component/],
    [{ Mode: { Replicated: { Replicas: -1 } } }, /invalid replicas/],
    [
      { Mode: { Replicated: { Replicas: 1 }, Global: {} } },
      /mode is one of .* \(given: Replicated, Global\)/,
    ],
    [
      { TaskTemplate: { ContainerSpec: { Image: "b" }, Placement: { Constraints: ["node.colour==red"] } } },
      /node\.colour/,
    ],
    [
      { TaskTemplate: { ContainerSpec: { Image: "b" }, Placement: { Constraints: ["node.role"] } } },
      /node\.role/,
    ],
    [{ Labels: { "berth.strategy": "fastest" } }, /unknown placement strategy "fastest"/],
    [
      { TaskTemplate: { ContainerSpec: { Image: "b" }, RestartPolicy: { Condition: "sometimes" } } },
      /restart condition/,
    ],
    [{ UpdateConfig: { Order: "sideways" } }, /update order/],
    [
      { TaskTemplate: { ContainerSpec: { Image: "b", Mounts: [{ Type: "bind", Target: "rel" }] } } },
      /invalid mount/,
    ],
  ];
  for (const [extra, message] of cases)
    assert.throws(
      () => checkServiceSpec(spec(extra)),
      (err: Error) => err instanceof InvalidArgument && message.test(err.message),
    );
  assert.throws(() => checkServiceSpec(undefined), InvalidArgument);
});

test("node specs: role and availability are docker's words", () => {
  assert.deepEqual(checkNodeSpec({ Role: "worker", Availability: "drain", Labels: { a: "b" } }), {
    Role: "worker",
    Availability: "drain",
    Labels: { a: "b" },
  });
  assert.throws(() => checkNodeSpec({ Role: "boss" as "worker" }), /invalid role/);
  assert.throws(() => checkNodeSpec({ Availability: "gone" as "drain" }), /invalid availability/);
  assert.throws(() => checkNodeSpec({ Labels: { a: 1 as unknown as string } }), /must be a string/);
});

test("the strategy comes from the service's berth.strategy label, else the cluster's, else spread", () => {
  const service = (labels: Record<string, string>) =>
    ({ ID: "s", Spec: checkServiceSpec(spec({ Labels: labels })) }) as ServiceRecord;
  const strategy = (r: ReturnType<typeof placementRequest>) => ("strategy" in r ? r.strategy : r.reason);
  assert.equal(strategy(placementRequest(service({}))), "spread");
  assert.equal(strategy(placementRequest(service({}), "random")), "random");
  assert.equal(strategy(placementRequest(service({ "berth.strategy": "binpack" }), "random")), "binpack");
});

test("tasks filter as the CLI asks: by service name, desired state, and its private _up-to-date", () => {
  const service = { ID: "s1", Spec: { Name: "web" }, SpecVersion: 2 } as ServiceRecord;
  const task = (id: string, desired: TaskRecord["DesiredState"], version: number) =>
    ({
      ID: id,
      ServiceID: "s1",
      Slot: 1,
      DesiredState: desired,
      SpecVersion: version,
      Labels: {},
    }) as unknown as TaskRecord;
  const tasks = [task("a", "running", 2), task("b", "shutdown", 1)];
  const ids = (f: Record<string, string[]>) => filterTasks(tasks, f, [service], []).map((t) => t.ID);
  assert.deepEqual(ids({ service: ["web"] }), ["a", "b"]);
  assert.deepEqual(ids({ "desired-state": ["running"] }), ["a"]);
  assert.deepEqual(ids({ "_up-to-date": ["true"] }), ["a"]);
  assert.deepEqual(ids({ service: ["other"] }), []);
});

test("a prefix's range end is the key after every key under it", () => {
  assert.equal(prefixEnd("/berth/").toString(), "/berth0");
  assert.deepEqual([...prefixEnd("é")], [0xc3, 0xaa], "bytes of UTF-8, not characters");
});

test("a task's secrets directory is only ever a task id under its root: a label's path is refused", async () => {
  for (const forged of ["../../etc", "/etc", "a/b", ""])
    await assert.rejects(release("/run/berth-test-none", forged), /is not a task id/);
  assert.deepEqual(leftovers("/nonexistent-root", new Set()), []);
});
