/** `docker rm`: everything a container took — process, snapshot, anonymous volumes (-v), files, record. */
import { Conflict } from "../errors.js";
import { killContainer } from "./container-stop.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { unmountDriverVolumes } from "./volume-mounts.js";

export async function removeContainer(
  engine: Engine,
  record: ContainerRecord,
  options: { force?: boolean; volumes?: boolean } = {},
): Promise<void> {
  if (record.State.Running || record.State.Restarting) {
    if (!options.force)
      throw new Conflict(
        `You cannot remove a ${record.State.Paused ? "paused" : "running"} container ${record.Id}. Stop the container before attempting removal or force remove`,
      );
    record.Berth.manuallyStopped = true;
    record.State.Restarting = false;
    if (record.State.Running) {
      await killContainer(engine, record, "SIGKILL").catch(() => {});
      await engine.running.get(record.Id)?.exited;
    }
  }
  // The exit handler has usually released the network already; this covers a created container.
  await engine.network?.detach(record.Id);
  // A start that a crash cut short may have left the runtime's container (the daemon's start ends
  // those; this covers one that failed since).
  if (!record.State.Running && engine.runtime.ctx.dir.exists(record.Id))
    await engine.runtime
      .delete(record.Id, true)
      .catch((err: Error) => engine.log(`container ${record.Id}: runtime delete: ${err.message}`));
  // Mounts of driver volumes that a crash kept from being given back at the exit.
  await unmountDriverVolumes(engine, record);
  record.State.Status = "removing";
  // The record may not know of a snapshot made just before a crash (see snapshotMounts).
  if (record.Berth.snapshotPrepared || (await engine.snapshotter.stat(record.Id)))
    await engine.snapshotter
      .remove(record.Id)
      .catch((err: Error) => engine.log(`container ${record.Id}: remove snapshot: ${err.message}`));
  engine.store.remove(record);
  if (options.volumes)
    for (const m of record.Berth.mounts) {
      if (m.Type !== "volume" || !m.Name) continue;
      const v = engine.volumes.find(m.Name);
      if (v && engine.volumes.isAnonymous(v) && engine.volumeUsers(v.Name).length === 0)
        await engine.volumes
          .remove(v.Name, [])
          .catch((err: Error) =>
            engine.log(`container ${record.Id}: remove volume ${v.Name}: ${err.message}`),
          );
    }
  engine.forget(record.Id);
  engine.events.container(record, "destroy");
}
