/**
 * `npm run bench cluster-chaos`: the chaos test's faults (test/helpers/faults.ts) struck one at a
 * time on Berth's swarm mode and on docker swarm's (dockerd nodes), side by side: each fault's
 * detection time and recovery time, medians over BENCH_CHAOS_ROUNDS rounds (2) whose order
 * alternates as `bench cluster`'s do, and the ratios Berth/docker.
 *
 * Each peer runs five nodes of the cluster fixture on a test LAN (three managers, two workers)
 * and a service of BENCH_CHAOS_REPLICAS (6) busybox `sleep` tasks pulled from a registry on the
 * LAN. The faults, each once per round, the cluster whole again (every node ready, the tasks as
 * desired) before the next:
 *   - worker-kill: the worker running the most tasks loses its daemon and everything the daemon
 *     started in the node, killed -9 (Berth: the daemon and its containers' monitors; dockerd:
 *     dockerd, its containerd and the containerd-shims, the containers' monitors); the
 *     containers' processes are left. Detected: a manager shows the node down. Recovered: the
 *     desired replicas run on the other nodes. Its daemon is then started again.
 *   - link-cut: that worker's link cut for BENCH_CHAOS_CUT_SECONDS (20); same figures.
 *   - leader-kill: the leader manager's daemon killed -9. Detected: another manager is leader.
 *     Recovered: a `service create` of 2 replicas through a surviving manager acknowledged
 *     (retried until it is) and its 2 tasks running.
 *   - restart-mid-update: a rolling env update (parallelism 1, 1 s delay), and once a task of the
 *     new spec runs, a worker's daemon killed -9 and started again. Detected: the node ready
 *     again. Recovered: the update completed, the desired replicas running, all of the new spec.
 * Times count from the fault. The chaos test's etcd-member fault has no counterpart in docker
 * (its raft store is inside dockerd); its disk-full one is not struck here (left out to keep a
 * run short).
 * BENCH_CHAOS_PEERS=berth (or dockerd) measures one peer alone; BENCH_CHAOS_FAULTS=link-cut,...
 * strikes only those.
 */
import { type ClusterNode, type DaemonKind, TestCluster } from "../test/helpers/cluster.js";
import { ok } from "../test/helpers/daemon.js";
import {
  type ClusterView,
  ClusterWatch,
  cutLinkFor,
  type Detection,
  killLeader,
  killWithMonitors,
  nodeNamed,
  restartDaemon,
  runningTasks,
  serviceNamed,
} from "../test/helpers/faults.js";
import { sleep } from "../test/helpers/wait.js";
import { lanRegistry, sleepService } from "./cluster.js";
import { median } from "./harness.js";

const FAULTS = ["worker-kill", "link-cut", "leader-kill", "restart-mid-update"] as const;
type Fault = (typeof FAULTS)[number];
const DETECTED: Record<Fault, string> = {
  "worker-kill": "node down",
  "link-cut": "node down",
  "leader-kill": "new leader",
  "restart-mid-update": "node ready again",
};

/** One fault's figures, or why there are none. */
type Outcome = { detectionMs: number; recoveryMs: number } | { error: string };

const SERVICE = "chaos";
const PROBE = "probe";
/** From a fault to its recovery, at most (the chaos test's bound). */
const RECOVERY_MS = 120_000;
/** The bench looks at the cluster every 100 ms: often enough, without loading either peer. */
const EVERY_MS = 100;

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}

/** A peer's cluster, its service and what a fault needs of it. */
interface Bed {
  cluster: TestCluster;
  managers: ClusterNode[];
  workers: ClusterNode[];
  watch: ClusterWatch;
  /** The daemons' arguments, to start one again. */
  args: string[];
  image: string;
  replicas: number;
}

/** Running tasks of `service`, desired running, on nodes other than `except`. */
function runningElsewhere(v: ClusterView, service: string, except?: ClusterNode): number {
  const s = serviceNamed(v, service);
  const id = except && nodeNamed(v, except)?.ID;
  return s ? runningTasks(v, s).filter((t) => t.NodeID !== id).length : 0;
}

