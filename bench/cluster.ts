/**
 * `npm run bench cluster`: swarm mode on three nodes, Berth against docker's, side by side. Each
 * node is a daemon in network, mount and UTS namespaces of its own on a test LAN (the cluster
 * test fixture), driven with the docker CLI:
 *   - `service create --replicas 30` (busybox, already on every node) until all 30 run;
 *   - a node cut off the LAN, until its tasks run on the two others.
 * Each peer is measured BENCH_CLUSTER_ROUNDS times (3), in rounds whose order alternates
 * (docker then Berth, Berth then docker): the first peer of a round runs on a quieter machine
 * than the one that follows another's teardown, and alternating gives both the same share of it.
 * Medians, and each run's figures. BENCH_CLUSTER_REPLICAS=N changes the 30;
 * BENCH_CLUSTER_PEERS=berth (or dockerd) measures one peer alone.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClusterNode, type DaemonKind, TestCluster, type TestLan } from "../test/helpers/cluster.js";
import { apiAt, ok } from "../test/helpers/daemon.js";
import { exited } from "../test/helpers/processes.js";
import { sleep } from "../test/helpers/wait.js";
import { median } from "./harness.js";

interface Figures {
  createMs: number;
  failoverMs: number;
}

/** Tasks of `service` that run now, by node host name. */
function runningByNode(via: ClusterNode, service: string): Map<string, number> {
  const lines = via
    .docker([
      "service",
      "ps",
      "--filter",
      "desired-state=running",
      "--format",
      "{{.Node}} {{.CurrentState}}",
      service,
    ])
    .stdout.split("\n")
    .filter((l) => / Running /.test(`${l} `));
  const counts = new Map<string, number>();
  for (const l of lines) {
    const node = l.split(" ")[0]!;
    counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  return counts;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

/** A registry (Debian's docker-registry) on the LAN's gateway address, port 5000. */
export async function lanRegistry(lan: TestLan): Promise<{ host: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-registry-"));
  const host = `${lan.gateway}:5000`;
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\nhttp:\n  addr: ${host}\n`,
  );
  const child = spawn(
    "nsenter",
    [`--net=/run/netns/${lan.netns}`, "--", "docker-registry", "serve", join(dir, "config.yml")],
    {
      stdio: "ignore",
    },
  );
  const answers = () =>
    spawnSync("nsenter", [
      `--net=/run/netns/${lan.netns}`,
      "--",
      process.execPath,
      "-e",
      `fetch("http://${host}/v2/").then(() => process.exit(0), () => process.exit(1))`,
    ]).status === 0;
  await waitFor("the LAN's registry", answers, 20_000);
  return {
    host,
    stop: async () => {
      child.kill("SIGTERM");
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `service create` of `replicas` busybox `sleep` tasks of `image`: detached, stopped in 1 s. */
export const sleepService = (name: string, replicas: number, image: string) => [
  "service",
  "create",
  "--detach",
  "--no-resolve-image",
  "--name",
  name,
  "--replicas",
  String(replicas),
  "--stop-grace-period",
  "1s",
  image,
  "sleep",
  "100000",
];

async function measure(kind: DaemonKind, replicas: number): Promise<Figures> {
  const cluster = new TestCluster(3, { daemon: kind });
  const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];
  let registry: Awaited<ReturnType<typeof lanRegistry>> | undefined;
  try {
    cluster.lan.create();
    registry = await lanRegistry(cluster.lan);
    const image = `${registry.host}/busybox:latest`;
    await cluster.start(["--insecure-registry", registry.host]);
    ok(n1.docker(["tag", "busybox:latest", image]));
    ok(n1.docker(["push", image]));
    cluster.formSwarm();
    await waitFor(
      "three ready nodes",
      () => (n1.docker(["node", "ls"]).stdout.match(/Ready/g) ?? []).length === 3,
      60_000,
    );

    // The running count as `service ls` asks for it (`status=true`), through the API: a docker
    // CLI started every 100 ms would take a good part of this 2-core machine from either peer.
    const filters = encodeURIComponent(JSON.stringify({ name: ["bench"] }));
    const running = async () => {
      const answer = await apiAt(n1.socket, "GET", `/v1.41/services?status=true&filters=${filters}`);
      const [service] = JSON.parse(answer.body.toString()) as Array<{
        ServiceStatus?: { RunningTasks?: number };
      }>;
      return service?.ServiceStatus?.RunningTasks ?? 0;
    };
    const t0 = Date.now();
    ok(n1.docker(sleepService("bench", replicas, image)));
    await waitFor(`${replicas} running tasks`, async () => (await running()) === replicas, 180_000);
    const createMs = Date.now() - t0;

    // node3 drops off the LAN: the others see it die.
    const t1 = Date.now();
    n3.cutLink();
    await waitFor(
      "the cut-off node's tasks running elsewhere",
      () => {
        const by = runningByNode(n1, "bench");
        return (by.get("node1") ?? 0) + (by.get("node2") ?? 0) === replicas;
      },
      180_000,
    );
    const failoverMs = Date.now() - t1;
    n3.healLink();
    for (const n of [n3, n2]) n.docker(["swarm", "leave", "--force"]);
    n1.docker(["service", "rm", "bench"]);
    n1.docker(["swarm", "leave", "--force"]);
    return { createMs, failoverMs };
  } finally {
    await cluster.cleanup();
    await registry?.stop();
  }
}

export async function clusterBench(): Promise<void> {
  const replicas = Number(process.env["BENCH_CLUSTER_REPLICAS"] ?? 30);
  const rounds = Number(process.env["BENCH_CLUSTER_ROUNDS"] ?? 3);
  process.stdout.write(
    `\n## cluster: 3 nodes on a test LAN, ${replicas} replicas; a node cut off (medians of ${rounds} rounds, order alternating)\n`,
  );
  const peers = (process.env["BENCH_CLUSTER_PEERS"] ?? "dockerd,berth").split(",");
  const kinds = (["dockerd", "berth"] as const).filter((k) => peers.includes(k));
  const results = new Map<DaemonKind, Figures[]>(kinds.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 ? [...kinds].reverse() : kinds) {
      try {
        const f = await measure(kind, replicas);
        results.get(kind)!.push(f);
        process.stdout.write(`round ${round + 1} ${kind}: ${f.createMs} ms, ${f.failoverMs} ms\n`);
      } catch (err) {
        process.stdout.write(`round ${round + 1} ${kind}: ${(err as Error).message}\n`);
      }
    }
  }
  const medians = new Map(
    [...results]
      .filter(([, runs]) => runs.length)
      .map(([kind, runs]) => [
        kind,
        { createMs: median(runs.map((r) => r.createMs)), failoverMs: median(runs.map((r) => r.failoverMs)) },
      ]),
  );
  const base = medians.get("dockerd");
  const rows = [["peer", `create → ${replicas} running`, "node cut off → its tasks elsewhere"]];
  for (const [kind, f] of medians) {
    const ratio = (v: number, b?: number) => (b ? ` (${(v / b).toFixed(2)}×)` : "");
    const runs = (k: keyof Figures) =>
      ` [${results
        .get(kind)!
        .map((r) => r[k])
        .join(", ")}]`;
    rows.push([
      kind === "dockerd" ? "docker swarm (dockerd)" : "berth",
      `${Math.round(f.createMs)} ms${ratio(f.createMs, base?.createMs)}${runs("createMs")}`,
      `${Math.round(f.failoverMs)} ms${ratio(f.failoverMs, base?.failoverMs)}${runs("failoverMs")}`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("   ")}\n`);
}
