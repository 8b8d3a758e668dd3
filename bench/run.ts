/**
 * `npm run bench [scenario...]`: runs Berth's benchmarks side by side with its peers and prints
 * medians and ratios. Needs root (containers, cgroups). Scenarios: see SCENARIOS.
 */
import { formatResults, runScenario, type Scenario } from "./harness.js";

const SCENARIOS: Record<string, () => Promise<Scenario> | Scenario> = {
  runtime: async () => (await import("./runtime.js")).runtimeScenario(),
  engine: async () => (await import("./engine.js")).engineScenario(),
  fleet: async () => (await import("./engine.js")).fleetScenario(),
};

/** Benchmarks that measure several figures per peer and print their own table. */
const REPORTS: Record<string, () => Promise<void>> = {
  network: async () => (await import("./network.js")).networkBench(),
  build: async () => (await import("./build.js")).buildBench(),
};

async function main(): Promise<void> {
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
