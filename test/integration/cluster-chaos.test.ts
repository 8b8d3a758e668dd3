/**
 * Chaos (issue 16, "Faults"): five nodes of the cluster fixture (test/helpers/cluster.ts) — three
 * managers, each an etcd member, and two workers, the last on a small disk of its own — run a
 * replicated service and a global one on an overlay while faults strike at moments drawn from a
 * seeded RNG: a worker's daemon and its monitors killed (then started again), a node's link cut,
 * the leader manager killed (then started again), an etcd member killed, a daemon restarted in
 * the middle of a rolling update, a node's disk filled (and a service pinned to it started
 * there). Service operations (scale, env update, create, rm) race with them, each logged with
 * whether the cluster acknowledged it.
 *
 * Checked from outside, through a live manager's API and each node's containers: after every
 * fault the desired replicas run again within RECOVERY_MS, one global task per node; no slot or
 * node ever runs a task twice once the cluster is whole (duplicates while a fault lasts are
 * counted and printed); no address is given twice on the overlay (tasks and VIPs); the final
 * state is the last acknowledged one for every service and setting. Each fault's detection time
 * (fault → the cluster marks the node down, elects a leader, restarts the member, fails the
 * task) and recovery time (fault → everything desired runs again) is printed as a table and as
 * one JSON line ("# chaos-figures {...}").
 *
 * BERTH_CHAOS_SEED=N replays a run (the seed is printed); BERTH_CHAOS_FAULTS=N strikes N faults
 * (default: one of each kind, in an order the seed draws; more than six draws kinds at random);
 * BERTH_CHAOS_CUT_SECONDS sets how long a link stays cut (default 20, the issue's figure).
 */
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { ServiceRecord } from "../../src/cluster/types.js";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok, type Result } from "../helpers/daemon.js";
import {
  type ClusterView,
  ClusterWatch,
  containersOf,
  cutLinkFor,
  DETECTION_MS,
  type Detection,
  hostOf,
  isGlobal,
  killLeader,
  killWithMonitors,
  replicasOf,
  restartDaemon,
  runningTasks,
  serviceNamed,
} from "../helpers/faults.js";
import { sleep, until } from "../helpers/wait.js";

const FAULT_KINDS = [
  "worker-kill",
  "link-cut",
  "leader-kill",
  "etcd-kill",
  "restart-mid-update",
  "disk-full",
] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

