/** Picks the cgroup backend for this host: v2 on a unified host, v1 otherwise (hybrid hosts too). */
import { statfsSync } from "node:fs";
import { InvalidArgument } from "../../errors.js";
import type { Cgroup, CgroupVersion } from "./cgroup.js";
import { type CgroupLayout, hostLayout } from "./hierarchy.js";
import { V1Cgroup } from "./v1.js";
import { V2Cgroup } from "./v2.js";

const CGROUP2_SUPER_MAGIC = 0x63677270;

let detected: CgroupVersion | undefined;

/** 2 when /sys/fs/cgroup itself is cgroup2 (a unified host); 1 on v1 and hybrid hosts. */
export function detectCgroupVersion(root = "/sys/fs/cgroup"): CgroupVersion {
  if (root === "/sys/fs/cgroup" && detected) return detected;
  let version: CgroupVersion = 1;
  try {
    version = statfsSync(root).type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  } catch {}
  if (root === "/sys/fs/cgroup") detected = version;
  return version;
}

/** Where a container's cgroup goes by default: nested under the caller's own cgroup. */
export function defaultCgroupPath(id: string): string {
  return `berth/${id}`;
}

/**
 * The cgroupfs path of a systemd-style cgroupsPath, "slice:prefix:name" (runc --systemd-cgroup,
 * as containerd and podman pass it): the slice's ancestry, then "prefix-name.scope" (or "name"
 * when it is a slice itself). `system.slice:docker:abc` → `/system.slice/docker-abc.scope`.
 * No systemd is asked: the cgroups are made directly, where systemd would have put them.
 */
export function systemdCgroupPath(cgroupsPath: string | undefined, id: string): string {
  const parts = (cgroupsPath || `system.slice:berth-runtime:${id}`).split(":");
  if (parts.length !== 3)
    throw new InvalidArgument(
      `linux.cgroupsPath: "${cgroupsPath}" is not "slice:prefix:name", as --systemd-cgroup needs`,
    );
  const [slice, prefix, name] = parts as [string, string, string];
  const unit = name.endsWith(".slice") ? name : `${prefix ? `${prefix}-` : ""}${name}.scope`;
  // Unit name characters only: no "/", so nothing climbs out of the slice.
  for (const [what, text] of [
    ["slice", slice],
    ["unit", unit],
  ] as const)
    if (!/^[\w.@\\-]*$/.test(text))
      throw new InvalidArgument(`linux.cgroupsPath: the ${what} "${text}" is not a systemd unit name`);
  return `${expandSlice(slice || "system.slice")}/${unit}`.replace(/^\/+/, "/");
}

/** "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice", the nesting systemd gives a slice. */
function expandSlice(slice: string): string {
  if (!slice.endsWith(".slice"))
    throw new InvalidArgument(`linux.cgroupsPath: "${slice}" is not a slice (it ends in .slice)`);
  const base = slice.slice(0, -".slice".length);
  if (base === "-") return "/";
  if (base === "" || base.startsWith("-") || base.endsWith("-") || base.includes("--"))
    throw new InvalidArgument(`linux.cgroupsPath: "${slice}" is not a valid slice name`);
  const words = base.split("-");
  return words.map((_, i) => `/${words.slice(0, i + 1).join("-")}.slice`).join("");
}

export interface OpenCgroupOptions {
  version?: CgroupVersion;
  /** For v2: the cgroup2 mount and our own path in it (default: the host's). */
  layout?: CgroupLayout;
}

export function openCgroup(path: string, options: OpenCgroupOptions = {}): Cgroup {
  const layout = options.layout ?? hostLayout();
  const version = options.version ?? detectCgroupVersion();
  if (version === 2) {
    if (!layout.v2Mount) throw new Error("no cgroup2 file system is mounted");
    return new V2Cgroup(path, layout.v2Mount, layout.v2Own);
  }
  return new V1Cgroup(path, layout.v1);
}

/**
 * How a new process gets into `cgroup`: the files it writes to move itself (its intermediate
 * parent joins, then clones it), or undefined for a move from outside, by pid. Under a pids
 * limit the parent takes a slot beside its child for a moment: a new container's cgroup needs
 * room for 2, and one already holding processes (exec) may be full, so those move from outside.
 */
export function selfJoinFiles(
  cgroup: Cgroup,
  pidsLimit: number | undefined,
  populated = false,
): string[] | undefined {
  if (pidsLimit !== undefined && pidsLimit > 0 && (populated || pidsLimit < 2)) return undefined;
  return cgroup.selfJoinFiles();
}
