import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ClusterLoad,
  matchesConstraints,
  type PlacedTask,
  type Placement,
  type PlacementRequest,
  parseConstraints,
  parsePlacementPreference,
  place,
  placeMany,
  type SchedNode,
} from "../../../src/cluster/scheduler/index.js";
import { InvalidArgument } from "../../../src/errors.js";

const GiB = 1024 ** 3;
const CPU = 1e9;

function node(id: string, over: Partial<SchedNode> = {}): SchedNode {
  return {
    id,
    hostname: `host-${id}`,
    role: "worker",
    availability: "active",
    ready: true,
    labels: {},
    engineLabels: {},
    platform: { os: "linux", architecture: "x86_64" },
    resources: { nanoCpus: 4 * CPU, memoryBytes: 8 * GiB },
    ...over,
  };
}

function request(over: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    serviceId: "web",
    constraints: [],
    spreadPreferences: [],
    maxReplicasPerNode: 0,
    reservations: { nanoCpus: 0, memoryBytes: 0 },
    hostPorts: [],
    strategy: "spread",
    ...over,
  };
}

function task(serviceId: string, over: Partial<PlacedTask> = {}): PlacedTask {
  return { serviceId, reservations: { nanoCpus: 0, memoryBytes: 0 }, hostPorts: [], ...over };
}

function loadOf(nodes: SchedNode[], tasks: Record<string, PlacedTask[]> = {}): ClusterLoad {
  return new ClusterLoad(nodes, new Map(Object.entries(tasks)));
}

/** Tasks per node id, from placements. */
function tally(placements: Placement[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of placements) {
    if ("nodeId" in p) counts[p.nodeId] = (counts[p.nodeId] ?? 0) + 1;
  }
  return counts;
}

function matches(n: SchedNode, ...exprs: string[]): boolean {
  return matchesConstraints(n, parseConstraints(exprs));
}

// ---- constraints ----

test("every constraint key matches with == and !=", () => {
  const n = node("abc123", {
    hostname: "Node-1",
    role: "manager",
    labels: { zone: "east" },
    engineLabels: { operatingsystem: "ubuntu-22.04" },
    platform: { os: "linux", architecture: "aarch64" },
  });
  const cases: [string, string, string][] = [
    ["node.id", "abc123", "other"],
    ["node.hostname", "node-1", "node-2"],
    ["node.role", "manager", "worker"],
    ["node.platform.os", "linux", "windows"],
    ["node.platform.arch", "aarch64", "x86_64"],
    ["node.labels.zone", "east", "west"],
    ["engine.labels.operatingsystem", "ubuntu-22.04", "ubuntu-20.04"],
  ];
  for (const [key, yes, no] of cases) {
    assert.ok(matches(n, `${key}==${yes}`), `${key}==${yes}`);
    assert.ok(!matches(n, `${key}==${no}`), `${key}==${no}`);
    assert.ok(matches(n, `${key}!=${no}`), `${key}!=${no}`);
    assert.ok(!matches(n, `${key}!=${yes}`), `${key}!=${yes}`);
  }
});

test("spaces around the operator are allowed and the key's prefix ignores case", () => {
  const n = node("a", { role: "manager", labels: { zone: "east" } });
  assert.ok(matches(n, " node.role == manager "));
  assert.ok(matches(n, "NODE.ROLE==manager", "Node.Labels.zone != west"));
  const [c] = parseConstraints(["node.labels.zone == east"]);
  assert.deepEqual(c, {
    expr: "node.labels.zone == east",
    field: "node.labels",
    label: "zone",
    op: "==",
    value: "east",
  });
});

test("values compare without regard to case, label names with it (as swarmkit)", () => {
  const n = node("a", { hostname: "web-01", labels: { Zone: "East" } });
  assert.ok(matches(n, "node.hostname==WEB-01"));
  assert.ok(matches(n, "node.labels.Zone==east"));
  assert.ok(!matches(n, "node.labels.zone==east"), "the label's name is case-sensitive");
});

test("!= matches a missing label and == does not", () => {
  const n = node("a");
  assert.ok(matches(n, "node.labels.zone!=east"));
  assert.ok(!matches(n, "node.labels.zone==east"));
  assert.ok(matches(n, "engine.labels.storage!=ssd"));
  assert.ok(!matches(n, "engine.labels.storage==ssd"));
});

