/**
 * `node dist/src/cluster/hollow-main.js --manager HOST:PORT --token TOKEN --nodes N`: runs N
 * hollow worker nodes in this process (./hollow.ts) until SIGINT or SIGTERM, when they give
 * their leases back. It prints one line once every node has joined and runs its agent.
 */

import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { helpText } from "../cli/args.js";
import { errorText } from "../errors.js";
import { HollowNodes, type TaskTimings } from "./hollow.js";
import { HOLLOW_OPTIONS, hollowOptions } from "./hollow-options.js";

/**
 * How late this process ran what was due (its event loop's delay), since it started: one process
 * for many nodes is the bench's limit. (The nodes' leases are renewed on a thread of their own,
 * ./hollow-heartbeats.ts, whose timing this delay does not hold up.)
 */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

async function report(hollow: HollowNodes, timings: TaskTimings): Promise<string> {
  const perNode = hollow.nodes.map(
    (n) => [...n.runtime.containers().values()].filter((c) => c.running).length,
  );
  const store = await hollow.nodes[0]!.store.etcd.status().catch(() => undefined);
  return JSON.stringify({
    tasks: [...timings.tasks].map(([id, t]) => [id, t.service, t.assigned, t.running ?? 0]),
    perNode,
    store,
    loopDelayMs: { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 },
    renewals: await hollow.renewals(),
  });
}

async function main(): Promise<void> {
  const log = (m: string) => process.stderr.write(`${new Date().toISOString()} ${m}\n`);
  const options = hollowOptions(process.argv.slice(2), log);
  if (!options) {
    process.stdout.write(helpText("hollow-main [OPTIONS]", "Run hollow swarm worker nodes.", HOLLOW_OPTIONS));
    return;
  }
  const hollow = new HollowNodes(options);
  let ending = false;
  const end = () => {
    if (ending) return;
    ending = true;
    void hollow.stop().finally(() => process.exit(0));
  };
  process.on("SIGINT", end);
  process.on("SIGTERM", end);
  loopDelay.enable();
  await hollow.start();
  process.stdout.write(`hollow: ${hollow.nodes.length} nodes running\n`);
  const timings = options.timings;
  if (timings) {
    // One JSON line per "report": every task's timings, the tasks per node, the store's status.
    createInterface({ input: process.stdin }).on("line", (line) => {
      if (line.trim() !== "report") return;
      void report(hollow, timings).then((text) => process.stdout.write(`report ${text}\n`));
    });
  }
}

main().catch((err) => {
  process.stderr.write(`hollow nodes: ${errorText(err)}\n`);
  process.exit(1);
});
