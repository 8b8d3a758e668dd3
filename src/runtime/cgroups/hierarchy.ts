/**
 * What the host's cgroup file systems look like, read once per process: the v1 hierarchies
 * (which controllers each one holds and where it is mounted), the cgroup2 mount, and where this
 * process itself sits in each (relative cgroup paths nest under it).
 */
import { readFileSync } from "node:fs";
import { posix } from "node:path";
import { InvalidArgument } from "../../errors.js";

export interface V1Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/cpu,cpuacct. */
  mount: string;
  /** Controllers (and "name=systemd" for named hierarchies). */
  controllers: string[];
  /** This process's cgroup in the hierarchy, e.g. "/" or "/process_api/7a14". */
  own: string;
}

export interface CgroupLayout {
  v1: V1Hierarchy[];
  /** The cgroup2 mount point, if any (on hybrid hosts it coexists with v1). */
  v2Mount?: string;
  v2Own: string;
}

/** Parses /proc/self/mountinfo and /proc/self/cgroup (text given for tests). */
export function parseLayout(mountinfo: string, procCgroup: string): CgroupLayout {
  const own = new Map<string, string>();
  let v2Own = "/";
  for (const line of procCgroup.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2Own = m[3]!;
    for (const c of m[2]!.split(",")) if (c) own.set(c, m[3]!);
  }
  const layout: CgroupLayout = { v1: [], v2Own };
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    const fstype = fields[sep + 1];
    const mount = fields[4]!;
    const root = fields[3]!;
    if (fstype === "cgroup2") {
      // The first cgroup2 mount of the host's root (others may be bind mounts of subtrees).
      if (!layout.v2Mount && root === "/") layout.v2Mount = mount;
    } else if (fstype === "cgroup") {
      const options = (fields[sep + 3] ?? "").split(",");
      const controllers = options.filter(
        (o) =>
          o !== "rw" &&
          o !== "ro" &&
          !o.startsWith("release_agent") &&
          o !== "clone_children" &&
          o !== "noprefix" &&
          o !== "xattr" &&
          o !== "nsdelegate",
      );
      if (root !== "/" || controllers.length === 0) continue;
      const key = controllers.find((c) => own.has(c));
      layout.v1.push({ mount, controllers, own: key ? own.get(key)! : "/" });
    }
  }
  return layout;
}

let cached: CgroupLayout | undefined;

export function hostLayout(): CgroupLayout {
  cached ??= parseLayout(
    readFileSync("/proc/self/mountinfo", "utf8"),
    readFileSync("/proc/self/cgroup", "utf8"),
  );
  return cached;
}

/** A cgroup path under a hierarchy: absolute as given, relative nested under `own`. */
export function resolveCgroupPath(path: string, own: string): string {
  if (path.split("/").includes(".."))
    throw new InvalidArgument(`cgroupsPath "${path}" must not contain ".."`);
  const full = path.startsWith("/") ? path : posix.join(own, path);
  return posix.normalize(full).replace(/\/$/, "") || "/";
}