/**
 * The worker that runs the most of the service's tasks; if none runs any (swarm mode does not
 * move tasks back to a node that returns), the service is forced to new tasks, spread again.
 */
async function busiestWorker(bed: Bed): Promise<ClusterNode> {
  const pickOne = async () => {
    const v = await bed.watch.view();
    const s = serviceNamed(v, SERVICE);
    const count = (w: ClusterNode) =>
      s ? runningTasks(v, s).filter((t) => t.NodeID === nodeNamed(v, w)?.ID).length : 0;
    const [best] = [...bed.workers].sort((a, b) => count(b) - count(a));
    return best && count(best) > 0 ? best : undefined;
  };
  const found = await pickOne();
  if (found) return found;
  ok(bed.managers[0]!.docker(["service", "update", "--detach", "--force", SERVICE]));
  await bed.watch.converged("the service forced to new tasks", RECOVERY_MS);
  const again = await pickOne();
  if (!again) throw new Error("no worker runs a task of the service, even after update --force");
  return again;
}

/**
 * Runs `fault` while watching for `recovered` from before it strikes; the figures, counted from
 * the fault's moment.
 */
async function timed(
  bed: Bed,
  recovered: (v: ClusterView) => boolean,
  fault: () => Promise<Detection>,
): Promise<{ detection: Detection; detectionMs: number; recoveryMs: number }> {
  const recovery = bed.watch.until("recovery", recovered, RECOVERY_MS).then(() => Date.now());
  recovery.catch(() => {}); // awaited below, unless the fault fails first
  const detection = await fault();
  const at = await recovery;
  return { detection, detectionMs: detection.detectionMs, recoveryMs: at - detection.at };
}

async function workerKill(bed: Bed): Promise<Outcome> {
  const worker = await busiestWorker(bed);
  const r = await timed(
    bed,
    (v) => runningElsewhere(v, SERVICE, worker) === bed.replicas,
    () => killWithMonitors(bed.watch, worker),
  );
  await worker.start(bed.args);
  return r;
}

async function linkCut(bed: Bed): Promise<Outcome> {
  const worker = await busiestWorker(bed);
  const cutMs = envInt("BENCH_CHAOS_CUT_SECONDS", 20) * 1000;
  return timed(
    bed,
    (v) => runningElsewhere(v, SERVICE, worker) === bed.replicas,
    () => cutLinkFor(bed.watch, worker, cutMs),
  );
}

async function leaderKill(bed: Bed): Promise<Outcome> {
  const detection = await killLeader(bed.watch);
  const via = bed.managers.find((m) => bed.watch.reachable(m));
  if (!via) throw new Error("no manager left to ask");
  const deadline = detection.at + RECOVERY_MS;
  // Refused (no leader yet, or a follower that cannot reach it) until the managers agree again.
  for (;;) {
    const r = await via.dockerAsync(sleepService(PROBE, 2, bed.image), { timeout: 20_000 });
    // An earlier attempt that timed out may have been acknowledged all the same.
    if (r.status === 0 || /already exists|name conflicts/i.test(r.stderr)) break;
    if (Date.now() > deadline)
      throw new Error(`service create refused until the end: ${r.stderr.trim().split("\n").pop()}`);
    await sleep(250);
  }
  await bed.watch.until(
    "the created service's 2 tasks running",
    (v) => runningElsewhere(v, PROBE) === 2,
    Math.max(1, deadline - Date.now()),
  );
  const recoveryMs = Date.now() - detection.at;
  await detection.target.start(bed.args);
  await bed.watch.converged("the old leader back", RECOVERY_MS);
  ok(via.docker(["service", "rm", PROBE]));
  return { detectionMs: detection.detectionMs, recoveryMs };
}