function envInt(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name}=${raw}: expected an integer from ${min} to ${max}`);
  return n;
}

const SEED = envInt("BERTH_CHAOS_SEED", randomInt(2 ** 31), 0, 2 ** 31 - 1);
const FAULTS = envInt("BERTH_CHAOS_FAULTS", FAULT_KINDS.length, 1, 500);
const CUT_MS = envInt("BERTH_CHAOS_CUT_SECONDS", 20, 1, 600) * 1000;
/** From a fault to everything desired running again, at most. */
const RECOVERY_MS = 120_000;

/** mulberry32: a small seeded generator, so that a failing run can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = seeded(SEED);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const between = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

const cluster = new TestCluster(5);
const managers = [cluster.node(1), cluster.node(2), cluster.node(3)];
const workers = [cluster.node(4), cluster.node(5)];
/** The worker whose root is a small tmpfs of its own: the disk the test fills. */
const smallDisk = cluster.node(5);
const NETWORK = "chaosnet";
const WEB = "web";
const GLOBAL = "everywhere";
/** The cluster as its managers report it; the nodes the test has cut off are not asked anything. */
const watch = new ClusterWatch(cluster.nodes, managers, { diagnose: () => diagnosis() });
const reachable = (n: ClusterNode) => watch.reachable(n);
const clusterView = () => watch.view();

// ---- the log of operations, and what the final state must be

interface Operation {
  key: string;
  value: string;
  acknowledged: boolean;
  at: number;
  detail: string;
}
const operations: Operation[] = [];
/** What each key was before any operation. */
const initial = new Map<string, string>();

/**
 * The values a key may have now: the last acknowledged one (or its initial value), or one an
 * unacknowledged later attempt may have set all the same (a timeout does not say it failed).
 */
function allowed(key: string): string[] {
  const ops = operations.filter((o) => o.key === key);
  const lastAck = ops.findLastIndex((o) => o.acknowledged);
  const base = lastAck >= 0 ? ops[lastAck]!.value : (initial.get(key) ?? "absent");
  return [base, ...ops.slice(lastAck + 1).map((o) => o.value)];
}

const envOf = (s: ServiceRecord) =>
  (s.Spec.TaskTemplate.ContainerSpec.Env ?? []).find((e) => e.startsWith("CHAOS_GEN="))?.slice(10) ?? "";

/** The value the cluster holds for a ledger key. */
function actual(v: ClusterView, key: string): string {
  const [what, name] = key.split(":") as [string, string];
  const s = serviceNamed(v, name);
  if (what === "service") return s ? "present" : "absent";
  if (!s) return "absent";
  if (what === "replicas") return String(replicasOf(s));
  return envOf(s);
}

let generation = 0;
let temporaries = 0;

/** Runs a docker command on a reachable manager and logs what it asked with whether it was acknowledged. */
async function operate(key: string, value: string, args: string[]): Promise<Result> {
  const via = pick(managers.filter(reachable));
  const at = Date.now();
  const r = via
    ? await via.dockerAsync(args, { timeout: 30_000 })
    : { status: -1, stdout: "", stderr: "no reachable manager" };
  operations.push({
    key,
    value,
    acknowledged: r.status === 0,
    at,
    detail: `${via?.name ?? "-"} docker ${args.join(" ")} -> ${r.status === 0 ? "ok" : `exit ${r.status}: ${r.stderr.trim().split("\n").pop()}`}`,
  });
  return r;
}

const updateEnv = (extra: string[] = []) => {
  const g = String(++generation);
  return operate(`env:${WEB}`, g, [
    "service",
    "update",
    "--detach",
    ...extra,
    "--env-add",
    `CHAOS_GEN=${g}`,
    WEB,
  ]);
};

/** One operation drawn at random: scale, env update, or a small service created or removed. */
async function randomOperation(): Promise<void> {
  const present = [
    ...new Set(operations.filter((o) => o.key.startsWith("service:tmp")).map((o) => o.key)),
  ].filter((k) => allowed(k).every((x) => x === "present"));
  const choice = pick(["scale", "scale", "env", "create", "remove"] as const);
  if (choice === "scale") {
    const n = String(between(2, 7));
    await operate(`replicas:${WEB}`, n, ["service", "scale", "--detach", `${WEB}=${n}`]);
  } else if (choice === "env") await updateEnv();
  else if (choice === "create" && present.length < 2) {
    const name = `tmp${++temporaries}`;
    await operate(`service:${name}`, "present", [
      "service",
      "create",
      "--detach",
      "--name",
      name,
      "--stop-grace-period",
      "1s",
      "busybox",
      "sleep",
      "100000",
    ]);
  } else if (present.length) {
    const key = pick(present);
    await operate(key, "absent", ["service", "rm", key.slice("service:".length)]);
  }
}

// ---- convergence, duplicates, addresses

/** What each node says of its own membership, the services' tasks and the operations: for a failure. */
function diagnosis(): string {
  const via = managers.find(reachable);
  const states = cluster.nodes.map(
    (n) =>
      `${n.name}: ${n.pid === undefined ? "no daemon" : n.docker(["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.Error}}"], { timeout: 10_000 }).stdout.trim()}`,
  );
  const services = via?.docker(["service", "ls"], { timeout: 10_000 }).stdout ?? "";
  const tasks = via?.docker(["service", "ps", "--no-trunc", WEB, GLOBAL], { timeout: 10_000 }).stdout ?? "";
  return [...states, services, tasks, ...operations.map((o) => o.detail)].join("\n");
}

/** Resolves once the cluster is whole and as desired; fails with what was still wrong after `ms`. */
const converged = (what: string, ms = RECOVERY_MS) => watch.converged(what, ms);

interface Duplicate {
  at: number;
  whole: boolean;
  what: string;
}
const duplicates: Duplicate[] = [];
/** Whether the cluster is whole: no fault in progress since the last convergence. */
let whole = false;

/** Two running tasks for one slot (or one node, global): a duplicate, whatever the desired count. */
function duplicatesIn(v: ClusterView): string[] {
  const found: string[] = [];
  for (const s of v.services) {
    const global = isGlobal(s);
    const seen = new Map<string, number>();
    for (const t of runningTasks(v, s)) {
      const place = global ? hostOf(v, t.NodeID) : `slot ${t.Slot}`;
      seen.set(place, (seen.get(place) ?? 0) + 1);
    }
    for (const [place, n] of seen) if (n > 1) found.push(`${s.Spec.Name} ${place} runs ${n}`);
    // More than asked, long enough after the last change of the spec for the leader to act on it.
    const settled = Date.now() - Date.parse(s.UpdatedAt) > 10_000;
    const desired = global ? cluster.size : replicasOf(s);
    if (settled && runningTasks(v, s).length > desired)
      found.push(`${s.Spec.Name}: ${runningTasks(v, s).length} running of ${desired}`);
  }
  return found;
}

/** Polls the tasks every second for duplicates while the test runs. */
function watchDuplicates(): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const wasWhole = whole;
      const v = await clusterView().catch(() => undefined);
      if (v && wasWhole === whole)
        for (const what of duplicatesIn(v)) duplicates.push({ at: Date.now(), whole: wasWhole, what });
      await sleep(1000);
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/** No address on the overlay held twice: every running container's, and the services' VIPs. */
async function assertAddressesUnique(): Promise<void> {
  const v = await clusterView();
  const held: string[] = [];
  for (const name of [WEB, GLOBAL]) {
    for (const n of cluster.nodes)
      for (const c of await containersOf(n, name, NETWORK)) {
        assert.ok(c.ip, `${name} container ${c.id.slice(0, 12)} on ${n.name} has an address on ${NETWORK}`);
        held.push(`${c.ip} (${name} on ${n.name})`);
      }
    for (const vip of serviceNamed(v, name)?.Endpoint.VirtualIPs ?? [])
      held.push(`${vip.Addr.split("/")[0]} (${name} VIP)`);
  }
  const ips = held.map((h) => h.split(" ")[0]);
  assert.equal(new Set(ips).size, ips.length, `an address given twice: ${held.join(", ")}`);
}

/** Every logged key holds the last acknowledged value (or one an unacknowledged later attempt set). */
async function assertOperationsReflected(): Promise<void> {
  const v = await clusterView();
  for (const key of new Set(operations.map((o) => o.key).filter((k) => k.includes(":")))) {
    const have = actual(v, key);
    assert.ok(
      allowed(key).includes(have),
      `${key} is ${have}, expected one of ${allowed(key).join("/")}:\n${operations
        .filter((o) => o.key === key)
        .map((o) => o.detail)
        .join("\n")}`,
    );
  }
}

// ---- faults

interface FaultRecord {
  kind: FaultKind;
  target: string;
  /** ms from the fault to the cluster's noticing it (what it notices: `detected`). */
  detectionMs: number;
  detected: string;
  /** ms from the fault to everything desired running again. */
  recoveryMs: number;
}
const figures: FaultRecord[] = [];

async function strike(kind: FaultKind): Promise<Omit<FaultRecord, "recoveryMs">> {
  const record = (d: Detection) => ({
    kind,
    target: d.target.name,
    detectionMs: d.detectionMs,
    detected: d.detected,
  });
  switch (kind) {
    case "worker-kill": {
      const d = await killWithMonitors(watch, pick(workers));
      await d.target.start();
      return record(d);
    }
    case "link-cut":
      return record(await cutLinkFor(watch, pick(cluster.nodes), CUT_MS));
    case "leader-kill": {
      const d = await killLeader(watch);
      await d.target.start();
      return record(d);
    }
    case "etcd-kill": {
      const m = pick(managers);
      const member = m.etcd();
      assert.ok(member, `${m.name} runs an etcd member`);
      const t0 = Date.now();
      process.kill(member.pid, "SIGKILL");
      await until(
        `${m.name}'s member started again`,
        () => (m.etcd()?.pid ?? member.pid) !== member.pid,
        DETECTION_MS,
      );
      return { kind, target: m.name, detectionMs: Date.now() - t0, detected: "member restarted" };
    }
    case "restart-mid-update": {
      const r = await updateEnv(["--update-parallelism", "1", "--update-delay", "1s"]);
      ok(r, "the rolling update");
      // Mid-update: some tasks of the new spec run, not all.
      await until(
        "the update under way",
        async () => {
          const v = await clusterView().catch(() => undefined);
          const s = v && serviceNamed(v, WEB);
          return !!s && runningTasks(v, s).some((t) => t.SpecVersion === s.SpecVersion);
        },
        30_000,
      );
      return record(await restartDaemon(watch, pick(cluster.nodes)));
    }
    case "disk-full": {
      const t0 = Date.now();
      smallDisk.fillDisk();
      // Kept full: the daemon frees space now and then (a removed task's container and log).
      const refill = setInterval(() => smallDisk.fillDisk(), 500);
      // A task to start there that frees nothing as it starts: a service of its own, pinned to
      // the node. (A forced update of the global service trims its slot's history, and the
      // container removed with it gives back the space the new task then takes, and runs in.)
      const probe = `full${++probes}`;
      try {
        ok(
          await operate(`service:${probe}`, "present", [
            "service",
            "create",
            "--detach",
            // The CLI asks a registry for the image's digest first: none answers here, and its
            // wait (about 5 s) would count as the fault's detection time.
            "--no-resolve-image",
            "--name",
            probe,
            "--constraint",
            `node.hostname==${smallDisk.name}`,
            "--stop-grace-period",
            "1s",
            "busybox",
            "sleep",
            "100000",
          ]),
          "a service pinned to the full disk",
        );
        return { kind, target: smallDisk.name, ...(await probeFailure(probe, t0)) };
      } finally {
        clearInterval(refill);
        await operate(`service:${probe}`, "absent", ["service", "rm", probe]);
        smallDisk.emptyDisk();
      }
    }
  }
}

