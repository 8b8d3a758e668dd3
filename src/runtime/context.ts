/** What every runtime verb works with: the state directory and the host's cgroups. */

import type { Status } from "../oci/runtime-spec.js";
import type { Cgroup } from "./cgroups/cgroup.js";
import { openCgroup } from "./cgroups/index.js";
import type { MonitorSpawner } from "./native/spawner.js";
import { type ContainerRecord, StateDir, statusOf } from "./state.js";

export class RuntimeContext {
  readonly dir: StateDir;

  constructor(
    root?: string,
    /** Starts monitors without forking this process (the daemon's); none: they are our children. */
    readonly spawner?: MonitorSpawner,
  ) {
    this.dir = new StateDir(root);
  }

  cgroupOf(record: Pick<ContainerRecord, "cgroupPath">): Cgroup {
    return openCgroup(record.cgroupPath);
  }

  status(record: ContainerRecord): Status {
    return statusOf(record, this.dir, () => {
      try {
        return this.cgroupOf(record).isFrozen();
      } catch {
        return false;
      }
    });
  }
}
