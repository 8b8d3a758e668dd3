/**
 * The engine: container records and their lifecycle, joined to the parts that do the work —
 * images and snapshots, the runtime, volumes, networks. The verbs live one per module
 * (container-create.ts, container-start.ts, …); this class holds the shared state.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { errorText } from "../errors.js";
import type { ImageService } from "../image/service.js";
import type { LinuxSeccomp } from "../oci/runtime-spec.js";
import { defaultSeccompProfile } from "../oci/seccomp-default.js";
import { monitorPath } from "../runtime/native/monitor.js";
import { MonitorSpawner } from "../runtime/native/spawner.js";
import { Runtime } from "../runtime/runtime.js";
import type { Snapshotter } from "../snapshot/snapshotter.js";
import { KeyedMutex } from "../util/mutex.js";
import { VolumeStore } from "../volume/volume-store.js";
import { ContainerStore } from "./container-store.js";
import type { ContainerRecord } from "./docker-types.js";
import { EventBus } from "./events.js";
import type { NetworkProvider } from "./network-provider.js";
import type { RemappedUserns } from "./userns-views.js";

export interface EngineOptions {
  /** Persistent state (default /var/lib/berth). */
  root: string;
  /** Runtime state that a reboot may wipe (default /run/berth). */
  runRoot: string;
  images: ImageService;
  snapshotter: Snapshotter;
  network?: NetworkProvider;
  /** Parent of container cgroups; default: berth/<id> under the daemon's own cgroup. */
  cgroupParent?: string;
  /** Default log rotation for containers (docker's --log-opt max-size/max-file). */
  logMaxSize?: number;
  logMaxFiles?: number;
  log?: (message: string) => void;
  /** --userns-remap: the mappings and the idmapped views remapped containers read files through. */
  userns?: RemappedUserns;
}

/** What a running container holds while the engine watches it. */
export interface Running {
  /** Resolves when the monitor reports the exit (or the engine notices it is gone). */
  exited: Promise<void>;
}

export class Engine {
  readonly store: ContainerStore;
  readonly volumes: VolumeStore;
  readonly runtime: Runtime;
  readonly events = new EventBus();
  readonly images: ImageService;
  readonly snapshotter: Snapshotter;
  readonly network: NetworkProvider | undefined;
  /** Containers being watched (running, or starting), by id. */
  readonly running = new Map<string, Running>();
  private readonly locks = new KeyedMutex();
  private readonly seccompProfiles = new Map<string, LinuxSeccomp>();
  readonly log: (message: string) => void;

  constructor(readonly options: EngineOptions) {
    this.store = new ContainerStore(join(options.root, "containers"));
    this.volumes = new VolumeStore(join(options.root, "volumes"), join(options.runRoot, "volumes"));
    this.runtime = new Runtime({
      root: join(options.runRoot, "runtime"),
      spawner: new MonitorSpawner(join(options.runRoot, "monitors.sock"), monitorPath),
    });
    this.images = options.images;
    this.snapshotter = options.snapshotter;
    this.network = options.network;
    this.log = options.log ?? (() => {});
  }

  open(): this {
    mkdirSync(this.options.runRoot, { recursive: true, mode: 0o711 });
    this.store.open((file, err) => this.log(`skipping unreadable container record ${file}: ${err.message}`));
    this.volumes.open();
    return this;
  }

  /** The daemon's remap for a container, unless it asked for the host's user namespace. */
  usernsFor(record: ContainerRecord): RemappedUserns | undefined {
    return record.HostConfig.UsernsMode === "host" ? undefined : this.options.userns;
  }

  /** Serialises the verbs on one container (start and stop racing, say). */
  lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  forget(id: string): void {
    this.locks.forget(id);
    this.running.delete(id);
  }

  /**
   * Writes a container's record. What only this boot makes true (`durable: false`: running, pid,
   * exit state) is kept in memory when the write fails (a full disk), logged: live restore
   * re-derives it, and a container's exit must be handled whatever the disk says.
   */
  save(record: ContainerRecord, options: { durable?: boolean } = {}): void {
    if (options.durable !== false) {
      this.store.save(record, options);
      return;
    }
    try {
      this.store.save(record, options);
    } catch (err) {
      this.log(`container ${record.Id}: recording its state: ${errorText(err)}`);
    }
  }

  /** The directory of a container's files other than its record (logs, hosts, resolv.conf). */
  containerDir(id: string): string {
    return this.store.dir(id);
  }

  /** A mount point every container's root is mounted on, inside its own mount namespace. */
  rootfsMountpoint(): string {
    const dir = join(this.options.runRoot, "rootfs");
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Docker's default seccomp profile for a capability set, built once per set. */
  seccompFor(capabilities: string[]): LinuxSeccomp {
    const key = [...capabilities].sort().join(",");
    let profile = this.seccompProfiles.get(key);
    if (!profile) {
      profile = defaultSeccompProfile(capabilities);
      this.seccompProfiles.set(key, profile);
    }
    return profile;
  }

  /** The cgroupsPath of a container's spec: its own --cgroup-parent, or the daemon's. */
  containerCgroupsPath(record: Pick<ContainerRecord, "Id" | "HostConfig">): string {
    return record.HostConfig.CgroupParent
      ? `${record.HostConfig.CgroupParent}/${record.Id}`
      : this.cgroupsPath(record.Id);
  }

  cgroupsPath(id: string): string {
    return this.options.cgroupParent
      ? `${this.options.cgroupParent.replace(/\/$/, "")}/${id}`
      : `berth/${id}`;
  }

  /** Which containers use a volume (rm refuses, prune skips). */
  volumeUsers(name: string): string[] {
    return this.store
      .all()
      .filter((c) => c.Mounts.some((m) => m.Type === "volume" && m.Name === name))
      .map((c) => c.Id);
  }

  imageInUse(imageId: string): boolean {
    return this.store.all().some((c) => c.Image === imageId);
  }
}
