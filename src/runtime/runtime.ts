/**
 * The runtime as a library: the OCI runtime operations on containers kept under one root
 * directory. `berth-runtime` is a thin command line over this; the engine calls it in-process.
 */
import type { LinuxResources, State } from "../oci/runtime-spec.js";
import type { CgroupStats } from "./cgroups/cgroup.js";
import { RuntimeContext } from "./context.js";
import { type CreatedContainer, type CreateOptions, createContainer } from "./create.js";
import { deleteContainer, discardHalfMade } from "./delete.js";
import { type ExecHandle, type ExecOptions, execInContainer } from "./exec.js";
import { killContainer } from "./kill.js";
import type { FrameChannel } from "./native/channel.js";
import type { MonitorSpawner } from "./native/spawner.js";
import { pauseContainer, resumeContainer } from "./pause.js";
import { startContainer } from "./start.js";
import { type ContainerRecord, type ExitRecord, ociState } from "./state.js";

export interface ContainerListing {
  state: State;
  created: string;
}

export class Runtime {
  readonly ctx: RuntimeContext;

  constructor(options: { root?: string; spawner?: MonitorSpawner } = {}) {
    this.ctx = new RuntimeContext(options.root, options.spawner);
  }

  create(id: string, options: CreateOptions): Promise<CreatedContainer> {
    return createContainer(this.ctx, id, options);
  }

  start(id: string, channel?: FrameChannel): Promise<string[]> {
    return startContainer(this.ctx, id, channel);
  }

  state(id: string): State {
    const record = this.ctx.dir.load(id);
    return ociState(record, this.ctx.status(record));
  }

  record(id: string): ContainerRecord {
    return this.ctx.dir.load(id);
  }

  /** The recorded exit of a stopped container, if its monitor recorded one. */
  exit(id: string): ExitRecord | undefined {
    return this.ctx.dir.exit(id);
  }

  kill(id: string, signal?: string | number, all = false): Promise<void> {
    return killContainer(this.ctx, id, signal, all);
  }

  delete(id: string, force = false): Promise<string[]> {
    return deleteContainer(this.ctx, id, force);
  }

  /** Takes back a create its caller never finished (see StateDir.halfMade). */
  discardHalfMade(id: string, cgroupsPath: string): Promise<void> {
    return discardHalfMade(this.ctx, id, cgroupsPath);
  }

  pause(id: string): Promise<void> {
    return pauseContainer(this.ctx, id);
  }

  resume(id: string): Promise<void> {
    return resumeContainer(this.ctx, id);
  }

  exec(id: string, options: ExecOptions): Promise<ExecHandle> {
    return execInContainer(this.ctx, id, options);
  }

  list(): ContainerListing[] {
    return this.ctx.dir.ids().flatMap((id) => {
      try {
        const record = this.ctx.dir.load(id);
        return [{ state: ociState(record, this.ctx.status(record)), created: record.created }];
      } catch {
        return []; // removed while we listed
      }
    });
  }

  stats(id: string): CgroupStats {
    return this.ctx.cgroupOf(this.ctx.dir.load(id)).stats();
  }

  oomKillCount(id: string): number {
    return this.ctx.cgroupOf(this.ctx.dir.load(id)).oomKillCount();
  }

  update(id: string, resources: LinuxResources): void {
    this.ctx.cgroupOf(this.ctx.dir.load(id)).apply(resources);
  }
}

/** The shell-style exit code of a wait status: the code, or 128 + the signal. */
export function exitCodeOf(waitStatus: number): number {
  const signal = waitStatus & 0x7f;
  return signal === 0 ? (waitStatus >> 8) & 0xff : 128 + signal;
}
