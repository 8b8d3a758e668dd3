/**
 * At daemon start: find the containers that kept running while no daemon watched them (their
 * monitors outlive us), follow them again, and settle the ones that exited meanwhile — with their
 * real exit status, from the exit file their monitor wrote.
 */
import { connectMonitor } from "../runtime/native/channel.js";
import { handleExit, rewatchContainer } from "./container-exit.js";
import type { Engine } from "./engine.js";
import { startHealthcheck } from "./health.js";

export async function restoreContainers(engine: Engine): Promise<{ restored: string[]; exited: string[] }> {
  const restored: string[] = [];
  const exited: string[] = [];
  for (const record of engine.store.all()) {
    if (!record.State.Running && !record.State.Restarting) continue;
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
  return { restored, exited };
}