let probes = 0;

/**
 * Waits for the probe service's task to fail on the full disk. Space another operation frees
 * there (a task of a removed service, a trimmed history) may let it start all the same: then the
 * disk is filled again and the probe forced to a new task, at most twice.
 */
async function probeFailure(probe: string, t0: number): Promise<{ detectionMs: number; detected: string }> {
  let since = t0;
  for (let attempt = 1; ; attempt++) {
    const probeTasks = (v: ClusterView, states: string[]) => {
      const id = serviceNamed(v, probe)?.ID;
      return v.tasks.some(
        (t) =>
          t.ServiceID === id && states.includes(t.Status.State) && Date.parse(t.Status.Timestamp) >= since,
      );
    };
    const seen = { running: false };
    await watch.until(
      `a task failing on ${smallDisk.name}`,
      (v) => {
        if (probeTasks(v, ["failed", "rejected"])) return true;
        seen.running = attempt < 3 && probeTasks(v, ["running"]);
        return seen.running;
      },
      Math.max(5_000, DETECTION_MS - (Date.now() - t0)),
    );
    if (!seen.running) {
      const detectionMs = Date.now() - since;
      await sleep(2000);
      return { detectionMs, detected: attempt > 1 ? `task failed (start ${attempt})` : "task failed" };
    }
    smallDisk.fillDisk();
    since = Date.now();
    ok(
      await operate("force", "-", ["service", "update", "--detach", "--force", probe]),
      "update --force of the probe",
    );
  }
}