test("all constraints must hold", () => {
  const n = node("a", { role: "worker", labels: { zone: "east" } });
  assert.ok(matches(n, "node.role==worker", "node.labels.zone==east"));
  assert.ok(!matches(n, "node.role==worker", "node.labels.zone==west"));
  assert.ok(matches(n));
});

test("a bad constraint is an InvalidArgument naming the expression", () => {
  const bad: [string, RegExp][] = [
    ["node.foo==x", /^invalid constraint: "node\.foo==x": unknown key node\.foo$/],
    ["node.labels==x", /unknown key node\.labels$/],
    ["node.role", /"node\.role": expected an operator, == or !=$/],
    ["node.role=manager", /"node\.role=manager": expected an operator/],
    ["node.labels.zone==", /"node\.labels\.zone==": missing value$/],
    ["node.labels.zone!=  ", /missing value$/],
    ["==x", /"==x": missing key$/],
    ["no de==x", /invalid key "no de"/],
    ["node.role==a!=b", /invalid value "a!=b"/],
    ["", /expected an operator/],
  ];
  for (const [expr, message] of bad) {
    assert.throws(
      () => parseConstraints(["node.role==worker", expr]),
      (err: unknown) => err instanceof InvalidArgument && message.test(err.message),
      expr,
    );
  }
});

test("a placement preference spreads over a node or engine label", () => {
  assert.equal(parsePlacementPreference("spread=node.labels.zone"), "node.labels.zone");
  assert.equal(parsePlacementPreference("spread = engine.labels.rack"), "engine.labels.rack");
  assert.throws(() => parsePlacementPreference("spread=node.hostname"), InvalidArgument);
  assert.throws(() => parsePlacementPreference("pack=node.labels.zone"), InvalidArgument);
});

// ---- filters ----

test("drained, paused and down nodes take no new tasks", () => {
  const load = loadOf([
    node("a", { availability: "drain" }),
    node("b", { availability: "pause" }),
    node("c", { ready: false }),
    node("d"),
  ]);
  assert.deepEqual(tally(placeMany(request(), 3, load)), { d: 3 });

  const none = loadOf([node("a", { availability: "drain" }), node("b", { ready: false })]);
  assert.deepEqual(place(request(), none), {
    reason: "no suitable node (2 nodes not available for new tasks)",
  });
});

test("constraints filter nodes, and say so when none is left", () => {
  const load = loadOf([node("a", { labels: { disk: "ssd" } }), node("b"), node("c")]);
  const req = request({ constraints: parseConstraints(["node.labels.disk==ssd"]) });
  assert.deepEqual(tally(placeMany(req, 2, load)), { a: 2 });
  const strict = request({ constraints: parseConstraints(["node.labels.disk==nvme"]) });
  assert.deepEqual(place(strict, load), {
    reason: "no suitable node (scheduling constraints not satisfied on 3 nodes)",
  });
});

test("an empty cluster has no suitable node", () => {
  assert.deepEqual(place(request(), loadOf([])), { reason: "no suitable node" });
  assert.deepEqual(placeMany(request(), 2, loadOf([])), [
    { reason: "no suitable node" },
    { reason: "no suitable node" },
  ]);
});

test("reservations must fit what is left, and the reason names the short resource", () => {
  const nodes = [node("a"), node("b"), node("c")];
  const memory = request({ reservations: { nanoCpus: 0, memoryBytes: 9 * GiB } });
  assert.deepEqual(place(memory, loadOf(nodes)), {
    reason: "no suitable node (insufficient memory on 3 nodes)",
  });
  const cpu = request({ reservations: { nanoCpus: 5 * CPU, memoryBytes: 0 } });
  assert.deepEqual(place(cpu, loadOf(nodes)), { reason: "no suitable node (insufficient CPU on 3 nodes)" });
  const both = request({ reservations: { nanoCpus: 5 * CPU, memoryBytes: 9 * GiB } });
  assert.deepEqual(place(both, loadOf(nodes)), {
    reason: "no suitable node (insufficient resources on 3 nodes)",
  });

  // Tasks already there count: 6 GiB of 8 used leaves room for 2 GiB, not 3.
  const busy = loadOf(nodes, {
    a: [task("db", { reservations: { nanoCpus: 0, memoryBytes: 6 * GiB } })],
  });
  const three = request({ reservations: { nanoCpus: 0, memoryBytes: 3 * GiB } });
  const placements = placeMany(three, 5, busy);
  assert.deepEqual(tally(placements), { b: 2, c: 2 });
  assert.deepEqual(placements[4], { reason: "no suitable node (insufficient memory on 3 nodes)" });
});

