/**
 * `npm run bench cluster-scale`: the swarm control plane under the load of many nodes, as
 * kubemark measures Kubernetes'. One real manager (a Berth daemon on a test LAN, its embedded
 * etcd) and N hollow workers (src/cluster/hollow.ts) in one process; services of
 * BENCH_SERVICE_REPLICAS tasks are created one after another until BENCH_TASKS tasks, and
 * every task's delays are taken where its node sees them: service create → the task assigned on
 * its node, and → reported running. That bulk fill gives placements per second (as the nodes
 * saw them, and as the leader made them: the tasks' creation times); its delays
 * include each task's wait behind all made before it. Then, at full load, the scheduling delay
 * as Swarm's 30,000-container test took it: BENCH_PROBES services of one replica, one every
 * BENCH_PROBE_INTERVAL_MS, each timed alone; and the latency of the calls `docker info`,
 * `docker service ls` and `docker node ls` make (raw API calls, and the docker CLI itself).
 *
 *   BENCH_NODES=100 (hollow nodes)  BENCH_TASKS=30×nodes  BENCH_SERVICE_REPLICAS=100
 *   BENCH_PROBES=100  BENCH_PROBE_INTERVAL_MS=250  BENCH_CLIENTS=1 (clients creating services at once)
 *   BENCH_REAL_WORKER=1 (a real worker beside them)  BENCH_DEADLINE_S=900 (the run's bound)
 *   BENCH_PROFILE_DIR=DIR: Node's --cpu-prof for the manager's daemon and for the hollow nodes'
 *   process (and a real worker's daemon): each writes CPU.<date>.<pid>.….cpuprofile into DIR when
 *   it exits at the end of the run (the bench's own process is not profiled; NODE_OPTIONS
 *   cannot do it, Node refuses --cpu-prof there). A profile spans the whole run, the nodes' joins
 *   included; the bench's phase is its last minute or so. Open one in Chrome's DevTools.
 *
 * The last line printed is one JSON object of the figures.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { LEASE_TTL_SECONDS } from "../src/cluster/swarm.js";
import { type ClusterNode, TestCluster } from "../test/helpers/cluster.js";
import { apiAt, ok } from "../test/helpers/daemon.js";
import { HollowProcess, type HollowReport } from "../test/helpers/hollow.js";
import { hostProcesses } from "../test/helpers/processes.js";
import { sleep } from "../test/helpers/wait.js";

const TICK_MS = 10; // /proc's clock ticks (USER_HZ 100)

interface Usage {
  cpuMs: number;
  rssBytes: number;
}

function usage(pid: number | undefined): Usage {
  if (!pid) return { cpuMs: 0, rssBytes: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return { cpuMs, rssBytes: Number(rss ?? 0) * 1024 };
  } catch {
    return { cpuMs: 0, rssBytes: 0 };
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (v: number) => Math.round(v * 10) / 10;
const mb = (b: number) => Math.round(b / 2 ** 20);

/** p50/p99 of `times` calls of `call`, in ms. */
async function latency(
  times: number,
  call: () => Promise<unknown> | unknown,
): Promise<{ p50: number; p99: number }> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    await call();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)) };
}

async function api(node: ClusterNode, method: string, path: string, body?: object): Promise<unknown> {
  const r = await apiAt(
    node.socket,
    method,
    `/v1.45${path}`,
    body ? JSON.stringify(body) : undefined,
    body ? { "content-type": "application/json" } : {},
  );
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.body.toString().slice(0, 300)}`);
  return r.body.length ? JSON.parse(r.body.toString()) : undefined;
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms: number,
  every = 500,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`);
    await sleep(every);
  }
}

/** Each task's delays from its service's create (`created`: service id → ms), sorted. */
function delays(report: HollowReport, created: Map<string, number>): { assign: number[]; running: number[] } {
  const assign: number[] = [];
  const running: number[] = [];
  for (const [, service, assigned, run] of report.tasks) {
    const at = created.get(service);
    if (at === undefined) continue;
    assign.push(assigned - at);
    if (run) running.push(run - at);
  }
  return { assign: assign.sort((a, b) => a - b), running: running.sort((a, b) => a - b) };
}

/**
 * Where the probes' scheduling delay went, from the records' creation times (the manager's clock,
 * the same machine's): the request until the API made the service; until the leader's pass made
 * its task (the service's write, the watch, any pass before it, the pass itself — a replicated
 * task is made and placed in one pass); until its node saw it (the pass's write, the watch, the
 * hollow nodes' process).
 */
