/**
 * `npm run bench [scenario...]`: runs Berth's benchmarks side by side with its peers and prints
 * medians and ratios. Needs root (containers, cgroups). Scenarios: see SCENARIOS.
 */
import { formatResults, runScenario, type Scenario } from "./harness.js";

const SCENARIOS: Record<string, () => Promise<Scenario> | Scenario> = {
  runtime: async () => (await import("./runtime.js")).runtimeScenario(),
  "dockerd-runtime": async () => (await import("./runtime.js")).dockerdRuntimeScenario(),
  engine: async () => (await import("./engine.js")).engineScenario(),
  fleet: async () => (await import("./engine.js")).fleetScenario(),
};

/** Benchmarks that measure several figures per peer and print their own table. */
const REPORTS: Record<string, () => Promise<void>> = {
  network: async () => (await import("./network.js")).networkBench(),
  build: async () => (await import("./build.js")).buildBench(),
  cp: async () => (await import("./cp.js")).cpBench(),
  cluster: async () => (await import("./cluster.js")).clusterBench(),
  "cluster-chaos": async () => (await import("./cluster-chaos.js")).clusterChaosBench(),
  "cluster-scale": async () => (await import("./cluster-scale.js")).clusterScaleBench(),
  overlay: async () => (await import("./overlay.js")).overlayBench(),
  console: async () => (await import("./console.js")).consoleBench(),
};

/**
 * NODE_EXTRA_CA_CERTS makes every Node process parse that bundle before any code runs (about
 * 45 ms on this 2-core machine, where the sandbox sets it): a cost of the environment, not of
 * Berth, which a default host does not have and docker's Go CLI never pays. The Berth CLI runs
 * without it here unless BENCH_KEEP_NODE_EXTRA_CA_CERTS=1.
 */
function defaultNodeEnvironment(): void {
  const extra = process.env["NODE_EXTRA_CA_CERTS"];
  if (!extra || process.env["BENCH_KEEP_NODE_EXTRA_CA_CERTS"] === "1") return;
  delete process.env["NODE_EXTRA_CA_CERTS"];
  process.stdout.write(
    `note: NODE_EXTRA_CA_CERTS=${extra} is unset for the commands measured (it adds ~45 ms to each Node start here); BENCH_KEEP_NODE_EXTRA_CA_CERTS=1 keeps it\n`,
  );
}

async function main(): Promise<void> {
  defaultNodeEnvironment();
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
  const names = wanted.length ? wanted : [...Object.keys(SCENARIOS), ...Object.keys(REPORTS)];
  for (const name of names) {
    const report = REPORTS[name];
    if (report) {
      await report();
      continue;
    }
    const make = SCENARIOS[name];
    if (!make)
      throw new Error(
        `unknown scenario "${name}" (have: ${[...Object.keys(SCENARIOS), ...Object.keys(REPORTS)].join(", ")})`,
      );
    const scenario = await make();
    process.stdout.write(
      `\n## ${scenario.name}: ${scenario.description} (median of ${scenario.repetitions})\n`,
    );
    const results = await runScenario(scenario);
    process.stdout.write(`${formatResults(scenario, results)}\n`);
    if (scenario.extras)
      for (const [k, v] of Object.entries(await scenario.extras())) process.stdout.write(`${k}: ${v}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