test("without reservations a node is never full", () => {
  const load = loadOf([node("a", { resources: { nanoCpus: 0, memoryBytes: 0 } })]);
  assert.deepEqual(tally(placeMany(request(), 50, load)), { a: 50 });
});

test("reasons are counted per node by the first filter that rejects it, most frequent first", () => {
  const load = loadOf([
    node("a", { availability: "drain" }),
    node("b", { resources: { nanoCpus: 4 * CPU, memoryBytes: GiB } }),
    node("c", { resources: { nanoCpus: 4 * CPU, memoryBytes: GiB } }),
    // Fails the constraint and memory: only the constraint, checked first, is counted.
    node("d", { role: "manager", resources: { nanoCpus: 4 * CPU, memoryBytes: GiB } }),
  ]);
  const req = request({
    constraints: parseConstraints(["node.role==worker"]),
    reservations: { nanoCpus: 0, memoryBytes: 2 * GiB },
  });
  assert.deepEqual(place(req, load), {
    reason:
      "no suitable node (insufficient memory on 2 nodes; 1 node not available for new tasks; " +
      "scheduling constraints not satisfied on 1 node)",
  });
});

test("a host-mode port is used once per node", () => {
  const load = loadOf([node("a"), node("b"), node("c")], { c: [task("proxy", { hostPorts: [80] })] });
  const req = request({ hostPorts: [80, 443] });
  const placements = placeMany(req, 3, load);
  assert.deepEqual(tally(placements), { a: 1, b: 1 });
  assert.deepEqual(placements[2], { reason: "no suitable node (host-mode port already in use on 3 nodes)" });
});

test("max replicas per node caps this service's tasks on each node", () => {
  const load = loadOf([node("a"), node("b"), node("c")], { a: [task("web"), task("other"), task("other")] });
  const req = request({ maxReplicasPerNode: 2 });
  const placements = placeMany(req, 6, load);
  assert.deepEqual(tally(placements), { a: 1, b: 2, c: 2 });
  assert.deepEqual(placements[5], { reason: "no suitable node (max replicas per node limit exceed)" });
});

test("max replicas per node counts nodes only in its reason", () => {
  const load = loadOf([node("a", { ready: false }), node("b")], { b: [task("web")] });
  assert.deepEqual(place(request({ maxReplicasPerNode: 1 }), load), {
    reason: "no suitable node (1 node not available for new tasks; max replicas per node limit exceed)",
  });
});

// ---- strategies ----

test("spread puts 6 tasks on 3 nodes as 2-2-2", () => {
  const load = loadOf([node("a"), node("b"), node("c")]);
  assert.deepEqual(tally(placeMany(request(), 6, load)), { a: 2, b: 2, c: 2 });
  assert.equal(load.get("a")!.tasksByService.get("web"), 2);
});

test("spread counts this service's tasks first, then all tasks, then the node id", () => {
  const load = loadOf([node("a"), node("b"), node("c")], {
    a: [task("web")],
    b: [task("db"), task("db")],
  });
  // c has no task at all; b has no web task but two others; a and c then tie and a's id wins.
  const placements = placeMany(request(), 3, load);
  assert.deepEqual(
    placements.map((p) => ("nodeId" in p ? p.nodeId : p.reason)),
    ["c", "b", "a"],
  );
});

test("place leaves the load as it is", () => {
  const load = loadOf([node("a"), node("b")]);
  assert.deepEqual(place(request(), load), { nodeId: "a" });
  assert.deepEqual(place(request(), load), { nodeId: "a" });
  assert.equal(load.get("a")!.tasks, 0);
});

test("binpack by memory fills one node, then the next", () => {
  const nodes = [node("a"), node("b"), node("c")];
  const req = request({ strategy: "binpack", reservations: { nanoCpus: 0, memoryBytes: 2 * GiB } });
  const placements = placeMany(req, 6, loadOf(nodes));
  assert.deepEqual(
    placements.map((p) => ("nodeId" in p ? p.nodeId : p.reason)),
    ["a", "a", "a", "a", "b", "b"],
  );
});