// ---- the run

let stopWatching: (() => Promise<void>) | undefined;

before(async () => {
  process.stderr.write(
    `# chaos seed ${SEED} (replay: BERTH_CHAOS_SEED=${SEED}), ${FAULTS} faults, links cut for ${CUT_MS / 1000} s\n`,
  );
  await cluster.start([], (node) => {
    if (node === smallDisk) node.confineRoot("96m");
  });
});

after(async () => {
  await stopWatching?.();
  for (const n of watch.cut) n.healLink();
  // BERTH_TEST_LOGS=DIR keeps each daemon's log, to read after a failure.
  const logs = process.env.BERTH_TEST_LOGS;
  if (logs) for (const n of cluster.nodes) writeFileSync(join(logs, `chaos-${n.name}.log`), n.log);
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
  assert.deepEqual(cluster.leftovers, [], "nothing was left for cleanup to kill or remove");
});

test("three managers and two workers run a replicated and a global service on an overlay", async () => {
  const [n1] = managers as [ClusterNode];
  cluster.formSwarm(managers.length);
  ok(n1.docker(["network", "create", "-d", "overlay", NETWORK]));
  const common = ["--detach", "--network", NETWORK, "--stop-grace-period", "1s", "--env", "CHAOS_GEN=0"];
  ok(
    n1.docker([
      "service",
      "create",
      "--name",
      WEB,
      "--replicas",
      "4",
      ...common,
      "busybox",
      "sleep",
      "100000",
    ]),
  );
  ok(
    n1.docker([
      "service",
      "create",
      "--name",
      GLOBAL,
      "--mode",
      "global",
      ...common,
      "busybox",
      "sleep",
      "100000",
    ]),
  );
  initial.set(`replicas:${WEB}`, "4");
  initial.set(`env:${WEB}`, "0");
  await converged("the services running", 90_000);
  await assertAddressesUnique();
  whole = true;
  stopWatching = watchDuplicates();
});

