/**
 * Named volumes: a record per volume under the root, and for Docker's "local" driver its data
 * directory beside it. Anonymous volumes are named volumes with a random 64-hex name and a label
 * saying so. A volume of another driver (a volume plugin) is the driver's to create, mount and
 * remove; a mount of one is bound, per container use, on a mount point of the store's own under
 * `mountsRoot`, from the driver's tree resolved inside it (the driver's answer is not trusted).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Conflict, errorText, InvalidArgument, isErrno, NotFound, SystemError } from "../errors.js";
import { unmountUnder } from "../runtime/host-mounts.js";
import { diskUsage } from "../snapshot/disk-usage.js";
import { bindFromTree } from "../snapshot/fsops.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import type { VolumeDriver, VolumeDrivers } from "./volume-driver.js";

export const DEFAULT_VOLUME_ROOT = "/var/lib/berth/volumes";
export const DEFAULT_VOLUME_MOUNTS = "/run/berth/volumes";
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** Docker's `Volume` object (GET /volumes/{name}). */
export interface Volume {
  Name: string;
  /** "local", or the full name of the volume plugin that holds it. */
  Driver: string;
  /** The data directory (local); for a driver's volume, what the driver said last ("" before). */
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local" | "global";
  Options: Record<string, string>;
  /** What the driver reports (inspect only). */
  Status?: Record<string, unknown>;
}

export const LOCAL_DRIVER = "local";

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class NoSuchVolume extends NotFound {
  constructor(name: string) {
    super(`get ${name}: no such volume`);
  }
}

export class VolumeStore {
  private readonly volumes = new Map<string, Volume>();
  private drivers: VolumeDrivers | undefined;

  constructor(
    readonly root = DEFAULT_VOLUME_ROOT,
    /** Where mounts of drivers' volumes are bound for containers, one directory per mount id. */
    readonly mountsRoot = DEFAULT_VOLUME_MOUNTS,
  ) {}

  open(): this {
    mkdirSync(this.root, { recursive: true, mode: 0o701 });
    for (const name of readdirSync(this.root)) {
      try {
        this.volumes.set(
          name,
          JSON.parse(readFileSync(join(this.root, name, "volume.json"), "utf8")) as Volume,
        );
      } catch (err) {
        // a volume whose record was never written (crash during create): not a volume
        if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR") && !(err instanceof SyntaxError)) throw err;
      }
    }
    return this;
  }

  /** The drivers other than "local" (the daemon's volume plugins), known once they are loaded. */
  useDrivers(drivers: VolumeDrivers): void {
    this.drivers = drivers;
  }

  list(): Volume[] {
    return [...this.volumes.values()];
  }

  /** "local" and the drivers that can answer now (what `docker info` lists as volume plugins). */
  driverNames(): string[] {
    return [LOCAL_DRIVER, ...(this.drivers?.all().map((d) => d.name) ?? [])];
  }

  find(name: string): Volume | undefined {
    return this.volumes.get(name);
  }

  get(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw new NoSuchVolume(name);
    return v;
  }

  isLocal(v: Volume): boolean {
    return v.Driver === LOCAL_DRIVER;
  }

  /** The driver of a name other than "local"; NotFound as docker words it for an unknown one. */
  driver(name: string): VolumeDriver {
    if (!this.drivers)
      throw new NotFound(`error looking up volume plugin ${name}: plugin "${name}" not found`);
    return this.drivers.get(name);
  }

