/**
 * A container's mounts the way Docker reads them: `-v` binds and volumes (HostConfig.Binds),
 * `--mount` (HostConfig.Mounts), `--tmpfs` (HostConfig.Tmpfs) and anonymous volumes for the
 * image's and the container's VOLUMEs. planMounts runs at create (it creates volumes);
 * ociMounts turns the stored mount points into OCI mounts at start, after a volume driver's
 * volumes were mounted for that start (volume-mounts.ts).
 */
import { existsSync, mkdirSync } from "node:fs";
import { posix } from "node:path";
import { InvalidArgument } from "../errors.js";
import type { Mount } from "../oci/runtime-spec.js";
import type { VolumeStore } from "../volume/volume-store.js";
import type { ContainerConfig, HostConfig, MountPoint, PlannedMount } from "./docker-types.js";

export type { PlannedMount };

const PROPAGATIONS = new Set(["private", "rprivate", "shared", "rshared", "slave", "rslave"]);

function checkTarget(dest: string, what: string): string {
  if (!dest.startsWith("/"))
    throw new InvalidArgument(
      `invalid mount config for type "${what}": invalid mount path: '${dest}' mount path must be absolute`,
    );
  const clean = posix.normalize(dest);
  if (clean === "/")
    throw new InvalidArgument(
      `invalid mount config for type "${what}": invalid specification: destination can't be '/'`,
    );
  return clean.replace(/\/$/, "");
}

/** `-v SRC:DST[:OPTS]` / `-v VOLUME:DST[:OPTS]`; a named volume is made by `volumeDriver` if new. */
async function parseBind(
  spec: string,
  volumes: VolumeStore,
  volumeDriver: string | undefined,
): Promise<PlannedMount> {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3 || !parts[0] || !parts[1])
    throw new InvalidArgument(`invalid volume specification: '${spec}'`);
  const [source, target, options = ""] = parts as [string, string, string?];
  let rw = true;
  let propagation = "";
  let noCopy = false;
  for (const o of options.split(",").filter(Boolean)) {
    if (o === "ro") rw = false;
    else if (o === "rw") rw = true;
    else if (PROPAGATIONS.has(o)) propagation = o;
    else if (o === "nocopy") noCopy = true;
    else if (o === "z" || o === "Z" || o === "consistent" || o === "cached" || o === "delegated") continue;
    else throw new InvalidArgument(`invalid mode: ${o}`);
  }
  const destination = checkTarget(target, source.startsWith("/") ? "bind" : "volume");
  if (source.startsWith("/")) {
    // `-v` creates a missing host directory (unlike --mount type=bind), as Docker does.
    if (!existsSync(source)) mkdirSync(source, { recursive: true });
    return {
      Type: "bind",
      Source: posix.normalize(source),
      Destination: destination,
      Mode: options,
      RW: rw,
      Propagation: propagation || "rprivate",
    };
  }
  if (noCopy && propagation) throw new InvalidArgument(`invalid mode: ${options}`);
  const volume = await volumes.create(source, volumeDriver ? { driver: volumeDriver } : {});
  return {
    Type: "volume",
    Name: volume.Name,
    Source: volume.Mountpoint,
    Destination: destination,
    Driver: volume.Driver,
    Mode: options,
    RW: rw,
    Propagation: "",
    ...(noCopy ? { NoCopy: true } : {}),
  };
}