async function restartMidUpdate(bed: Bed): Promise<Outcome> {
  const worker = await busiestWorker(bed);
  const env = `CHAOS_GEN=${Date.now()}`;
  ok(
    bed.managers[0]!.docker([
      "service",
      "update",
      "--detach",
      "--update-parallelism",
      "1",
      "--update-delay",
      "1s",
      "--env-add",
      env,
      SERVICE,
    ]),
  );
  const updated = (v: ClusterView) => {
    const s = serviceNamed(v, SERVICE);
    return s ? runningTasks(v, s).filter((t) => t.Spec.ContainerSpec.Env?.includes(env)) : [];
  };
  await bed.watch.until("the update under way", (v) => updated(v).length > 0, 30_000);
  return timed(
    bed,
    (v) => {
      const state = serviceNamed(v, SERVICE)?.UpdateStatus;
      if (state && state.State !== "updating" && state.State !== "completed")
        throw new Error(`the update is ${state.State}: ${state.Message}`);
      return state?.State === "completed" && updated(v).length === bed.replicas;
    },
    () => restartDaemon(bed.watch, worker, bed.args),
  );
}

/** BENCH_CHAOS_FAULTS=a,b strikes only those (all by default). */
const wanted = process.env["BENCH_CHAOS_FAULTS"]?.split(",") ?? [...FAULTS];

const STRIKE: Record<Fault, (bed: Bed) => Promise<Outcome>> = {
  "worker-kill": workerKill,
  "link-cut": linkCut,
  "leader-kill": leaderKill,
  "restart-mid-update": restartMidUpdate,
};

