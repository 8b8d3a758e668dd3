/**
 * `delete`: take back everything a stopped container holds (with force, stop it first): its
 * processes, monitor, cgroup and state; then the poststop hooks.
 */
import { rmSync } from "node:fs";
import { Conflict, isErrno } from "../errors.js";
import { openCgroup } from "./cgroups/index.js";
import type { RuntimeContext } from "./context.js";
import { runHooksWarning } from "./hooks.js";
import { unmountUnder } from "./host-mounts.js";
import { ociState, processAlive, processStartTime } from "./state.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pid` is gone (or a zombie, or another process since `startTime`), up to `ms`. */
async function gone(pid: number, startTime: number | undefined, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let pause = 1;
  const running = () =>
    startTime === undefined ? processStartTime(pid) !== undefined : processAlive(pid, startTime);
  while (running()) {
    if (Date.now() > deadline) return false;
    await sleep(pause);
    pause = Math.min(pause * 2, 20);
  }
  return true;
}

export async function deleteContainer(ctx: RuntimeContext, id: string, force = false): Promise<string[]> {
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  if (status !== "stopped" && !force)
    throw new Conflict(
      `container "${id}" cannot be deleted: it is ${status} (stop it first, or use --force)`,
    );
  const cgroup = ctx.cgroupOf(record);
  if (status !== "stopped") {
    if (status === "paused") cgroup.thaw();
    try {
      process.kill(record.pid, "SIGKILL");
    } catch {}
    await cgroup.killAll();
  }
  // The monitor writes the exit status and leaves when the process is reaped; wait for it so that
  // nothing of the container outlives delete.
  if (record.monitorPid) await gone(record.monitorPid, record.monitorStartTime, 5000);
  await cgroup.destroy();
  if (record.hostMountsUnder) unmountUnder(record.hostMountsUnder);
  rmSync(ctx.dir.dir(id), { recursive: true, force: true });
  return runHooksWarning(record.spec.hooks?.poststop, ociState(record, "stopped"), "poststop");
}

/**
 * Takes back a container whose create never finished (its creator died half-way): what is in its
 * cgroup, the cgroup, and its state directory, which has no record. Its monitor, if it got that
 * far, ends the process itself when its creator goes (set-up cannot finish without it).
 */
export async function discardHalfMade(ctx: RuntimeContext, id: string, cgroupsPath: string): Promise<void> {
  try {
    const cgroup = openCgroup(cgroupsPath);
    await cgroup.killAll().catch(() => {});
    await cgroup.destroy();
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  rmSync(ctx.dir.dir(id), { recursive: true, force: true });
}
