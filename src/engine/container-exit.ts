/**
 * When a container's process exits: record how (exit code, OOM kill), give back what it held
 * (cgroups, network, driver volumes' mounts), then restart it as its policy says — with Docker's back-off — or remove
 * it (--rm).
 */

import type { FrameChannel } from "../runtime/native/channel.js";
import { waitExited } from "../runtime/native/monitor.js";
import { Msg } from "../runtime/native/protocol.js";
import { exitCodeOf } from "../runtime/runtime.js";
import { emptyNetworkSettings, plannedNetworks } from "./container-create.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { stopHealthcheck } from "./health.js";
import { unmountDriverVolumes } from "./volume-mounts.js";

/** Docker: the first restart waits 100 ms, each next one twice as long, reset after 10 s up. */
const BACKOFF_START = 100;
const BACKOFF_RESET_AFTER = 10_000;
const backoff = new Map<string, number>();

/** Follows a running container's monitor until the process exits, then handles the exit. */
export function watchContainer(engine: Engine, record: ContainerRecord, channel: FrameChannel): void {
  const id = record.Id;
  const exited = waitExited(channel)
    .catch(() => engine.runtime.exit(id)?.status ?? 255 << 8) // the monitor went away: its exit file says how
    .then(async (status) => {
      channel.close();
      // Not under the container's lock: stop and rm hold it while they wait for this.
      await handleExit(engine, id, status);
    })
    .catch((err: Error) => engine.log(`container ${id}: handling its exit failed: ${err.message}`));
  engine.running.set(id, { exited });
}

/** After a daemon restart: asks a live monitor to say when its process exits. */
export function rewatchContainer(engine: Engine, record: ContainerRecord, channel: FrameChannel): void {
  channel.send(Msg.WAIT);
  watchContainer(engine, record, channel);
}

export function shouldRestart(record: ContainerRecord): boolean {
  const policy = record.HostConfig.RestartPolicy;
  if (record.Berth.manuallyStopped) return false;
  switch (policy?.Name) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return (
        record.State.ExitCode !== 0 &&
        (!policy.MaximumRetryCount || record.RestartCount < policy.MaximumRetryCount)
      );
    default:
      return false;
  }
}

/** Records an exit (wait status) and applies the restart policy or --rm. */
export async function handleExit(engine: Engine, id: string, status: number): Promise<void> {
  const record = engine.store.find(id);
  engine.running.delete(id);
  stopHealthcheck(id);
  if (!record) return;
  let oomKilled = false;
  try {
    oomKilled = engine.runtime.oomKillCount(id) > 0;
  } catch {}
  await engine.runtime
    .delete(id, true)
    .catch((err: Error) => engine.log(`container ${id}: runtime delete: ${err.message}`));
  await unmountDriverVolumes(engine, record);
  if (engine.network && isNetworked(record))
    await engine.network
      .detach(id)
      .catch((err: Error) => engine.log(`container ${id}: network detach: ${err.message}`));
  // As docker: a stopped container keeps its networks, without addresses or ports.
  record.NetworkSettings = {
    ...emptyNetworkSettings(),
    Networks: plannedNetworks(engine, record, { keepUnknown: true }),
  };
  const ranFor = Date.now() - Date.parse(record.State.StartedAt);
  record.State = {
    ...record.State,
    Status: "exited",
    Running: false,
    Paused: false,
    Restarting: false,
    OOMKilled: oomKilled,
    Pid: 0,
    ExitCode: exitCodeOf(status),
    FinishedAt: new Date().toISOString(),
  };
  engine.save(record, { durable: false });
  if (oomKilled) engine.events.container(record, "oom");
  engine.events.container(record, "die", { exitCode: String(record.State.ExitCode) });
  if (shouldRestart(record)) {
    const delay =
      ranFor >= BACKOFF_RESET_AFTER
        ? BACKOFF_START
        : Math.min((backoff.get(id) ?? BACKOFF_START / 2) * 2, 60_000);
    backoff.set(id, delay);
    record.State.Restarting = true;
    record.State.Status = "restarting";
    engine.save(record, { durable: false });
    setTimeout(() => {
      void engine.lock(id, async () => {
        const current = engine.store.find(id);
        if (!current?.State.Restarting || current.Berth.manuallyStopped) return;
        current.RestartCount++;
        const { startContainer } = await import("./container-start.js");
        try {
          await startContainer(engine, current);
        } catch (err) {
          current.State.Restarting = false;
          current.State.Status = "exited";
          current.State.Error = (err as Error).message;
          engine.save(current, { durable: false });
          engine.log(`container ${id}: restart failed: ${(err as Error).message}`);
        }
      });
    }, delay).unref();
    return;
  }
  backoff.delete(id);
  if (record.HostConfig.AutoRemove) {
    const { removeContainer } = await import("./container-remove.js");
    await engine.lock(id, () => removeContainer(engine, record, { volumes: true, force: true }));
  }
}

export function isNetworked(record: ContainerRecord): boolean {
  const mode = record.HostConfig.NetworkMode || "default";
  return mode !== "none" && mode !== "host" && !mode.startsWith("container:");
}
