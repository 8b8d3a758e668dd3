/**
 * At daemon start: find the containers that kept running while no daemon watched them (their
 * monitors outlive us), follow them again, and settle the ones that exited meanwhile — with their
 * real exit status, from the exit file their monitor wrote. What a crash left half-way (a start
 * never recorded, a removal not finished) is ended, so that what runs is what is listed.
 */
import { connectMonitor } from "../runtime/native/channel.js";
import { handleExit, rewatchContainer } from "./container-exit.js";
import type { Engine } from "./engine.js";
import { startHealthcheck } from "./health.js";

export async function restoreContainers(
  engine: Engine,
): Promise<{ restored: string[]; exited: string[]; ended: string[] }> {
  const restored: string[] = [];
  const exited: string[] = [];
  const ended: string[] = [];
  const known = new Set<string>();
  // Creates the crash cut short, before the runtime had a record of them (first: a restart
  // below would find the id taken).
  for (const id of engine.runtime.ctx.dir.halfMade()) {
    const record = engine.store.find(id);
    await engine.runtime
      .discardHalfMade(id, record ? engine.containerCgroupsPath(record) : engine.cgroupsPath(id))
      .catch((err: Error) => engine.log(`container ${id}: take back a half-made create: ${err.message}`));
  }
  for (const record of engine.store.all()) {
    known.add(record.Id);
    if (!record.State.Running && !record.State.Restarting) {
      // A start the crash cut short (created, or even started, but never recorded as running),
      // or an rm of a created container: its monitor and process run on where no command sees them.
      if (engine.runtime.ctx.dir.exists(record.Id) && (await endUnrecorded(engine, record.Id)))
        ended.push(record.Id);
      continue;
    }
    let status: string | undefined;
    try {
      status = engine.runtime.state(record.Id).status;
    } catch {
      status = undefined; // no runtime state: the host rebooted, or the runtime state was lost
    }
    if (status === "running" || status === "paused") {
      try {
        const channel = await connectMonitor(engine.runtime.ctx.dir.controlSocket(record.Id));
        rewatchContainer(engine, record, channel);
        startHealthcheck(engine, record, true);
        record.State.Paused = status === "paused";
        record.State.Status = status;
        engine.save(record);
        restored.push(record.Id);
        continue;
      } catch {
        // the monitor is gone although the process runs: fall through and settle it as exited
      }
    }
    // Exited while we were away (or cannot be followed): record it, with the status from the
    // exit file when there is one (255 when nothing says how it ended, as Docker after a crash).
    let waitStatus = 255 << 8;
    try {
      waitStatus = engine.runtime.exit(record.Id)?.status ?? waitStatus;
    } catch {}
    await handleExit(engine, record.Id, waitStatus);
    exited.push(record.Id);
  }
  // The runtime's containers that no record names (an rm the crash interrupted) go too.
  for (const id of engine.runtime.ctx.dir.ids())
    if (!known.has(id) && (await endUnrecorded(engine, id))) ended.push(id);
  return { restored, exited, ended };
}

/**
 * Ends a runtime container that its record does not show as running: process, monitor, cgroup
 * and runtime state. The client that asked for the start got no answer or an error, and the
 * record stays as it says (created): what runs is then what is listed. Returns whether it ran.
 */
async function endUnrecorded(engine: Engine, id: string): Promise<boolean> {
  let status: string;
  try {
    status = engine.runtime.state(id).status;
  } catch {
    return false; // removed meanwhile, or a state file the crash left half-made (the delete below)
  }
  await engine.runtime
    .delete(id, true)
    .catch((err: Error) => engine.log(`container ${id}: end what a crash left: ${err.message}`));
  return status !== "stopped";
}
