/**
 * The benchmark harness: scenarios of named variants (Berth and its peers) run interleaved in one
 * process, so that every variant sees the same machine state, and reported as medians with
 * ratios to a baseline variant.
 */
import { spawnSync } from "node:child_process";

export interface Variant {
  name: string;
  /** Runs once before measuring; throw (or return a reason) to mark the variant unavailable. */
  setup?(): Promise<string | undefined> | string | undefined;
  /** One measured repetition; returns its duration in ms (or undefined to time the call itself). */
  run(i: number): Promise<number | undefined> | number | undefined;
  teardown?(): Promise<void> | void;
}

export interface Scenario {
  name: string;
  description: string;
  /** The variant the ratios are relative to. */
  baseline: string;
  repetitions: number;
  variants: Variant[];
  /** Extra figures (memory, disk) measured once, printed after the timings. */
  extras?(): Promise<Record<string, string>> | Record<string, string>;
}

export interface VariantResult {
  name: string;
  median?: number;
  min?: number;
  max?: number;
  samples: number[];
  unavailable?: string;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Times a command (ms); throws with its stderr when it fails. */
export function timeCommand(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...options });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}: ${String(r.stderr).trim().slice(0, 300)}`,
    );
  return ms;
}

export function commandWorks(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
  if (r.error) return `${cmd}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args.join(" ")}: ${String(r.stderr).trim().split("\n").pop()}`;
  return undefined;
}

/** Unmounts (lazily, deepest first) whatever a peer left mounted under `dir`, before it is removed. */
export function unmountUnder(dir: string): void {
  spawnSync("sh", ["-c", `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
}

export async function runScenario(
  scenario: Scenario,
  repetitions = scenario.repetitions,
): Promise<VariantResult[]> {
  const results: VariantResult[] = scenario.variants.map((v) => ({ name: v.name, samples: [] }));
  const live: number[] = [];
  for (const [i, v] of scenario.variants.entries()) {
    try {
      const reason = await v.setup?.();
      if (reason) results[i]!.unavailable = reason;
      else live.push(i);
    } catch (err) {
      results[i]!.unavailable = (err as Error).message.split("\n")[0];
    }
  }
  // Interleave: rep 1 of every variant, then rep 2, ... (one warm-up round not counted).
  for (let rep = -1; rep < repetitions; rep++) {
    for (const i of live) {
      const r = results[i]!;
      if (r.unavailable) continue;
      try {
        const t0 = process.hrtime.bigint();
        const ms = (await scenario.variants[i]!.run(rep)) ?? Number(process.hrtime.bigint() - t0) / 1e6;
        if (rep >= 0) r.samples.push(ms);
      } catch (err) {
        r.unavailable = (err as Error).message.split("\n")[0];
      }
    }
  }
  for (const i of live) await scenario.variants[i]!.teardown?.();
  for (const r of results)
    if (r.samples.length && !r.unavailable) {
      r.median = median(r.samples);
      r.min = Math.min(...r.samples);
      r.max = Math.max(...r.samples);
    }
  return results;
}

export function formatResults(scenario: Scenario, results: VariantResult[]): string {
  const base = results.find((r) => r.name === scenario.baseline)?.median;
  const rows = [["variant", "median ms", "min", "max", `× ${scenario.baseline}`]];
  for (const r of results) {
    if (r.median === undefined) {
      rows.push([r.name, "—", "", "", `unavailable: ${r.unavailable ?? "no samples"}`]);
      continue;
    }
    rows.push([
      r.name,
      r.median.toFixed(2),
      r.min!.toFixed(2),
      r.max!.toFixed(2),
      base ? (r.median / base).toFixed(2) : "",
    ]);
  }
  const widths = rows[0]!.map((_, c) =>
    Math.max(...rows.filter((r) => !r[4]?.startsWith("unavailable")).map((r) => r[c]!.length), 8),
  );
  return rows
    .map((r) =>
      r[4]?.startsWith("unavailable")
        ? `${r[0]!.padEnd(widths[0]! + 2)}${r[4]}`
        : r
            .map((c, i) => c.padEnd(widths[i]! + 2))
            .join("")
            .trimEnd(),
    )
    .join("\n");
}
