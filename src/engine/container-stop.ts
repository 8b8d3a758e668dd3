/** stop, kill, restart, pause, unpause: signals and the freezer, with Docker's semantics. */
import { Conflict, errorText } from "../errors.js";
import { parseSignal } from "../runtime/signals.js";
import { startContainer } from "./container-start.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";

const DEFAULT_STOP_TIMEOUT = 10;

function notRunning(record: ContainerRecord): Conflict {
  return new Conflict(`Container ${record.Id} is not running`);
}

/** Waits for the running container's exit to be handled, up to `ms` (true if it was). */
async function exitedWithin(engine: Engine, id: string, ms: number): Promise<boolean> {
  const running = engine.running.get(id);
  if (!running) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([running.exited.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
}

export async function killContainer(
  engine: Engine,
  record: ContainerRecord,
  signal = "SIGKILL",
): Promise<void> {
  const sig = parseSignal(signal);
  if (!record.State.Running) throw notRunning(record);
  if (record.State.Paused && sig !== 9)
    throw new Conflict(`Container ${record.Id} is paused. Unpause the container before stopping or killing`);
  engine.events.container(record, "kill", { signal: String(sig) });
  if (record.State.Paused) await engine.runtime.resume(record.Id).catch(() => {});
  await engine.runtime.kill(record.Id, sig);
  // As dockerd: a SIGKILL returns once the container is seen to have exited, so that the next
  // inspect says "exited" and an rm right after is not refused as running.
  if (sig === 9) await exitedWithin(engine, record.Id, KILL_WAIT_MS);
}

const KILL_WAIT_MS = 10_000;

/**
 * `docker stop`: the stop signal, then SIGKILL after the timeout; the container stays stopped
 * (no restart policy applies after a user's stop).
 */
export async function stopContainer(
  engine: Engine,
  record: ContainerRecord,
  timeout?: number,
  signal?: string,
): Promise<"stopped" | "not-running"> {
  if (!record.State.Running && !record.State.Restarting) return "not-running";
  record.Berth.manuallyStopped = true;
  if (record.State.Restarting) {
    record.State.Restarting = false;
    record.State.Status = "exited";
    engine.save(record);
    engine.events.container(record, "stop");
    return "stopped";
  }
  try {
    engine.save(record);
  } catch (err) {
    // A full disk must not keep a container running (docker stops it too): the stop goes on,
    // and the record on disk catches up at its next save.
    engine.log(`container ${record.Id}: recording its stop: ${errorText(err)}`);
  }
  const seconds = timeout ?? record.Config.StopTimeout ?? DEFAULT_STOP_TIMEOUT;
  const sig = signal ?? record.Config.StopSignal ?? "SIGTERM";
  if (record.State.Paused) {
    await engine.runtime.resume(record.Id).catch(() => {});
    record.State.Paused = false;
  }
  if (seconds !== 0) {
    await killContainer(engine, record, sig).catch(() => {});
    if (seconds < 0) await exitedWithin(engine, record.Id, 2 ** 31 - 1);
  }
  if (!(await exitedWithin(engine, record.Id, Math.max(seconds, 0) * 1000))) {
    await killContainer(engine, record, "SIGKILL").catch(() => {});
    await exitedWithin(engine, record.Id, 30_000);
  }
  engine.events.container(record, "stop");
  return "stopped";
}

export async function restartContainer(
  engine: Engine,
  record: ContainerRecord,
  timeout?: number,
  signal?: string,
): Promise<void> {
  await stopContainer(engine, record, timeout, signal);
  await startContainer(engine, record);
  engine.events.container(record, "restart");
}

export async function pauseContainer(engine: Engine, record: ContainerRecord): Promise<void> {
  if (!record.State.Running) throw notRunning(record);
  if (record.State.Paused) throw new Conflict(`Container ${record.Id} is already paused`);
  await engine.runtime.pause(record.Id);
  record.State.Paused = true;
  record.State.Status = "paused";
  engine.save(record);
  engine.events.container(record, "pause");
}

export async function unpauseContainer(engine: Engine, record: ContainerRecord): Promise<void> {
  if (!record.State.Paused) throw new Conflict(`Container ${record.Id} is not paused`);
  await engine.runtime.resume(record.Id);
  record.State.Paused = false;
  record.State.Status = "running";
  engine.save(record);
  engine.events.container(record, "unpause");
}
