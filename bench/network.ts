/**
 * Network scenario (issue 5), Berth against dockerd with its default bridge and iptables, in one
 * run: the time networking adds to `run --rm busybox true` (bridge minus none), and TCP
 * throughput with iperf3 (the host's binary, mounted read-only into busybox containers)
 * container to container on the default bridge, and host to a published port (dockerd's goes
 * through docker-proxy, its userland proxy, for loopback).
 */
import { spawnSync } from "node:child_process";
import { busyboxRootfs } from "../test/helpers/busybox.js";
import { BERTH, DaemonFixture } from "../test/helpers/daemon.js";
import { startDockerd } from "../test/helpers/dockerd.js";
import { median } from "./harness.js";

const IPERF = ["-v", "/usr/bin/iperf3:/usr/bin/iperf3:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"];
const REPS = 11;

type Cli = (args: string[], input?: Buffer) => { status: number; stdout: string; stderr: string };

interface Engine {
  name: string;
  cli: Cli;
  /** The docker CLI against this engine, when it is not dockerd (issue 6's comparison). */
  dockerCli?: Cli;
  stop: () => Promise<void>;
}

function runner(cmd: string, base: string[]) {
  return (args: string[], input?: Buffer) => {
    const r = spawnSync(cmd, [...base, ...args], { input, encoding: "utf8", maxBuffer: 1 << 26 });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
}

async function startBerth(tar: Buffer): Promise<Engine> {
  const d = new DaemonFixture();
  await d.start();
  const cli = runner(process.execPath, [BERTH, "-H", `unix://${d.socket}`]);
  cli(["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], tar);
  const dockerCli = runner("docker", ["-H", `unix://${d.socket}`]);
  return { name: "berth", cli, dockerCli, stop: () => d.cleanup() };
}

/** dockerd with its defaults for networking (docker0, iptables, docker-proxy), private roots. */
async function startDocker(tar: Buffer): Promise<Engine | undefined> {
  const dockerd = await startDockerd({ networking: true });
  if (!dockerd) return undefined;
  const cli = runner("docker", ["-H", `unix://${dockerd.socket}`]);
  cli(["import", "-c", 'CMD ["sh"]', "-", "busybox:latest"], tar);
  return {
    name: "docker",
    cli,
    stop: async () => {
      const ids = cli(["ps", "-aq"]).stdout.split("\n").filter(Boolean);
      if (ids.length) cli(["rm", "-f", ...ids]);
      await dockerd.stop();
    },
  };
}

function time(f: () => void): number {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function must(r: { status: number; stderr: string }, what: string): void {
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr.trim()}`);
}

/** Gbit/s of an iperf3 client run (JSON), 3 seconds. */
function gbits(out: string): number {
  const j = JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

/** Median times of `run --rm busybox true` without a network and on the default bridge. */
function runTimes(cli: Cli): { none: number; bridge: number } {
  const none: number[] = [];
  const bridge: number[] = [];
  for (let i = -1; i < REPS; i++) {
    const a = time(() => must(cli(["run", "--rm", "--network", "none", "busybox", "true"]), "run none"));
    const b = time(() => must(cli(["run", "--rm", "busybox", "true"]), "run bridge"));
    if (i >= 0) {
      none.push(a);
      bridge.push(b);
    }
  }
  return { none: median(none), bridge: median(bridge) };
}

const NONE_ROW = "run --rm, --network none (ms)";
const BRIDGE_ROW = "run --rm, default bridge (ms)";
/** Rows of the docker CLI against Berth, compared with the docker CLI against dockerd. */
const VIA_DOCKER: Record<string, string> = {
  "docker CLI → berth, --network none (ms)": NONE_ROW,
  "docker CLI → berth, default bridge (ms)": BRIDGE_ROW,
};

async function measure(e: Engine): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const { none, bridge } = runTimes(e.cli);
  out[NONE_ROW] = none.toFixed(1);
  out[BRIDGE_ROW] = bridge.toFixed(1);
  out["added by networking (ms)"] = (bridge - none).toFixed(1);
  if (e.dockerCli) {
    const via = runTimes(e.dockerCli);
    const [noneRow, bridgeRow] = Object.keys(VIA_DOCKER);
    out[noneRow!] = via.none.toFixed(1);
    out[bridgeRow!] = via.bridge.toFixed(1);
  }
  must(
    e.cli(["run", "-d", "--name", "iperf-server", "-p", "15201:5201", ...IPERF, "busybox", "iperf3", "-s"]),
    "iperf server",
  );
  await new Promise((r) => setTimeout(r, 1000));
  const ip = e.cli(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "iperf-server"]).stdout.trim();
  const c2c = e.cli(["run", "--rm", ...IPERF, "busybox", "iperf3", "-J", "-t", "3", "-c", ip]);
  must(c2c, "iperf container to container");
  out["TCP container → container (Gbit/s)"] = gbits(c2c.stdout).toFixed(2);
  const h2p = spawnSync("iperf3", ["-J", "-t", "3", "-c", "127.0.0.1", "-p", "15201"], { encoding: "utf8" });
  must({ status: h2p.status ?? -1, stderr: h2p.stderr }, "iperf host to published port");
  out["TCP host 127.0.0.1 → published port (Gbit/s)"] = gbits(h2p.stdout).toFixed(2);
  e.cli(["rm", "-f", "iperf-server"]);
  return out;
}

export async function networkBench(): Promise<void> {
  const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 28 }).stdout;
  const results: Record<string, Record<string, string>> = {};
  for (const start of [startBerth, startDocker]) {
    const e = await start(tar);
    if (!e) continue;
    try {
      results[e.name] = await measure(e);
    } finally {
      await e.stop();
    }
  }
  const rows = Object.keys(results["berth"] ?? {});
  process.stdout.write(`\n## network: networking cost and TCP throughput (medians of ${REPS} for times)\n`);
  process.stdout.write(`${"".padEnd(46)}${"berth".padEnd(12)}${"docker".padEnd(12)}ratio\n`);
  for (const row of rows) {
    const b = results["berth"]?.[row] ?? "";
    const d = results["docker"]?.[VIA_DOCKER[row] ?? row] ?? "unavailable";
    const ratio = Number(d) ? (Number(b) / Number(d)).toFixed(2) : "";
    process.stdout.write(`${row.padEnd(46)}${b.padEnd(12)}${d.padEnd(12)}${ratio}\n`);
  }
}
