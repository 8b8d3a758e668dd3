/**
 * `cp` benchmark: a large tree copied into a running container and out of it again, by the
 * docker CLI against dockerd (the baseline), the docker CLI against Berth and the berth CLI
 * against Berth, interleaved in one run. The tree (BENCH_CP_FILES small files of 16 KiB in 100
 * directories, default 5000, and ten files of 8 MiB: about 160 MiB) is made once on the host
 * and copied into each container before the timings; every copy goes to a new destination.
 * BENCH_CP_RUNS repetitions (default 7), medians.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BERTH } from "../test/helpers/daemon.js";
import { type Engines, startEngines, stopEngines } from "./engine.js";
import { formatResults, runScenario, type Scenario, timeCommand } from "./harness.js";

const RUNS = Number(process.env["BENCH_CP_RUNS"] || 7);
const FILES = Number(process.env["BENCH_CP_FILES"] || 5000);

function makeTree(dir: string): number {
  let bytes = 0;
  const small = Buffer.alloc(16 * 1024, "berth ");
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, `d${i % 100}`);
    if (i < 100) mkdirSync(sub);
    writeFileSync(join(sub, `f${i}`), small);
    bytes += small.length;
  }
  const big = Buffer.alloc(8 << 20, 7);
  for (let i = 0; i < 10; i++) {
    writeFileSync(join(dir, `big${i}`), big);
    bytes += big.length;
  }
  return bytes;
}

interface Client {
  name: string;
  cp: (args: string[]) => number;
  unavailable?: string;
}

export async function cpBench(): Promise<void> {
  const work = mkdtempSync("/var/tmp/berth-bench-cp-");
  const tree = join(work, "tree");
  mkdirSync(tree);
  const bytes = makeTree(tree);
  const e: Engines = await startEngines();
  try {
    const clients: Client[] = [
      {
        name: "docker CLI → dockerd",
        cp: (args) => timeCommand("docker", ["-H", `unix://${e.dockerd!.socket}`, "cp", ...args]),
        ...(e.dockerd ? {} : { unavailable: "dockerd is not installed or does not start here" }),
      },
      {
        name: "docker CLI → berth",
        cp: (args) => timeCommand("docker", ["-H", `unix://${e.berth.socket}`, "cp", ...args]),
      },
      {
        name: "berth CLI → berth",
        cp: (args) => timeCommand(process.execPath, [BERTH, "-H", `unix://${e.berth.socket}`, "cp", ...args]),
      },
    ];
    const sockets = [e.dockerd?.socket, e.berth.socket, e.berth.socket];
    // One container per client: the tree goes in once, then each copy gets a new destination.
    clients.forEach((c, i) => {
      if (c.unavailable) return;
      const name = `cp-bench-${i}`;
      const socket = sockets[i]!;
      const run = spawnSync("docker", [
        "-H",
        `unix://${socket}`,
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "busybox",
        "sleep",
        "3600",
      ]);
      if (run.status !== 0) c.unavailable = String(run.stderr).trim();
      else timeCommand("docker", ["-H", `unix://${socket}`, "cp", tree, `${name}:/tree`]);
    });
    const scenario = (direction: "in" | "out"): Scenario => ({
      name: `cp ${direction}`,
      description:
        direction === "in"
          ? `a ${(bytes / 2 ** 20).toFixed(0)} MiB tree of ${FILES + 10} files into a running container`
          : `the same tree out of a running container into a new host directory`,
      baseline: "docker CLI → dockerd",
      repetitions: RUNS,
      variants: clients.map((c, i) => ({
        name: c.name,
        setup: () => c.unavailable,
        run: (rep: number) => {
          const container = `cp-bench-${i}`;
          if (direction === "in") return c.cp([tree, `${container}:/in-${rep + 1}`]);
          const dest = join(work, `out-${i}-${rep + 1}`);
          const ms = c.cp([`${container}:/tree`, dest]);
          rmSync(dest, { recursive: true, force: true });
          return ms;
        },
      })),
    });
    for (const direction of ["out", "in"] as const) {
      const s = scenario(direction);
      process.stdout.write(`\n## ${s.name}: ${s.description} (median of ${s.repetitions})\n`);
      process.stdout.write(`${formatResults(s, await runScenario(s))}\n`);
    }
  } finally {
    await stopEngines(e);
    rmSync(work, { recursive: true, force: true });
  }
}