async function fromMountSpec(
  m: NonNullable<HostConfig["Mounts"]>[number],
  volumes: VolumeStore,
): Promise<PlannedMount> {
  const destination = checkTarget(m.Target ?? "", m.Type);
  const rw = !m.ReadOnly;
  switch (m.Type) {
    case "bind": {
      if (!m.Source)
        throw new InvalidArgument('invalid mount config for type "bind": field Source must not be empty');
      if (!existsSync(m.Source)) {
        if (!m.BindOptions?.CreateMountpoint)
          throw new InvalidArgument(
            `invalid mount config for type "bind": bind source path does not exist: ${m.Source}`,
          );
        mkdirSync(m.Source, { recursive: true });
      }
      return {
        Type: "bind",
        Source: m.Source,
        Destination: destination,
        Mode: "",
        RW: rw,
        Propagation: m.BindOptions?.Propagation || "rprivate",
      };
    }
    case "volume": {
      const driver = m.VolumeOptions?.DriverConfig;
      const volume = await volumes.create(m.Source || undefined, {
        ...(m.VolumeOptions?.Labels ? { labels: m.VolumeOptions.Labels } : {}),
        ...(driver?.Name ? { driver: driver.Name } : {}),
        ...(driver?.Options && Object.keys(driver.Options).length ? { driverOpts: driver.Options } : {}),
      });
      return {
        Type: "volume",
        Name: volume.Name,
        Source: volume.Mountpoint,
        Destination: destination,
        Driver: volume.Driver,
        Mode: "z",
        RW: rw,
        Propagation: "",
        ...(m.VolumeOptions?.NoCopy ? { NoCopy: true } : {}),
      };
    }
    case "tmpfs": {
      if (m.Source)
        throw new InvalidArgument(
          'invalid mount config for type "tmpfs": field Source must not be specified',
        );
      const opts: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) opts.push(`size=${m.TmpfsOptions.SizeBytes}`);
      if (m.TmpfsOptions?.Mode) opts.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      return {
        Type: "tmpfs",
        Source: "",
        Destination: destination,
        Mode: "",
        RW: rw,
        Propagation: "",
        TmpfsOptions: opts.join(","),
      };
    }
    default:
      throw new InvalidArgument(`mount type "${m.Type}" is not supported`);
  }
}

/**
 * Every mount of a new container, creating the volumes it names and anonymous ones for VOLUMEs
 * (named and anonymous ones new with HostConfig.VolumeDriver, docker's --volume-driver).
 */
export async function planMounts(
  config: ContainerConfig,
  hostConfig: HostConfig,
  imageVolumes: string[],
  volumes: VolumeStore,
): Promise<PlannedMount[]> {
  const volumeDriver = hostConfig.VolumeDriver || undefined;
  const mounts: PlannedMount[] = [];
  const add = (m: PlannedMount) => {
    if (mounts.some((x) => x.Destination === m.Destination))
      throw new InvalidArgument(`Duplicate mount point: ${m.Destination}`);
    mounts.push(m);
  };
  for (const b of hostConfig.Binds ?? []) add(await parseBind(b, volumes, volumeDriver));
  for (const m of hostConfig.Mounts ?? []) add(await fromMountSpec(m, volumes));
  for (const [path, options] of Object.entries(hostConfig.Tmpfs ?? {}))
    add({
      Type: "tmpfs",
      Source: "",
      Destination: checkTarget(path, "tmpfs"),
      Mode: options,
      RW: !options.split(",").includes("ro"),
      Propagation: "",
      TmpfsOptions: options,
    });
  // Anonymous volumes last, and only where nothing else is mounted.
  for (const path of new Set([...imageVolumes, ...Object.keys(config.Volumes ?? {})])) {
    const destination = checkTarget(path, "volume");
    if (mounts.some((m) => m.Destination === destination)) continue;
    const volume = await volumes.create(undefined, volumeDriver ? { driver: volumeDriver } : {});
    mounts.push({
      Type: "volume",
      Name: volume.Name,
      Source: volume.Mountpoint,
      Destination: destination,
      Driver: volume.Driver,
      Mode: "",
      RW: true,
      Propagation: "",
    });
  }
  return mounts;
}

/** The OCI mounts, parents before children (a mount under another must come after it). */
export function ociMounts(mounts: PlannedMount[]): Mount[] {
  const sorted = [...mounts].sort(
    (a, b) => a.Destination.split("/").length - b.Destination.split("/").length,
  );
  return sorted.map((m): Mount => {
    if (m.Type === "tmpfs") {
      const opts = (m.TmpfsOptions ?? "").split(",").filter(Boolean);
      return {
        destination: m.Destination,
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "nodev", "noexec", ...opts],
      };
    }
    return {
      destination: m.Destination,
      type: "bind",
      source: m.Source,
      options: ["rbind", m.RW ? "rw" : "ro", m.Propagation || "rprivate"],
    };
  });
}

/** What inspect shows: the mount points without the private fields. */
export function mountPoints(mounts: PlannedMount[]): MountPoint[] {
  return mounts.map(({ NoCopy: _n, TmpfsOptions: _t, MountId: _m, ...m }) => m);
}
