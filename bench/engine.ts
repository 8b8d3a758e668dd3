/**
 * Engine scenarios (issues 4 and 6), Berth's daemon against dockerd on the same machine, both
 * with the same busybox image (imported from the host's busybox-static) and no networking:
 *  - engine: `run --rm busybox true` end to end, by the berth CLI and by the docker CLI against
 *    Berth, and by the docker CLI against dockerd (the baseline);
 *  - fleet: N detached `sleep` containers started in parallel batches (BENCH_FLEET, default
 *    500), with the memory they take (monitors or shims) and the disk per created container.
 */
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { busyboxRootfs } from "../test/helpers/busybox.js";
import { BERTH, DaemonFixture } from "../test/helpers/daemon.js";
import { startDockerd, type TestDockerd } from "../test/helpers/dockerd.js";
import { hostProcesses } from "../test/helpers/processes.js";
import { type Scenario, timeCommand } from "./harness.js";

export interface Engines {
  berth: DaemonFixture;
  dockerd: TestDockerd | undefined;
}

/** Berth's daemon and a private dockerd (undefined where it does not start), busybox:latest in both. */
export async function startEngines(): Promise<Engines> {
  const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 28 }).stdout;
  const berth = new DaemonFixture();
  await berth.start();
  const imported = spawnSync(
    process.execPath,
    [BERTH, "-H", `unix://${berth.socket}`, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"],
    { input: tar },
  );
  if (imported.status !== 0) throw new Error(`berth import: ${imported.stderr}`);
  const dockerd = await startDockerd();
  await dockerd?.docker(["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], tar);
  return { berth, dockerd };
}

export async function stopEngines(e: Engines): Promise<void> {
  await e.berth.cleanup();
  if (e.dockerd) {
    const ids = (await e.dockerd.docker(["ps", "-aq"])).toString().split("\n").filter(Boolean);
    if (ids.length) await e.dockerd.docker(["rm", "-f", ...ids]);
    await e.dockerd.stop();
  }
}

const dockerArgs = (socket: string, args: string[]) => ["-H", `unix://${socket}`, ...args];
const RUN_TRUE = ["run", "--rm", "--network", "none", "busybox", "true"];

export async function engineScenario(): Promise<Scenario> {
  const e = await startEngines();
  return {
    name: "engine",
    description: "`run --rm busybox true` end to end, CLI included",
    baseline: "docker CLI → dockerd",
    repetitions: 15,
    variants: [
      {
        name: "docker CLI → dockerd",
        setup: () => (e.dockerd ? undefined : "dockerd is not installed or does not start here"),
        run: () => timeCommand("docker", dockerArgs(e.dockerd!.socket, RUN_TRUE)),
      },
      { name: "docker CLI → berth", run: () => timeCommand("docker", dockerArgs(e.berth.socket, RUN_TRUE)) },
      {
        name: "berth CLI → berth",
        run: () => timeCommand(process.execPath, [BERTH, "-H", `unix://${e.berth.socket}`, ...RUN_TRUE]),
        teardown: () => stopEngines(e),
      },
    ],
  };
}

/** Sum of the resident memory (RSS and PSS, KiB) of processes whose command name matches. */
function memoryOf(match: (comm: string) => boolean): { count: number; rss: number; pss: number } {
  let count = 0;
  let rss = 0;
  let pss = 0;
  for (const { pid, comm } of hostProcesses()) {
    if (!match(comm)) continue;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      rss += Number(/^Rss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      count++;
    } catch {}
  }
  return { count, rss, pss };
}

function diskUsage(path: string): number {
  const r = spawnSync("du", ["-sk", "--apparent-size", path], { encoding: "utf8" });
  return Number(r.stdout.split("\t")[0]) * 1024;
}

async function startMany(cli: string, base: string[], n: number, parallel = 10): Promise<number> {
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const p = spawn(cli, [...base, "run", "-d", "--network", "none", "busybox", "sleep", "3600"], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        let err = "";
        p.stderr.on("data", (d) => (err += d));
        p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cli} run -d: ${err}`))));
      });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return Date.now() - t0;
}

export async function fleetScenario(): Promise<Scenario> {
  const n = Number(process.env["BENCH_FLEET"] ?? 500);
  const e = await startEngines();
  const figures: Record<string, string> = {};
  const berthBase = ["-H", `unix://${e.berth.socket}`];
  return {
    name: "fleet",
    description: `${n} detached \`sleep\` containers, 10 CLI calls at a time, total ms`,
    baseline: "docker CLI → dockerd",
    repetitions: 1,
    variants: [
      {
        name: "docker CLI → dockerd",
        setup: () => (e.dockerd ? undefined : "dockerd is not installed or does not start here"),
        run: async (i) => {
          if (i < 0) return 0;
          const before = memoryOf((c) => c.startsWith("containerd-shim"));
          const ms = await startMany("docker", ["-H", `unix://${e.dockerd!.socket}`], n);
          const after = memoryOf((c) => c.startsWith("containerd-shim"));
          figures["dockerd: containerd-shim RSS per container"] =
            `${((after.rss - before.rss) / Math.max(1, after.count - before.count)).toFixed(0)} KiB (PSS ${((after.pss - before.pss) / Math.max(1, after.count - before.count)).toFixed(0)} KiB)`;
          const ids = (await e.dockerd!.docker(["ps", "-aq"])).toString().split("\n").filter(Boolean);
          await e.dockerd!.docker(["rm", "-f", ...ids]);
          return ms;
        },
      },
      {
        name: "berth CLI → berth",
        run: async (i) => {
          if (i < 0) return 0;
          const before = memoryOf((c) => c === "berth-monitor");
          const ms = await startMany(process.execPath, [BERTH, ...berthBase], n);
          const after = memoryOf((c) => c === "berth-monitor");
          const count = Math.max(1, after.count - before.count);
          figures["berth: monitor RSS per container"] =
            `${((after.rss - before.rss) / count).toFixed(0)} KiB (PSS ${((after.pss - before.pss) / count).toFixed(0)} KiB), ${after.count - before.count} monitors`;
          const ids = spawnSync(process.execPath, [BERTH, ...berthBase, "ps", "-aq"], { encoding: "utf8" })
            .stdout.split("\n")
            .filter(Boolean);
          spawnSync(process.execPath, [BERTH, ...berthBase, "rm", "-f", ...ids]);
          return ms;
        },
      },
    ],
    extras: async () => {
      // Disk per created (never started) container: 20 of each, divided.
      const count = 20;
      const berthBefore = diskUsage(join(e.berth.root, "containers"));
      for (let k = 0; k < count; k++)
        spawnSync(process.execPath, [BERTH, ...berthBase, "create", "--network", "none", "busybox", "true"]);
      figures["berth: disk per created container"] =
        `${((diskUsage(join(e.berth.root, "containers")) - berthBefore) / count).toFixed(0)} bytes`;
      if (e.dockerd) {
        const root = join(e.dockerd.dir, "root");
        const before = diskUsage(root);
        for (let k = 0; k < count; k++)
          await e.dockerd.docker(["create", "--network", "none", "busybox", "true"]);
        figures["dockerd: disk per created container"] =
          `${((diskUsage(root) - before) / count).toFixed(0)} bytes`;
      }
      await stopEngines(e);
      return figures;
    },
  };
}