  /** Creates a volume, or returns the existing one of that name (as `docker volume create` does). */
  async create(
    name: string | undefined,
    options: { labels?: Record<string, string>; driver?: string; driverOpts?: Record<string, string> } = {},
  ): Promise<Volume> {
    const driver =
      options.driver && options.driver !== LOCAL_DRIVER ? this.driver(options.driver) : undefined;
    if (!driver && options.driverOpts && Object.keys(options.driverOpts).length)
      throw new InvalidArgument(
        `volume driver options are not supported: ${Object.keys(options.driverOpts).join(", ")}`,
      );
    const anonymous = !name;
    const volumeName = name ?? randomBytes(32).toString("hex");
    if (!NAME.test(volumeName))
      throw new InvalidArgument(
        `"${volumeName}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
      );
    const existing = this.volumes.get(volumeName);
    const driverName = driver?.name ?? LOCAL_DRIVER;
    if (existing) {
      if (options.driver && existing.Driver !== driverName)
        throw new Conflict(
          `create ${volumeName}: a volume of this name already exists with the "${existing.Driver}" driver`,
        );
      return existing;
    }
    const dir = join(this.root, volumeName);
    let scope: Volume["Scope"] = "local";
    if (driver) {
      await driver.create(volumeName, options.driverOpts ?? {});
      scope = await driver.scope();
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } else mkdirSync(join(dir, "_data"), { recursive: true, mode: 0o755 });
    const volume: Volume = {
      Name: volumeName,
      Driver: driverName,
      Mountpoint: driver ? "" : join(dir, "_data"),
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      Labels: { ...(options.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: "" } : {}) },
      Scope: scope,
      Options: driver ? { ...(options.driverOpts ?? {}) } : {},
    };
    writeFileAtomicSync(join(dir, "volume.json"), JSON.stringify(volume));
    this.volumes.set(volumeName, volume);
    return volume;
  }

  /** A volume as inspect shows it: a driver's volume with what its driver says now. */
  async inspect(v: Volume): Promise<Volume> {
    if (this.isLocal(v)) return v;
    const now = await this.driver(v.Driver).get(v.Name);
    return {
      ...v,
      Mountpoint: now.Mountpoint,
      ...(now.CreatedAt ? { CreatedAt: now.CreatedAt } : {}),
      ...(now.Status ? { Status: now.Status } : {}),
    };
  }

  /**
   * Records the volumes the enabled drivers have and this store does not (made before, or by
   * another daemon), as dockerd lists them; a driver that fails to answer is left out.
   */
  async adoptFromDrivers(log: (message: string) => void = () => {}): Promise<void> {
    for (const driver of this.drivers?.all() ?? []) {
      let listed: { Name: string }[];
      try {
        listed = await driver.list();
      } catch (err) {
        log(`volume driver ${driver.name}: ${errorText(err)}`);
        continue;
      }
      for (const { Name } of listed) {
        if (this.volumes.has(Name) || !NAME.test(Name)) continue;
        const volume: Volume = {
          Name,
          Driver: driver.name,
          Mountpoint: "",
          CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          Labels: {},
          Scope: "local",
          Options: {},
        };
        mkdirSync(join(this.root, Name), { recursive: true, mode: 0o700 });
        writeFileAtomicSync(join(this.root, Name, "volume.json"), JSON.stringify(volume));
        this.volumes.set(Name, volume);
      }
    }
  }

  isAnonymous(v: Volume): boolean {
    return ANONYMOUS_LABEL in v.Labels;
  }

  /**
   * Removes a volume; `usedBy` lists the containers that still reference it (refused if any).
   * A driver's volume is removed by its driver first; with `force`, a driver that is gone or
   * disabled does not keep the record.
   */
  async remove(name: string, usedBy: string[], force = false): Promise<void> {
    const v = this.volumes.get(name);
    if (!v) {
      if (force) return;
      throw new NoSuchVolume(name);
    }
    if (usedBy.length) throw new Conflict(`remove ${name}: volume is in use - [${usedBy.join(", ")}]`);
    if (!this.isLocal(v)) {
      try {
        await this.driver(v.Driver).remove(name);
      } catch (err) {
        if (!force) throw err;
      }
    }
    rmSync(join(this.root, name), { recursive: true, force: true });
    this.volumes.delete(name);
  }

  /**
   * The host directory a container binds for volume `v`. A driver's volume is mounted by the
   * driver for this use (`id`), and the directory it names is bound on `<mountsRoot>/<id>`,
   * resolved inside the driver's tree: that bind is what the container gets.
   */
  async mount(v: Volume, id: string): Promise<string> {
    if (this.isLocal(v)) return v.Mountpoint;
    const driver = this.driver(v.Driver);
    const where = await driver.mount(v.Name, id);
    const target = join(this.mountsRoot, id);
    try {
      mkdirSync(target, { recursive: true, mode: 0o700 });
      await bindFromTree(where.root, where.path, target, false);
      return target;
    } catch (err) {
      unbind(target);
      await driver.unmount(v.Name, id).catch(() => {});
      throw new SystemError(`mount volume ${v.Name} of ${v.Driver}: ${errorText(err)}`, { cause: err });
    }
  }

  /** Undoes mount(v, id): the bind goes first, whatever the driver then answers. */
  async unmount(v: Volume, id: string): Promise<void> {
    if (this.isLocal(v)) return;
    unbind(join(this.mountsRoot, id));
    await this.driver(v.Driver).unmount(v.Name, id);
  }

  /** Detaches the binds under mountsRoot that no container holds (what a crash left). */
  releaseLeftoverMounts(keep: Set<string>): string[] {
    let ids: string[] = [];
    try {
      ids = readdirSync(this.mountsRoot);
    } catch {}
    const released = ids.filter((id) => !keep.has(id));
    for (const id of released) unbind(join(this.mountsRoot, id));
    return released;
  }

  /** Bytes the volume's data take on disk (a driver's volume: not Berth's to count). */
  async size(v: Volume): Promise<number> {
    if (!this.isLocal(v)) return 0;
    return (await diskUsage(v.Mountpoint)).size;
  }

  /**
   * Whether the volume's data directory holds nothing yet (it is filled from the image then).
   * A driver's volume is the driver's: never filled.
   */
  isEmpty(v: Volume): boolean {
    if (!this.isLocal(v)) return false;
    try {
      return readdirSync(v.Mountpoint).length === 0;
    } catch {
      return true;
    }
  }
}

/** Detaches a bind of the store's (with what is below it) and removes its mount point. */
function unbind(target: string): void {
  unmountUnder(target);
  try {
    rmdirSync(target);
  } catch {}
}
