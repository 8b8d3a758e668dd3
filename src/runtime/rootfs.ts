/**
 * The container's filesystem as a list of native ops: make the host's mounts invisible to it,
 * bind the rootfs onto itself, mount what the config asks for, create /dev, pivot_root, then hide
 * and protect the paths the config names. Pure: the host is consulted only through `HostView`.
 */
import { InvalidArgument } from "../errors.js";
import type { Hook, LinuxDevice, Mount, Spec } from "../oci/runtime-spec.js";
import type { CgroupMountSource } from "./cgroups/cgroup.js";
import { CLONE, MS, makedev, S_IFBLK, S_IFCHR, S_IFIFO } from "./linux.js";
import { PROPAGATION, parseMountOptions } from "./mount-options.js";
import type { NamespacePlan } from "./namespaces.js";
import type { PlanOp } from "./native/plan.js";

/** What the plan needs to know about the host (a fake in unit tests). */
export interface HostView {
  /** "dir", "file" (anything else that exists) or undefined when the path does not exist. */
  kind(path: string): "dir" | "file" | undefined;
  /** The mount point that contains `path` on the host. */
  mountPointOf(path: string): string;
}

/** A file system to mount as the root (the engine's overlay of image layers), instead of
 * binding the bundle's rootfs directory onto itself. */
export interface RootfsMount {
  type: string;
  source: string;
  options: string[];
  /** Options use paths relative to this directory (deep overlay stacks); mount from there. */
  cwd?: string;
}

export interface RootfsContext {
  spec: Spec;
  rootfsMount?: RootfsMount;
  /** Directories to create in the root before it is entered (a missing working directory). */
  ensureDirectories?: string[];
  /** Absolute path of the rootfs on the host. */
  rootfs: string;
  bundle: string;
  namespaces: NamespacePlan;
  cgroupMounts: CgroupMountSource[];
  host: HostView;
}

