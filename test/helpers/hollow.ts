/**
 * Hollow nodes (src/cluster/hollow.ts) for tests and benchmarks: one process of N of them, in
 * the test LAN's network namespace, joined to a manager of the LAN.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RenewalFigures } from "../../src/cluster/hollow-heartbeats.js";
import type { TestLan } from "./cluster.js";
import { exited } from "./processes.js";
import { until } from "./wait.js";

const HOLLOW = fileURLToPath(new URL("../../src/cluster/hollow-main.js", import.meta.url));

export interface HollowReport {
  /** [task id, service id, first seen assigned on its node (ms), seen running (ms, 0: not yet)] */
  tasks: Array<[string, string, number, number]>;
  /** Running tasks of each hollow node. */
  perNode: number[];
  store?: { dbSize: number; dbSizeInUse: number; revision: number };
  /** The process's event-loop delay since it started. */
  loopDelayMs?: { p99: number; max: number };
  /** How the nodes' leases held up (src/cluster/hollow-heartbeats.ts). */
  renewals?: RenewalFigures;
}

export class HollowProcess {
  /** Standard error: the nodes' log lines. */
  log = "";
  /** Standard output: the line that says they run, and reports. */
  private out = "";
  private constructor(readonly child: ChildProcess) {}

  /** Starts `count` hollow nodes; resolves once all have joined and run their agents. */
  static async start(
    lan: TestLan,
    manager: string,
    token: string,
    count: number,
    options: { nodeArgs?: string[]; timeoutMs?: number; prefix?: string; timings?: boolean } = {},
  ): Promise<HollowProcess> {
    const child = spawn(
      "nsenter",
      [
        `--net=/run/netns/${lan.netns}`,
        "--",
        process.execPath,
        ...(options.nodeArgs ?? []),
        HOLLOW,
        "--manager",
        `${manager}:2377`,
        "--token",
        token,
        "--nodes",
        String(count),
        "--addr",
        lan.gateway,
        "--prefix",
        options.prefix ?? "hollow",
        ...(options.timings ? ["--timings"] : []),
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    const p = new HollowProcess(child);
    child.stdout!.on("data", (d) => (p.out += d));
    child.stderr!.on("data", (d) => (p.log += d));
    await until(
      `${count} hollow nodes`,
      () => p.out.includes("nodes running\n") || child.exitCode !== null,
      options.timeoutMs ?? 60_000,
    ).catch(async (err: Error) => {
      await p.stop();
      throw new Error(`${err.message}: ${p.log.slice(-2000)}`);
    });
    if (child.exitCode !== null) throw new Error(`hollow nodes exited: ${p.log.slice(-2000)}`);
    return p;
  }

  /** With `timings`: every task's timings, running tasks per node, the store's status. */
  async report(): Promise<HollowReport> {
    const from = this.out.length;
    this.child.stdin!.write("report\n");
    let line: string | undefined;
    await until(
      "the hollow nodes' report",
      () => {
        const at = this.out.indexOf("report ", from);
        const end = at >= 0 ? this.out.indexOf("\n", at) : -1;
        if (end >= 0) line = this.out.slice(at + 7, end);
        return line !== undefined;
      },
      60_000,
    );
    this.out = this.out.slice(0, from); // the report is big: not kept
    return JSON.parse(line!) as HollowReport;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** SIGTERM (the nodes give their leases back), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    this.child.stdin?.destroy(); // an open pipe to it would keep this process alive
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited(this.child);
    clearTimeout(timer);
  }
}