/** One round of one peer: a cluster built, every fault struck in turn, the cluster removed. */
async function measure(kind: DaemonKind, replicas: number): Promise<Map<Fault, Outcome>> {
  const cluster = new TestCluster(5, { daemon: kind });
  const outcomes = new Map<Fault, Outcome>();
  let registry: Awaited<ReturnType<typeof lanRegistry>> | undefined;
  try {
    cluster.lan.create();
    registry = await lanRegistry(cluster.lan);
    const args = ["--insecure-registry", registry.host];
    await cluster.start(args);
    const managers = [cluster.node(1), cluster.node(2), cluster.node(3)];
    const image = `${registry.host}/busybox:latest`;
    ok(managers[0]!.docker(["tag", "busybox:latest", image]));
    ok(managers[0]!.docker(["push", image]));
    cluster.formSwarm(managers.length);
    const bed: Bed = {
      cluster,
      managers,
      workers: [cluster.node(4), cluster.node(5)],
      watch: new ClusterWatch(cluster.nodes, managers, { every: EVERY_MS }),
      args,
      image,
      replicas,
    };
    ok(managers[0]!.docker(sleepService(SERVICE, replicas, image)));
    await bed.watch.converged(`${replicas} tasks running`, 180_000);
    for (const fault of FAULTS.filter((f) => wanted.includes(f))) {
      try {
        outcomes.set(fault, await STRIKE[fault](bed));
        await bed.watch.converged(`the cluster whole after ${fault}`, RECOVERY_MS);
      } catch (err) {
        const message = (err as Error).message;
        outcomes.set(fault, { error: message.split("\n")[0]! });
        process.stderr.write(`${kind} ${fault}: ${message.split("\n").slice(-30).join("\n")}\n`);
        // The next fault needs a whole cluster: start what is down, heal what is cut.
        for (const n of cluster.nodes) if (n.pid === undefined) await n.start(args).catch(() => {});
        const whole = await bed.watch
          .converged(`the cluster whole after ${fault} failed`, RECOVERY_MS)
          .then(() => true)
          .catch(() => false);
        if (!whole) break;
      }
    }
    for (const n of [...cluster.nodes].reverse())
      if (n.pid !== undefined) n.docker(["swarm", "leave", "--force"], { timeout: 30_000 });
    return outcomes;
  } finally {
    await cluster.cleanup();
    await registry?.stop();
    if (cluster.leftovers.length)
      process.stdout.write(`note: cleanup killed or removed ${cluster.leftovers.join(", ")}\n`);
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function clusterChaosBench(): Promise<void> {
  const rounds = envInt("BENCH_CHAOS_ROUNDS", 2);
  const replicas = envInt("BENCH_CHAOS_REPLICAS", 6);
  process.stdout.write(
    `\n## cluster-chaos: 3 managers + 2 workers on a test LAN, ${replicas} replicas; one fault at a time (medians of ${rounds} round${rounds > 1 ? "s" : ""}, order alternating)\n`,
  );
  const peers = (process.env["BENCH_CHAOS_PEERS"] ?? "dockerd,berth").split(",");
  const kinds = (["dockerd", "berth"] as const).filter((k) => peers.includes(k));
  const results = new Map<DaemonKind, Map<Fault, Outcome>[]>(kinds.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++)
    for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
      const started = Date.now();
      let outcomes: Map<Fault, Outcome>;
      try {
        outcomes = await measure(kind, replicas);
      } catch (err) {
        outcomes = new Map(FAULTS.map((f) => [f, { error: (err as Error).message.split("\n")[0]! }]));
      }
      results.get(kind)!.push(outcomes);
      const line = FAULTS.map((f) => {
        const o = outcomes.get(f);
        if (!o) return `${f} not struck`;
        return "error" in o ? `${f} failed (${o.error})` : `${f} ${o.detectionMs}/${o.recoveryMs} ms`;
      });
      process.stdout.write(
        `round ${round + 1} ${kind} (${seconds(Date.now() - started)}): ${line.join(", ")}\n`,
      );
    }

  const figures = (kind: DaemonKind, fault: Fault) =>
    (results.get(kind) ?? [])
      .map((r) => r.get(fault))
      .filter((o): o is { detectionMs: number; recoveryMs: number } => !!o && !("error" in o));
  const summary = FAULTS.map((fault) => {
    const of = (kind: DaemonKind) => {
      const runs = figures(kind, fault);
      return runs.length
        ? {
            detectionMs: median(runs.map((r) => r.detectionMs)),
            recoveryMs: median(runs.map((r) => r.recoveryMs)),
            runs: runs.length,
          }
        : undefined;
    };
    const berth = of("berth");
    const docker = of("dockerd");
    const ratio = (k: "detectionMs" | "recoveryMs") =>
      berth && docker ? Number((berth[k] / docker[k]).toFixed(2)) : undefined;
    return {
      fault,
      detected: DETECTED[fault],
      berth,
      docker,
      detectionRatio: ratio("detectionMs"),
      recoveryRatio: ratio("recoveryMs"),
    };
  });
  // A peer's figure over fewer rounds than asked (the others failed: see the round's line) says so.
  const cell = (
    f: { detectionMs: number; recoveryMs: number; runs: number } | undefined,
    k: "detectionMs" | "recoveryMs",
  ) => (f ? `${seconds(f[k])}${f.runs < rounds ? ` [${f.runs}/${rounds}]` : ""}` : "—");
  const rows = [
    ["fault", "detected when", "detection berth / docker (×)", "recovery berth / docker (×)"],
    ...summary.map((s) => [
      s.fault,
      s.detected,
      `${cell(s.berth, "detectionMs")} / ${cell(s.docker, "detectionMs")} (${s.detectionRatio ?? "—"})`,
      `${cell(s.berth, "recoveryMs")} / ${cell(s.docker, "recoveryMs")} (${s.recoveryRatio ?? "—"})`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("   ")}\n`);
  const errors = Object.fromEntries(
    [...results].map(([kind, runs]) => [
      kind,
      runs.flatMap((r) =>
        [...r].filter(([, o]) => "error" in o).map(([f, o]) => `${f}: ${(o as { error: string }).error}`),
      ),
    ]),
  );
  process.stdout.write(
    `# cluster-chaos ${JSON.stringify({ rounds, replicas, cutSeconds: envInt("BENCH_CHAOS_CUT_SECONDS", 20), faults: summary, errors })}\n`,
  );
}
