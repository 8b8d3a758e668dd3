/** An OCI bundle's config → the NativePlan for its container process. */
import { posix } from "node:path";
import { InvalidArgument } from "../errors.js";
import type { Spec } from "../oci/runtime-spec.js";
import type { CgroupMountSource } from "./cgroups/cgroup.js";
import { CLONE } from "./linux.js";
import { planNamespaces } from "./namespaces.js";
import type { NativePlan } from "./native/plan.js";
import { planProcess } from "./process-plan.js";
import { type HostView, type RootfsMount, rootfsOps } from "./rootfs.js";

export interface ContainerPlanOptions {
  bundle: string;
  host: HostView;
  cgroupMounts: CgroupMountSource[];
  controlSocket: string;
  exitFile: string;
  consoleSocket?: string;
  stdio: NativePlan["stdio"];
  stdinOpen?: boolean;
  log?: NativePlan["log"];
  rootfsMount?: RootfsMount;
  ensureDirectories?: string[];
  /** Hears of settings that were adjusted rather than refused (as runc warns about them). */
  warn?: (message: string) => void;
}

export function rootfsPath(spec: Spec, bundle: string): string {
  const path = spec.root?.path;
  if (typeof path !== "string" || path === "") throw new InvalidArgument("root.path: required");
  // Normalised ("." is the bundle itself), since mount points under it are found by prefix.
  return posix.resolve(bundle, path);
}

export function planContainer(spec: Spec, options: ContainerPlanOptions): NativePlan {
  const namespaces = planNamespaces(spec.linux?.namespaces);
  const rootfs = rootfsPath(spec, options.bundle);
  if (options.host.kind(rootfs) !== "dir")
    throw new InvalidArgument(`root.path: ${rootfs} is not a directory`);
  const userns = (namespaces.create & CLONE.NEWUSER) !== 0;
  if (!userns && (spec.linux?.uidMappings?.length || spec.linux?.gidMappings?.length))
    throw new InvalidArgument("linux.uidMappings: mappings need a new user namespace in linux.namespaces");
  const process = planProcess(spec.process, spec, options.warn);
  const extra = {
    ...(options.rootfsMount ? { rootfsMount: options.rootfsMount } : {}),
    ...(options.ensureDirectories ? { ensureDirectories: options.ensureDirectories } : {}),
  };
  return {
    stdio: options.stdio,
    terminal: spec.process?.terminal === true,
    stdinOpen: options.stdinOpen === true,
    ...(options.consoleSocket ? { consoleSocket: options.consoleSocket } : {}),
    controlSocket: options.controlSocket,
    exitFile: options.exitFile,
    ...(options.log ? { log: options.log } : {}),
    newNamespaces: namespaces.create,
    join: namespaces.join.map(({ flag, path }) => ({ flag, path })),
    ops: rootfsOps({
      spec,
      rootfs,
      bundle: options.bundle,
      namespaces,
      cgroupMounts: options.cgroupMounts,
      host: options.host,
      ...extra,
    }),
    startHooks: spec.hooks?.startContainer ?? [],
    waitStart: true,
    process,
  };
}