/** The devices every container gets (runtime-spec config-linux.md, "Default Devices"). */
export const DEFAULT_DEVICES: LinuxDevice[] = [
  { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/zero", type: "c", major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/full", type: "c", major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/random", type: "c", major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/urandom", type: "c", major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: "/dev/tty", type: "c", major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

function absolute(path: string, base: string): string {
  if (path.startsWith("/")) return path;
  return `${base.replace(/\/$/, "")}/${path}`;
}

function hasUserNamespace(ctx: RootfsContext): boolean {
  return (ctx.namespaces.create & CLONE.NEWUSER) !== 0;
}

function bindMount(source: string, dest: string, flags: number, kind: "dir" | "file"): PlanOp {
  return { op: "mount", source, target: dest, fstype: "", flags, data: "", kind };
}

/** Expands a `cgroup` mount: the container sees its own cgroups at /sys/fs/cgroup, read-only if asked. */
function cgroupMountOps(m: Mount, ctx: RootfsContext, readonly: boolean): PlanOp[] {
  const dest = m.destination;
  const ops: PlanOp[] = [];
  const v2 = ctx.cgroupMounts.length === 1 && ctx.cgroupMounts[0]!.name === "";
  const roFlags = readonly ? MS.RDONLY : 0;
  if (v2) {
    if (ctx.namespaces.types.has("cgroup") && ctx.namespaces.create & CLONE.NEWCGROUP) {
      ops.push({
        op: "mount",
        source: "cgroup2",
        target: dest,
        fstype: "cgroup2",
        flags: MS.NOSUID | MS.NODEV | MS.NOEXEC | roFlags,
        data: "",
        kind: "dir",
      });
    } else {
      ops.push(bindMount(ctx.cgroupMounts[0]!.hostPath, dest, MS.BIND | MS.REC, "dir"));
      if (readonly)
        ops.push({ op: "remount", target: dest, flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC });
    }
    return ops;
  }
  ops.push({
    op: "mount",
    source: "tmpfs",
    target: dest,
    fstype: "tmpfs",
    flags: MS.NOSUID | MS.NODEV | MS.NOEXEC,
    data: "mode=755",
    kind: "dir",
  });
  for (const source of ctx.cgroupMounts) {
    const target = `${dest}/${source.name}`;
    ops.push(bindMount(source.hostPath, target, MS.BIND | MS.REC, "dir"));
    ops.push({ op: "remount", target, flags: MS.NOSUID | MS.NODEV | MS.NOEXEC | roFlags });
    for (const alias of source.aliases)
      ops.push({ op: "symlink", target: source.name, path: `${dest}/${alias}` });
  }
  if (readonly)
    ops.push({ op: "remount", target: dest, flags: MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC });
  return ops;
}

export function mountOps(m: Mount, i: number, ctx: RootfsContext): PlanOp[] {
  const at = `mounts[${i}]`;
  if (typeof m.destination !== "string" || !m.destination.startsWith("/"))
    throw new InvalidArgument(
      `${at}.destination: must be an absolute path, got ${JSON.stringify(m.destination)}`,
    );
  const opts = parseMountOptions(m.options, at);
  const type = m.type || (opts.bind ? "bind" : "");
  const dest = m.destination;
  const propagate = (inRoot = true): PlanOp[] =>
    opts.propagation.map((flags) => ({ op: "propagation", target: dest, flags, inRoot }));

  if (type === "bind" || opts.bind) {
    if (!m.source) throw new InvalidArgument(`${at}.source: a bind mount needs a source`);
    const source = absolute(m.source, ctx.bundle);
    const kind = ctx.host.kind(source);
    if (!kind) throw new InvalidArgument(`${at}.source: ${source} does not exist`);
    const ops: PlanOp[] = [bindMount(source, dest, MS.BIND | (opts.recursive ? MS.REC : 0), kind)];
    const extra = opts.flags & ~(MS.BIND | MS.REC);
    if (extra) ops.push({ op: "remount", target: dest, flags: extra });
    return [...ops, ...propagate()];
  }
  if (type === "cgroup") return cgroupMountOps(m, ctx, (opts.flags & MS.RDONLY) !== 0);
  if (type === "sysfs" && hasUserNamespace(ctx) && !(ctx.namespaces.create & CLONE.NEWNET)) {
    // A user namespace that does not own the network namespace may not mount sysfs: bind the
    // host's instead, as runc does.
    return [
      bindMount("/sys", dest, MS.BIND | MS.REC, "dir"),
      { op: "remount", target: dest, flags: opts.flags | MS.NOSUID | MS.NODEV | MS.NOEXEC },
    ];
  }
  if (!type) throw new InvalidArgument(`${at}.type: required unless the options say "bind" or "rbind"`);
  return [
    {
      op: "mount",
      source: m.source ?? type,
      target: dest,
      fstype: type,
      flags: opts.flags,
      data: opts.data,
      kind: "dir",
    },
    ...propagate(),
  ];
}

function deviceMode(d: LinuxDevice, at: string): number {
  const type = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO }[d.type];
  if (type === undefined) throw new InvalidArgument(`${at}.type: unknown device type "${d.type}"`);
  if (d.type !== "p" && (d.major === undefined || d.minor === undefined))
    throw new InvalidArgument(`${at}: major and minor are required for type "${d.type}"`);
  return type | ((d.fileMode ?? 0o666) & 0o7777);
}

/** The devices the container gets: the defaults, overridden or extended by linux.devices. */
export function containerDevices(spec: Spec): LinuxDevice[] {
  const byPath = new Map<string, LinuxDevice>();
  for (const d of DEFAULT_DEVICES) byPath.set(d.path, d);
  for (const d of spec.linux?.devices ?? []) byPath.set(d.path, d);
  return [...byPath.values()];
}

function deviceOps(ctx: RootfsContext): PlanOp[] {
  const ops: PlanOp[] = [];
  const userns = hasUserNamespace(ctx);
  const custom = new Set((ctx.spec.linux?.devices ?? []).map((d) => d.path));
  containerDevices(ctx.spec).forEach((d, i) => {
    const at = custom.has(d.path) ? `linux.devices[${i}]` : `default device ${d.path}`;
    if (!d.path.startsWith("/dev/"))
      throw new InvalidArgument(`${at}.path: must be under /dev, got "${d.path}"`);
    const mode = deviceMode(d, at);
    if (userns) {
      // mknod is not allowed in a user namespace: bind the host's node instead, as runc does.
      ops.push(bindMount(d.path, d.path, MS.BIND, "file"));
    } else {
      ops.push({
        op: "mknod",
        path: d.path,
        mode,
        dev: d.type === "p" ? 0n : makedev(d.major!, d.minor!),
        uid: d.uid ?? 0,
        gid: d.gid ?? 0,
      });
    }
  });
  const links: [string, string][] = [
    ["/proc/self/fd", "/dev/fd"],
    ["/proc/self/fd/0", "/dev/stdin"],
    ["/proc/self/fd/1", "/dev/stdout"],
    ["/proc/self/fd/2", "/dev/stderr"],
  ];
  if (ctx.host.kind("/proc/kcore")) links.push(["/proc/kcore", "/dev/core"]);
  if ((ctx.spec.mounts ?? []).some((m) => m.destination === "/dev/pts"))
    links.push(["pts/ptmx", "/dev/ptmx"]);
  for (const [target, path] of links) ops.push({ op: "symlink", target, path });
  return ops;
}

const SYSCTL_NAMESPACE: [RegExp, "ipc" | "network" | "uts"][] = [
  [/^kernel\.(msg|sem|shm)/, "ipc"],
  [/^fs\.mqueue\./, "ipc"],
  [/^net\./, "network"],
  [/^kernel\.(hostname|domainname)$/, "uts"],
];

/** Sysctls are refused unless they belong to a namespace the container has of its own (as runc does). */
function sysctlOps(ctx: RootfsContext): PlanOp[] {
  return Object.entries(ctx.spec.linux?.sysctl ?? {}).map(([name, value]) => {
    const ns = SYSCTL_NAMESPACE.find(([re]) => re.test(name))?.[1];
    if (!ns)
      throw new InvalidArgument(`linux.sysctl: "${name}" is not namespaced, so a container may not set it`);
    if (!ctx.namespaces.types.has(ns))
      throw new InvalidArgument(
        `linux.sysctl: "${name}" needs the container to have its own ${ns} namespace`,
      );
    if (name.includes("/") || name.includes(".."))
      throw new InvalidArgument(`linux.sysctl: "${name}" is not a sysctl name`);
    return { op: "writeFile", path: `/proc/sys/${name.replace(/\./g, "/")}`, content: value };
  });
}

function hookOps(hooks: Hook[] | undefined): PlanOp[] {
  return (hooks ?? []).map((hook) => ({ op: "hook", hook }));
}

/** How the root is entered: its propagation and the steps that make it a root. */
function enterRootOps(ctx: RootfsContext, ownMountNs: boolean, rootPropagation: number): PlanOp[] {
  const ops: PlanOp[] = [];
  if (!ownMountNs) {
    // No mount namespace of its own (runtime-spec allows it): the mounts land in the runtime's
    // namespace, so the host's propagation is left alone and delete unmounts what was mounted.
    ops.push({ op: "setRoot", path: ctx.rootfs });
    return ops;
  }
  // First make the host's mounts one-way (or as configured) in our copy of the mount table, so
  // nothing done below reaches the host.
  ops.push({ op: "propagation", target: "/", flags: rootPropagation, inRoot: false });
  if (rootPropagation & MS.SHARED) {
    // pivot_root refuses a new root whose parent mount is shared.
    ops.push({
      op: "propagation",
      target: ctx.host.mountPointOf(ctx.rootfs),
      flags: MS.PRIVATE,
      inRoot: false,
    });
  }
  const m = ctx.rootfsMount;
  if (m) {
    // Mounted in the container's own mount namespace: it vanishes with the container, and a
    // crash can never leave it behind on the host.
    const opts = parseMountOptions(m.options, "rootfs");
    if (m.cwd) ops.push({ op: "chdir", path: m.cwd });
    ops.push({
      op: "mountHost",
      source: m.source,
      target: ctx.rootfs,
      fstype: m.type,
      flags: opts.flags,
      data: opts.data,
    });
    if (m.cwd) ops.push({ op: "chdir", path: "/" });
  } else {
    // pivot_root needs the new root to be a mount point.
    ops.push({
      op: "mountHost",
      source: ctx.rootfs,
      target: ctx.rootfs,
      fstype: "",
      flags: MS.BIND | MS.REC,
      data: "",
    });
  }
  ops.push({ op: "setRoot", path: ctx.rootfs });
  return ops;
}

export function rootfsOps(ctx: RootfsContext): PlanOp[] {
  const { spec } = ctx;
  const linux = spec.linux ?? {};
  // A mount namespace of its own, new or joined by path; without one the root is only chroot'ed.
  const ownMountNs = ctx.namespaces.types.has("mount");
  if (!ownMountNs) {
    if (linux.maskedPaths?.length || linux.readonlyPaths?.length)
      throw new InvalidArgument(
        "linux.maskedPaths, linux.readonlyPaths: need a mount namespace of the container's own",
      );
    if (spec.root?.readonly)
      throw new InvalidArgument("root.readonly: needs a mount namespace of the container's own");
    if (ctx.rootfsMount)
      throw new InvalidArgument("a root file system mount needs a mount namespace of the container's own");
  }
  let rootPropagation = MS.SLAVE | MS.REC;
  if (linux.rootfsPropagation) {
    const flags = PROPAGATION[linux.rootfsPropagation];
    if (flags === undefined)
      throw new InvalidArgument(`linux.rootfsPropagation: unknown value "${linux.rootfsPropagation}"`);
    rootPropagation = flags;
  }
  // An unbindable "/" could not be bound into the new root nor bind-mount anything below: the
  // host's mounts are only made one-way first, and "/" unbindable once the root is in place.
  const enterPropagation = rootPropagation & MS.UNBINDABLE ? MS.SLAVE | MS.REC : rootPropagation;
  const ops = enterRootOps(ctx, ownMountNs, enterPropagation);
  for (const path of ctx.ensureDirectories ?? []) ops.push({ op: "mkdir", path, mode: 0o755 });
  (spec.mounts ?? []).forEach((m, i) => {
    ops.push(...mountOps(m, i, ctx));
  });
  const devBound = (spec.mounts ?? []).some(
    (m) => m.destination === "/dev" && (m.type === "bind" || parseMountOptions(m.options).bind),
  );
  if (!devBound) ops.push(...deviceOps(ctx));
  if (spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length)
    ops.push({ op: "sync", name: "createRuntime" });
  ops.push(...hookOps(spec.hooks?.createContainer));
  ops.push(ownMountNs ? { op: "pivotRoot" } : { op: "chroot" });
  if (linux.rootfsPropagation && ownMountNs)
    ops.push({ op: "propagation", target: "/", flags: rootPropagation, inRoot: true });
  if (ctx.namespaces.create & CLONE.NEWNET) ops.push({ op: "ifup", name: "lo" });
  ops.push(...sysctlOps(ctx));
  for (const path of linux.readonlyPaths ?? []) ops.push({ op: "readonly", path });
  for (const path of linux.maskedPaths ?? []) ops.push({ op: "mask", path });
  if (spec.root?.readonly) ops.push({ op: "remount", target: "/", flags: MS.RDONLY });
  if (spec.hostname !== undefined && spec.hostname !== "") {
    if (!ctx.namespaces.types.has("uts"))
      throw new InvalidArgument(
        "hostname: setting a hostname needs the container to have its own uts namespace",
      );
    ops.push({ op: "sethostname", name: spec.hostname });
  }
  if (spec.domainname) {
    if (!ctx.namespaces.types.has("uts"))
      throw new InvalidArgument(
        "domainname: setting a domainname needs the container to have its own uts namespace",
      );
    ops.push({ op: "setdomainname", name: spec.domainname });
  }
  return ops;
}
