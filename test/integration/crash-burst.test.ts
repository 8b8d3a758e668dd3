/**
 * A daemon killed in the middle of a burst of runs, execs, stops and removals: after each
 * restart, what runs is what is listed (no process or monitor that no command sees), and `rm -f`
 * of everything leaves nothing.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Runtime } from "../../src/runtime/runtime.js";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { exited, hostProcesses } from "../helpers/processes.js";
import { sleep } from "../helpers/wait.js";

const d = new DaemonFixture();
before(async () => {
  await d.importBusybox();
  await d.start();
});
after(() => d.cleanup());

function dockerAsync(args: string[]): ChildProcess {
  return spawn("docker", ["-H", `unix://${d.socket}`, ...args], { stdio: "ignore" });
}

function monitors(): number[] {
  return hostProcesses()
    .filter((p) => p.comm === "berth-monitor")
    .map((p) => p.pid);
}

/** What the daemon lists against what its runtime holds: they must be the same. */
function assertListedIsWhatRuns(round: string): void {
  const listed = new Map(
    ok(d.docker(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}"]))
      .stdout.split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]),
  );
  const runtime = new Runtime({ root: join(d.runRoot, "runtime") });
  const held = new Map(runtime.list().map((c) => [c.state.id, c.state.status]));
  for (const [id, status] of held)
    assert.ok(
      (status === "running" || status === "paused") && listed.get(id) === status,
      `${round}: the runtime holds ${id.slice(0, 12)} (${status}); the daemon lists it as ${listed.get(id) ?? "nothing"}`,
    );
  for (const [id, state] of listed)
    if (state === "running")
      assert.equal(held.get(id), "running", `${round}: ${id.slice(0, 12)} is listed as running`);
  assert.deepEqual(runtime.ctx.dir.halfMade(), [], `${round}: half-made runtime state`);
}

test("a daemon killed at many points of a burst leaves only what it lists, and rm -f leaves nothing", async () => {
  const monitorsBefore = new Set(monitors());
  let n = 0;
  for (const delay of [20, 80, 160, 260, 400, 600, 900]) {
    const round = `kill after ${delay} ms`;
    const running = ok(d.docker(["ps", "-q"]))
      .stdout.split("\n")
      .filter(Boolean);
    const burst = [
      ...Array.from({ length: 6 }, () =>
        dockerAsync(["run", "-d", "--network", "none", "--name", `burst-${++n}`, "busybox", "sleep", "600"]),
      ),
      ...(running[0] ? [dockerAsync(["exec", running[0], "sleep", "600"])] : []),
      ...(running[1] ? [dockerAsync(["stop", "-t", "0", running[1]])] : []),
      ...(running[2] ? [dockerAsync(["rm", "-f", running[2]])] : []),
    ];
    await sleep(delay);
    await d.crash();
    await Promise.all(burst.map(exited));
    await d.start();
    assertListedIsWhatRuns(round);
  }
  const all = ok(d.docker(["ps", "-aq"]))
    .stdout.split("\n")
    .filter(Boolean);
  if (all.length) ok(d.docker(["rm", "-f", ...all]));
  assert.deepEqual(readdirSync(join(d.runRoot, "runtime")), [], "the runtime holds nothing");
  const left = monitors().filter((p) => !monitorsBefore.has(p));
  assert.deepEqual(left, [], "no monitor of ours runs");
});