test("binpack picks the node whose memory is fullest relative to its size", () => {
  const load = loadOf([node("a"), node("b", { resources: { nanoCpus: 4 * CPU, memoryBytes: 4 * GiB } })], {
    a: [task("db", { reservations: { nanoCpus: 0, memoryBytes: 3 * GiB } })],
    b: [task("db", { reservations: { nanoCpus: 0, memoryBytes: 2 * GiB } })],
  });
  const req = request({ strategy: "binpack", reservations: { nanoCpus: 0, memoryBytes: GiB } });
  // b is half full, a three eighths: b first until it cannot fit, then a.
  const placements = placeMany(req, 4, load);
  assert.deepEqual(
    placements.map((p) => ("nodeId" in p ? p.nodeId : p.reason)),
    ["b", "b", "a", "a"],
  );
});

test("random indexes the passing nodes with the given rng", () => {
  const load = loadOf([node("a"), node("b", { availability: "drain" }), node("c"), node("d")]);
  const draws = [0, 0.99, 0.5, 0.34];
  const rng = () => draws.shift()!;
  const placements = placeMany(request({ strategy: "random" }), 4, load, rng);
  assert.deepEqual(
    placements.map((p) => ("nodeId" in p ? p.nodeId : p.reason)),
    ["a", "d", "c", "c"],
  );
  assert.deepEqual(
    place(request({ strategy: "random" }), load, () => 0.7),
    { nodeId: "d" },
  );
});

// ---- placement preferences ----

test("a spread preference balances over the label's values, then over nodes within each", () => {
  const load = loadOf([
    node("a1", { labels: { zone: "a" } }),
    node("a2", { labels: { zone: "a" } }),
    node("b1", { labels: { zone: "b" } }),
    node("x"), // no zone: a group of its own
  ]);
  const req = request({ spreadPreferences: ["node.labels.zone"] });
  assert.deepEqual(tally(placeMany(req, 9, load)), { a1: 2, a2: 1, b1: 3, x: 3 });
});

test("a spread preference counts the tasks already in each group", () => {
  const load = loadOf(
    [
      node("a1", { labels: { zone: "a" } }),
      node("b1", { labels: { zone: "b" } }),
      node("b2", { labels: { zone: "b" } }),
    ],
    { b1: [task("web"), task("web")], b2: [task("web")] },
  );
  const req = request({ spreadPreferences: ["node.labels.zone"] });
  // Zone b already has 3: zone a catches up first, and the tie after that goes to the lower value.
  assert.deepEqual(tally(placeMany(req, 5, load)), { a1: 4, b2: 1 });
});

test("a group whose nodes cannot take the task is passed over", () => {
  const load = loadOf([
    node("a1", { labels: { zone: "a" }, availability: "drain" }),
    node("b1", { labels: { zone: "b" } }),
    node("b2", { labels: { zone: "b" } }),
  ]);
  const req = request({ spreadPreferences: ["node.labels.zone"] });
  assert.deepEqual(tally(placeMany(req, 4, load)), { b1: 2, b2: 2 });
});

test("nested spread preferences balance level by level", () => {
  const nodes: SchedNode[] = [];
  for (const dc of ["east", "west"]) {
    for (const rack of ["r1", "r2"]) nodes.push(node(`${dc}-${rack}`, { labels: { dc, rack } }));
  }
  nodes.push(node("east-r1-bis", { labels: { dc: "east", rack: "r1" } }));
  const req = request({ spreadPreferences: ["node.labels.dc", "node.labels.rack"] });
  assert.deepEqual(tally(placeMany(req, 8, loadOf(nodes))), {
    "east-r1": 1,
    "east-r1-bis": 1,
    "east-r2": 2,
    "west-r1": 2,
    "west-r2": 2,
  });
});

// ---- scale ----

test("spread places 30,000 tasks on 1,000 nodes evenly", () => {
  const nodes: SchedNode[] = [];
  for (let i = 0; i < 1000; i++) nodes.push(node(`node-${String(i).padStart(4, "0")}`));
  // Some load already there, of this and other services, to make the ranking work.
  const tasks = new Map<string, PlacedTask[]>();
  for (let i = 0; i < 1000; i += 7) tasks.set(nodes[i]!.id, [task("web"), task("other")]);
  const load = new ClusterLoad(nodes, tasks);

  const started = performance.now();
  const placements = placeMany(request(), 30_000, load);
  const ms = performance.now() - started;
  console.log(`placed 30,000 tasks on 1,000 nodes in ${ms.toFixed(0)} ms`);

  assert.ok(placements.every((p) => "nodeId" in p));
  const counts = [...load.nodes()].map((n) => n.tasksByService.get("web") ?? 0);
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${Math.min(...counts)}..${Math.max(...counts)}`);
});
