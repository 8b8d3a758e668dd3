/**
 * A container's volumes that a volume driver (a plugin) holds: mounted for each start, with an
 * id of that use, and unmounted with the same id when the container stops — every Mount mirrored
 * by one Unmount, also after a crash (the ids are in the record before the process runs).
 */
import { randomBytes } from "node:crypto";
import { errorText } from "../errors.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { mountPoints } from "./mounts.js";

function driverVolumes(record: ContainerRecord) {
  return record.Berth.mounts.filter((m) => m.Type === "volume" && m.Name && m.Driver && m.Driver !== "local");
}

/** Mounts the driver volumes for a start; on a failure, what was mounted is unmounted again. */
export async function mountDriverVolumes(engine: Engine, record: ContainerRecord): Promise<void> {
  const mounts = driverVolumes(record);
  if (!mounts.length) return;
  try {
    for (const m of mounts) {
      const volume = engine.volumes.get(m.Name!);
      const id = randomBytes(16).toString("hex");
      m.Source = await engine.volumes.mount(volume, id);
      m.MountId = id;
      // Known before the process runs: an unmount after a crash needs the id.
      record.Mounts = mountPoints(record.Berth.mounts);
      engine.save(record, { durable: false });
    }
  } catch (err) {
    await unmountDriverVolumes(engine, record);
    throw err;
  }
}

/** Unmounts what mountDriverVolumes mounted (failures are logged: the container has ended). */
export async function unmountDriverVolumes(engine: Engine, record: ContainerRecord): Promise<void> {
  let changed = false;
  for (const m of driverVolumes(record)) {
    const id = m.MountId;
    if (!id) continue;
    const volume = engine.volumes.find(m.Name!);
    if (volume)
      await engine.volumes
        .unmount(volume, id)
        .catch((err: unknown) =>
          engine.log(`container ${record.Id}: unmount volume ${m.Name}: ${errorText(err)}`),
        );
    delete m.MountId;
    m.Source = "";
    changed = true;
  }
  if (!changed) return;
  record.Mounts = mountPoints(record.Berth.mounts);
  engine.save(record, { durable: false });
}

/** The mount ids that containers hold now (the binds a daemon start must leave in place). */
export function heldMountIds(engine: Engine): Set<string> {
  return new Set(
    engine.store.all().flatMap((c) => c.Berth.mounts.flatMap((m) => (m.MountId ? [m.MountId] : []))),
  );
}