async function probeLegs(manager: ClusterNode, report: HollowReport, sent: Map<string, number>) {
  const services = (await api(manager, "GET", "/services")) as Array<{ ID: string; CreatedAt: string }>;
  const tasks = (await api(manager, "GET", "/tasks")) as Array<{
    ID: string;
    ServiceID: string;
    CreatedAt: string;
  }>;
  const serviceMade = new Map(services.map((s) => [s.ID, Date.parse(s.CreatedAt)]));
  const taskMade = new Map(tasks.map((t) => [t.ID, Date.parse(t.CreatedAt)]));
  const rows: Array<{ total: number; api: number; leader: number; node: number }> = [];
  for (const [task, service, assigned] of report.tasks) {
    const at = sent.get(service);
    const made = serviceMade.get(service);
    const placed = taskMade.get(task);
    if (at === undefined || made === undefined || placed === undefined) continue;
    rows.push({ total: assigned - at, api: made - at, leader: placed - made, node: assigned - placed });
  }
  const leg = (pick: (r: (typeof rows)[number]) => number) => {
    const sorted = rows.map(pick).sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  const slowest = rows
    .sort((a, b) => b.total - a.total)
    .slice(0, 3)
    .map((r) => `${r.total} = ${r.api} + ${r.leader} + ${r.node}`)
    .join(", ");
  return { api: leg((r) => r.api), leader: leg((r) => r.leader), node: leg((r) => r.node), slowest };
}

export async function clusterScaleBench(): Promise<void> {
  const nodes = Number(process.env["BENCH_NODES"] ?? 100);
  const target = Number(process.env["BENCH_TASKS"] ?? nodes * 30);
  const perService = Number(process.env["BENCH_SERVICE_REPLICAS"] ?? 100);
  const realWorker = process.env["BENCH_REAL_WORKER"] === "1";
  const probes = Number(process.env["BENCH_PROBES"] ?? 100);
  const clients = Number(process.env["BENCH_CLIENTS"] ?? 1);
  const probeEveryMs = Number(process.env["BENCH_PROBE_INTERVAL_MS"] ?? 250);
  const deadline = Date.now() + Number(process.env["BENCH_DEADLINE_S"] ?? 900) * 1000;
  for (const [name, v] of Object.entries({ nodes, target, perService, probes, probeEveryMs, clients }))
    if (!Number.isInteger(v) || v < 1) throw new Error(`cluster-scale: ${name} must be a whole number ≥ 1`);
  const left = () => Math.max(1000, deadline - Date.now());
  const say = (m: string) => process.stdout.write(`${m}\n`);
  say(
    `\n## cluster-scale: 1 manager + ${nodes} hollow nodes${realWorker ? " + 1 real worker" : ""}, ${target} tasks in services of ${perService}`,
  );

  const prof = process.env["BENCH_PROFILE_DIR"];
  const profArgs = prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : [];
  const cluster = new TestCluster(realWorker ? 2 : 1, { nodeArgs: profArgs });
  const manager = cluster.node(1);
  let hollow: HollowProcess | undefined;
  try {
    await cluster.start();
    ok(manager.docker(["swarm", "init", "--advertise-addr", manager.address]));
    const token = ok(manager.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
    if (realWorker)
      ok(cluster.node(2).docker(["swarm", "join", "--token", token, `${manager.address}:2377`]));
    const t0 = Date.now();
    hollow = await HollowProcess.start(cluster.lan, manager.address, token, nodes, {
      timings: true,
      nodeArgs: profArgs,
      timeoutMs: left(),
    });
    const allNodes = nodes + 1 + (realWorker ? 1 : 0);
    await waitFor(
      `${allNodes} ready nodes`,
      async () => {
        const list = (await api(manager, "GET", "/nodes")) as Array<{ Status: { State: string } }>;
        return list.filter((n) => n.Status.State === "ready").length >= allNodes ? true : undefined;
      },
      left(),
    );
    say(`${nodes} hollow nodes joined and ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const managerPid = manager.pid;
    const etcdPid = hostProcesses().find((p) => p.ppid === managerPid && p.comm === "etcd")?.pid;
    const storeBefore = (await hollow.report()).store;
    const hollowPid = hollow.pid;
    /** The CPU time each process has used so far, and when. */
    const cpuNow = () => ({
      manager: usage(managerPid).cpuMs,
      etcd: usage(etcdPid).cpuMs,
      hollow: usage(hollowPid).cpuMs,
      at: Date.now(),
    });
    type CpuSample = ReturnType<typeof cpuNow>;
    /** The share of a core (%) each process took between two samples. */
    const cpuShare = (from: CpuSample, to: CpuSample) => {
      const ms = to.at - from.at;
      const pct = (used: number) => round((used / ms) * 100);
      return {
        manager: pct(to.manager - from.manager),
        etcd: pct(to.etcd - from.etcd),
        hollow: pct(to.hollow - from.hollow),
      };
    };
    const cpu0 = cpuNow();
    let peak = { manager: 0, etcd: 0 };
    const sampler = setInterval(() => {
      peak = {
        manager: Math.max(peak.manager, usage(managerPid).rssBytes),
        etcd: Math.max(peak.etcd, usage(etcdPid).rssBytes),
      };
    }, 1000).unref(); // a run that fails must still end

    // Services by `clients` clients at once, each sending its next create as soon as its last
    // one returned.
    const created = new Map<string, number>();
    const sizes: number[] = [];
    for (let made = 0; made < target; made += perService) sizes.push(Math.min(perService, target - made));
    let next = 0;
    const client = async () => {
      for (let i = next++; i < sizes.length; i = next++) {
        const sent = Date.now();
        const r = (await api(manager, "POST", "/services/create", {
          Name: `scale-${i}`,
          TaskTemplate: {
            ContainerSpec: { Image: "busybox:latest", Command: ["sleep", "100000"] },
            Placement: { Constraints: ["node.role==worker"] },
          },
          Mode: { Replicated: { Replicas: sizes[i] } },
        })) as { ID: string };
        created.set(r.ID, sent);
      }
    };
    await Promise.all(Array.from({ length: clients }, client));
    const createdAll = Date.now();
    say(
      `${created.size} services (${target} tasks) created by ${clients} client(s) in ${((createdAll - cpu0.at) / 1000).toFixed(1)} s`,
    );
    const worker = realWorker ? cluster.node(2) : undefined;
    let report: HollowReport = await waitFor(
      `${target} running tasks`,
      async () => {
        const r = await hollow!.report();
        const onHollow = r.tasks.filter((t) => t[3] > 0).length;
        const onReal = worker
          ? ok(worker.docker(["ps", "-q"]))
              .stdout.split("\n")
              .filter(Boolean).length
          : 0;
        return onHollow + onReal >= target ? r : undefined;
      },
      left(),
      2000,
    );
    report = await hollow.report();
    const done = Math.max(...report.tasks.map((t) => t[3]));
    const cpu1 = cpuNow();
    const bulkCpu = cpuShare(cpu0, cpu1);
    clearInterval(sampler);
    const storeAfter = report.store;

    const { assign, running } = delays(report, created);
    const first = Math.min(...created.values());
    const lastAssigned = Math.max(...report.tasks.map((t) => t[2]));
    const placementsPerS = report.tasks.length / ((lastAssigned - first) / 1000);
    // The leader's own rate: a replicated task is written with its node in the pass that makes
    // it, so its CreatedAt is when it was placed, before any node saw it (the hollow nodes'
    // process, on the same two cores, sees them later the busier it is).
    const bulkRecords = (
      (await api(manager, "GET", "/tasks")) as Array<{
        ServiceID: string;
        CreatedAt: string;
        Status: { State: string; Err?: string };
      }>
    ).filter((t) => created.has(t.ServiceID));
    const bulkTasks = bulkRecords.map((t) => Date.parse(t.CreatedAt));
    // Tasks beyond those asked for replace ones that failed, were rejected or lost their node.
    const replaced = bulkRecords.filter((t) => t.Status.State !== "running");
    const replacedStates = new Map<string, number>();
    for (const t of replaced)
      replacedStates.set(t.Status.State, (replacedStates.get(t.Status.State) ?? 0) + 1);
    const lastPlaced = Math.max(...bulkTasks);
    const leaderPerS = bulkTasks.length / ((lastPlaced - first) / 1000);
    const phaseS = (cpu1.at - cpu0.at) / 1000;

    // At full load, scheduling delay as Swarm's 30,000-container test took it: services of one
    // replica created one at a time, far enough apart that none waits behind another, each
    // timed from its create to its task assigned on its node (and reported running).
    const probed = new Map<string, number>();
    const busy0 = cpuNow();
    for (let i = 0; i < probes; i++) {
      const sent = Date.now();
      const r = (await api(manager, "POST", "/services/create", {
        Name: `probe-${i}`,
        TaskTemplate: {
          ContainerSpec: { Image: "busybox:latest", Command: ["sleep", "100000"] },
          // On hollow nodes, whose report times them (not on a real worker).
          Placement: {
            Constraints: ["node.role==worker", ...(worker ? [`node.hostname!=${worker.name}`] : [])],
          },
        },
        Mode: { Replicated: { Replicas: 1 } },
      })) as { ID: string };
      probed.set(r.ID, sent);
      await sleep(Math.max(0, sent + probeEveryMs - Date.now()));
    }
    // How busy the machine was while the probes ran.
    const busy = cpuShare(busy0, cpuNow());
    const probeReport = await waitFor(
      `${probes} probe tasks running`,
      async () => {
        const r = await hollow!.report();
        const done = r.tasks.filter((t) => probed.has(t[1]) && t[3] > 0).length;
        return done >= probes ? r : undefined;
      },
      left(),
      1000,
    ).catch(async (err: Error) => {
      // What the store holds of the probes the nodes never saw running: where they stopped.
      const seen = new Map((await hollow!.report()).tasks.map((t) => [t[1], t]));
      const tasks = (await api(manager, "GET", "/tasks")) as Array<{
        ID: string;
        ServiceID: string;
        NodeID?: string;
        DesiredState: string;
        Status: { State: string; Err?: string; Timestamp: string };
      }>;
      const stuck = tasks.filter((t) => probed.has(t.ServiceID) && !((seen.get(t.ServiceID)?.[3] ?? 0) > 0));
      for (const t of stuck.slice(0, 20))
        say(
          `  probe task ${t.ID} on ${t.NodeID ?? "no node"}: ${t.Status.State} (desired ${t.DesiredState}) since ${t.Status.Timestamp}${t.Status.Err ? `, ${t.Status.Err}` : ""}; nodes saw it ${seen.has(t.ServiceID) ? "assigned" : "never"}`,
        );
      say(
        `  ${stuck.length} probe tasks not seen running; services with no task: ${[...probed.keys()].filter((id) => !tasks.some((t) => t.ServiceID === id)).length}`,
      );
      throw err;
    });
    const { assign: probeAssign, running: probeRunning } = delays(probeReport, probed);
    const legs = await probeLegs(manager, probeReport, probed);

    // At full load: the calls of docker info, service ls and node ls.
    const info = await latency(50, () => api(manager, "GET", "/info"));
    const serviceLs = await latency(20, () => api(manager, "GET", "/services?status=true"));
    const nodeLs = await latency(20, () => api(manager, "GET", "/nodes"));
    const cliInfo = await latency(10, () => ok(manager.docker(["info"])));
    const cliServiceLs = await latency(5, () => ok(manager.docker(["service", "ls"])));
    const cliNodeLs = await latency(5, () => ok(manager.docker(["node", "ls"])));
    const idle = usage(managerPid);
    const perNode = report.perNode;
    const spread = Math.max(...perNode) - Math.min(...perNode);

    const writes =
      storeBefore && storeAfter ? (storeAfter.revision - storeBefore.revision) / phaseS : Number.NaN;
    say(
      `scheduling delay at ${report.tasks.length} tasks, ${probeAssign.length} one-replica services ${probeEveryMs} ms apart: create → assigned on its node p50 ${percentile(probeAssign, 50)} ms, p90 ${percentile(probeAssign, 90)} ms, p99 ${percentile(probeAssign, 99)} ms; → reported running p50 ${percentile(probeRunning, 50)}, p99 ${percentile(probeRunning, 99)} ms`,
    );
    say(
      `CPU while the probes ran, % of a core: manager ${busy.manager}, etcd ${busy.etcd}, hollow nodes ${busy.hollow} (the machine has ${availableParallelism()} cores)`,
    );
    say(
      `where a probe's time goes (p50 / p99 ms): sent → its service made by the API ${legs.api.p50} / ${legs.api.p99}; → its task made by the leader ${legs.leader.p50} / ${legs.leader.p99}; → seen assigned on its node ${legs.node.p50} / ${legs.node.p99}; the slowest: ${legs.slowest}`,
    );
    say(
      `bulk, service create → task assigned on its node (behind every task created before it): p50 ${percentile(assign, 50)} ms, p90 ${percentile(assign, 90)} ms, p99 ${percentile(assign, 99)} ms`,
    );
    say(
      `bulk, service create → task reported running:     p50 ${percentile(running, 50)} ms, p90 ${percentile(running, 90)} ms, p99 ${percentile(running, 99)} ms`,
    );
    say(
      `placements per second in bulk, as the nodes saw them: ${round(placementsPerS)} (${report.tasks.length} tasks, first create → last assigned on its node ${((lastAssigned - first) / 1000).toFixed(1)} s; all running after ${((done - first) / 1000).toFixed(1)} s); as the leader made them: ${round(leaderPerS)} (first create → last placed ${((lastPlaced - first) / 1000).toFixed(1)} s)`,
    );
    say(
      `manager: CPU ${bulkCpu.manager}% of a core over ${phaseS.toFixed(1)} s, RSS peak ${mb(peak.manager)} MiB (${mb(idle.rssBytes)} MiB after)`,
    );
    say(
      `etcd: CPU ${bulkCpu.etcd}% of a core, RSS peak ${mb(peak.etcd)} MiB, ${round(writes)} writes/s (revisions), db ${mb(storeAfter?.dbSize ?? 0)} MiB (${mb(storeAfter?.dbSizeInUse ?? 0)} MiB in use)`,
    );
    say(
      `API at ${report.tasks.length} tasks: /info p50 ${info.p50} p99 ${info.p99} ms; /services?status p50 ${serviceLs.p50} p99 ${serviceLs.p99} ms; /nodes p50 ${nodeLs.p50} p99 ${nodeLs.p99} ms`,
    );
    say(
      `docker CLI: info p50 ${cliInfo.p50} p99 ${cliInfo.p99} ms; service ls p50 ${cliServiceLs.p50} p99 ${cliServiceLs.p99} ms; node ls p50 ${cliNodeLs.p50} p99 ${cliNodeLs.p99} ms`,
    );
    const loop = probeReport.loopDelayMs;
    const renewals = probeReport.renewals;
    say(
      `hollow nodes' process since it started: event loop delay p99 ${round(loop?.p99 ?? Number.NaN)} ms, max ${round(loop?.max ?? Number.NaN)} ms; longest wait between two renewals of a node's lease ${renewals?.longestGapMs} ms (it lasts ${LEASE_TTL_SECONDS} s); leases lost and made again ${renewals?.leasesLost}; the slowest renewal call ${renewals?.longestCallMs} ms, the heartbeat thread's timers late by up to ${renewals?.threadDelayMaxMs} ms`,
    );
    say(
      `spread: ${Math.min(...perNode)}–${Math.max(...perNode)} tasks per hollow node (max − min ${spread})`,
    );
    say(
      `tasks made again in bulk: ${replaced.length}${replaced.length ? ` (the ones they replaced: ${[...replacedStates].map(([state, n]) => `${n} ${state}`).join(", ")}; e.g. "${replaced.find((t) => t.Status.Err)?.Status.Err ?? ""}")` : ""}`,
    );
    say(
      JSON.stringify({
        nodes,
        tasks: report.tasks.length,
        assign_p50_ms: percentile(probeAssign, 50),
        assign_p90_ms: percentile(probeAssign, 90),
        assign_p99_ms: percentile(probeAssign, 99),
        running_p99_ms: percentile(probeRunning, 99),
        bulk_assign_p50_ms: percentile(assign, 50),
        bulk_assign_p90_ms: percentile(assign, 90),
        bulk_assign_p99_ms: percentile(assign, 99),
        bulk_running_p99_ms: percentile(running, 99),
        placements_per_s: round(placementsPerS),
        leader_placements_per_s: round(leaderPerS),
        manager_cpu_pct: bulkCpu.manager,
        manager_rss_mib: mb(peak.manager),
        etcd_cpu_pct: bulkCpu.etcd,
        etcd_rss_mib: mb(peak.etcd),
        etcd_writes_per_s: round(writes),
        etcd_db_mib: mb(storeAfter?.dbSize ?? 0),
        probe_phase_cpu_pct: busy,
        hollow_cpu_pct: bulkCpu.hollow,
        info_p50_ms: info.p50,
        info_p99_ms: info.p99,
        service_ls_p50_ms: serviceLs.p50,
        service_ls_p99_ms: serviceLs.p99,
        node_ls_p50_ms: nodeLs.p50,
        node_ls_p99_ms: nodeLs.p99,
        cli_info_p99_ms: cliInfo.p99,
        cli_service_ls_p99_ms: cliServiceLs.p99,
        cli_node_ls_p99_ms: cliNodeLs.p99,
        hollow_loop_delay_max_ms: round(loop?.max ?? Number.NaN),
        hollow_renewal_gap_max_ms: renewals?.longestGapMs,
        hollow_leases_lost: renewals?.leasesLost,
        hollow_renewal_call_max_ms: renewals?.longestCallMs,
        hollow_heartbeat_thread_delay_max_ms: renewals?.threadDelayMaxMs,
        tasks_made_again: replaced.length,
        spread_max_minus_min: spread,
      }),
    );
  } finally {
    await hollow?.stop();
    manager.docker(["swarm", "leave", "--force"]);
    await cluster.cleanup();
  }
}
