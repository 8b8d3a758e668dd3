/**
 * Named volumes (Docker's "local" driver): a directory per volume under the root, its record
 * beside it. Anonymous volumes are named volumes with a random 64-hex name and a label saying so.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Conflict, InvalidArgument, isErrno, NotFound } from "../errors.js";
import { diskUsage } from "../snapshot/disk-usage.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";

export const DEFAULT_VOLUME_ROOT = "/var/lib/berth/volumes";
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

/** Docker's `Volume` object (GET /volumes/{name}). */
export interface Volume {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string>;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class NoSuchVolume extends NotFound {
  constructor(name: string) {
    super(`get ${name}: no such volume`);
  }
}

export class VolumeStore {
  private readonly volumes = new Map<string, Volume>();

  constructor(readonly root = DEFAULT_VOLUME_ROOT) {}

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
        if (!isErrno(err, "ENOENT") && !(err instanceof SyntaxError)) throw err;
      }
    }
    return this;
  }

  list(): Volume[] {
    return [...this.volumes.values()];
  }

  find(name: string): Volume | undefined {
    return this.volumes.get(name);
  }

  get(name: string): Volume {
    const v = this.volumes.get(name);
    if (!v) throw new NoSuchVolume(name);
    return v;
  }

  /** Creates a volume, or returns the existing one of that name (as `docker volume create` does). */
  create(
    name: string | undefined,
    options: { labels?: Record<string, string>; driver?: string; driverOpts?: Record<string, string> } = {},
  ): Volume {
    if (options.driver && options.driver !== "local")
      throw new NotFound(
        `error looking up volume plugin ${options.driver}: plugin "${options.driver}" not found`,
      );
    if (options.driverOpts && Object.keys(options.driverOpts).length)
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
    if (existing) return existing;
    const dir = join(this.root, volumeName);
    mkdirSync(join(dir, "_data"), { recursive: true, mode: 0o755 });
    const volume: Volume = {
      Name: volumeName,
      Driver: "local",
      Mountpoint: join(dir, "_data"),
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      Labels: { ...(options.labels ?? {}), ...(anonymous ? { [ANONYMOUS_LABEL]: "" } : {}) },
      Scope: "local",
      Options: {},
    };
    writeFileAtomicSync(join(dir, "volume.json"), JSON.stringify(volume));
    this.volumes.set(volumeName, volume);
    return volume;
  }

  isAnonymous(v: Volume): boolean {
    return ANONYMOUS_LABEL in v.Labels;
  }

  /** Removes a volume; `usedBy` lists the containers that still reference it (refused if any). */
  remove(name: string, usedBy: string[], force = false): void {
    const v = this.volumes.get(name);
    if (!v) {
      if (force) return;
      throw new NoSuchVolume(name);
    }
    if (usedBy.length) throw new Conflict(`remove ${name}: volume is in use - [${usedBy.join(", ")}]`);
    rmSync(join(this.root, name), { recursive: true, force: true });
    this.volumes.delete(name);
  }

  /** Bytes the volume's data take on disk. */
  async size(v: Volume): Promise<number> {
    return (await diskUsage(v.Mountpoint)).size;
  }

  /** Whether the volume's data directory holds nothing yet (it is filled from the image then). */
  isEmpty(v: Volume): boolean {
    try {
      return readdirSync(v.Mountpoint).length === 0;
    } catch {
      return true;
    }
  }
}