test("faults at random moments: after each the cluster recovers, nothing duplicated, lost or given twice", async () => {
  const plan: FaultKind[] = [...FAULT_KINDS].sort(() => rng() - 0.5);
  while (plan.length < FAULTS) plan.push(pick(FAULT_KINDS));
  plan.length = FAULTS;
  const started = Date.now();
  for (const [i, kind] of plan.entries()) {
    // A random moment, with an operation racing the fault half of the time.
    await randomOperation();
    await sleep(between(500, 4000));
    const racing = rng() < 0.5 ? sleep(between(0, 3000)).then(randomOperation) : Promise.resolve();
    whole = false;
    const t0 = Date.now();
    const fault = await strike(kind);
    await racing;
    await converged(`recovery from ${kind} on ${fault.target}`);
    const record = { ...fault, recoveryMs: Date.now() - t0 };
    figures.push(record);
    whole = true;
    process.stderr.write(
      `# fault ${i + 1}/${plan.length} ${kind} on ${fault.target}: ${fault.detected} after ${fault.detectionMs} ms, recovered after ${record.recoveryMs} ms\n`,
    );
    await assertAddressesUnique();
    await assertOperationsReflected();
  }
  // A last operation with the cluster whole, then the final state.
  await randomOperation();
  await converged("the final state");
  await sleep(3000);
  await stopWatching?.();
  stopWatching = undefined;
  await converged("the final state, still");
  await assertAddressesUnique();
  await assertOperationsReflected();

  const rows = FAULT_KINDS.map((kind) => {
    const of = figures.filter((f) => f.kind === kind);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    return {
      kind,
      count: of.length,
      detectionMs: median(of.map((f) => f.detectionMs)),
      recoveryMs: median(of.map((f) => f.recoveryMs)),
      maxRecoveryMs: Math.max(0, ...of.map((f) => f.recoveryMs)),
    };
  });
  const duringFaults = duplicates.filter((d) => !d.whole);
  process.stderr.write(
    [
      "# fault                count  detection(median)  recovery(median)  recovery(max)",
      ...rows.map(
        (r) =>
          `# ${r.kind.padEnd(20)} ${String(r.count).padStart(5)}  ${`${(r.detectionMs / 1000).toFixed(1)} s`.padStart(17)}  ${`${(r.recoveryMs / 1000).toFixed(1)} s`.padStart(16)}  ${`${(r.maxRecoveryMs / 1000).toFixed(1)} s`.padStart(13)}`,
      ),
      `# duplicates seen while a fault lasted: ${duringFaults.length}; acknowledged operations: ${operations.filter((o) => o.acknowledged).length} of ${operations.length}; ${((Date.now() - started) / 1000).toFixed(0)} s of chaos`,
      `# chaos-figures ${JSON.stringify({ seed: SEED, faults: figures, byKind: rows, duplicatesDuringFaults: duringFaults.length, operations: operations.length })}`,
      "",
    ].join("\n"),
  );
  assert.deepEqual(
    duplicates.filter((d) => d.whole),
    [],
    "never a task twice, nor more than desired, once the cluster is whole",
  );
});
