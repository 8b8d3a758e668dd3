/**
 * A Docker container (its config, host config and image) → the OCI runtime spec Berth runs it
 * with: the defaults Docker gives every container (mounts, capabilities, masked paths, seccomp,
 * devices) and what each `docker run` flag changes. Pure: everything host-dependent comes in.
 */
import { InvalidArgument } from "../errors.js";
import { DEFAULT_MASKED_PATHS, DEFAULT_PATH_ENV, DEFAULT_READONLY_PATHS } from "../oci/default-spec.js";
import type {
  LinuxDevice,
  LinuxDeviceCgroup,
  LinuxResources,
  LinuxSeccomp,
  Mount,
  Namespace,
  Rlimit,
  Spec,
} from "../oci/runtime-spec.js";
import { OCI_VERSION } from "../oci/runtime-spec.js";
import {
  capabilityNumber,
  DEFAULT_CAPABILITIES,
  grantableCapabilities,
  normalizeCapability,
} from "../runtime/capabilities.js";
import type { ContainerRecord, HostConfig } from "./docker-types.js";
import type { IdMaps } from "./userns-remap.js";

/** Where `--init` puts its reaper in the container (Docker uses /sbin/docker-init). */
export const INIT_PATH = "/sbin/berth-init";

export interface SpecInput {
  record: ContainerRecord;
  /** The resolved user: numeric ids and the groups /etc/group gives it (plus --group-add). */
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Where the container's root filesystem is mounted (inside its own mount namespace). */
  rootfs: string;
  /** The network namespace to join; undefined: the host's (--network host). */
  netnsPath: string | undefined;
  /** Volumes, binds, tmpfs and /etc/{hosts,hostname,resolv.conf}, in order. */
  mounts: Mount[];
  cgroupsPath: string;
  /** The seccomp profile for the container's capability set (Docker's default, a custom one, or none). */
  seccomp: (capabilities: string[]) => LinuxSeccomp | undefined;
  /** The host's berth-init binary, bound in for --init. */
  initBinary: string;
  /** Devices of the host for --privileged and --device (path → type/major/minor). */
  hostDevice: (path: string) => LinuxDevice | undefined;
  hostDevices: () => LinuxDevice[];
  /** --userns-remap: a user namespace of the container's own with these mappings. */
  idMaps?: IdMaps;
  /** What legacy links give the environment (before the container's own, as dockerd orders it). */
  linkEnv?: string[];
}

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

function dockerMounts(input: SpecInput): Mount[] {
  const hc = input.record.HostConfig;
  const privileged = hc.Privileged;
  const shm = hc.ShmSize > 0 ? hc.ShmSize : DEFAULT_SHM_SIZE;
  return [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"],
    },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shm}`],
    },
  ];
}

/** Docker's capability arithmetic: the default set (or all, privileged), plus --cap-add, minus --cap-drop; "ALL" works in both. */
export function containerCapabilities(
  capAdd: string[] | null,
  capDrop: string[] | null,
  privileged: boolean,
): string[] {
  if (privileged) return grantableCapabilities();
  const add = (capAdd ?? []).map(normalizeCapability);
  const drop = (capDrop ?? []).map(normalizeCapability);
  for (const c of add) if (c !== "CAP_ALL") capabilityNumber(c, "--cap-add");
  for (const c of drop) if (c !== "CAP_ALL") capabilityNumber(c, "--cap-drop");
  let caps: string[] = add.includes("CAP_ALL") ? grantableCapabilities() : [...DEFAULT_CAPABILITIES];
  if (drop.includes("CAP_ALL")) caps = [];
  for (const c of add) if (c !== "CAP_ALL" && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => !drop.includes(c) || add.includes(c));
}

/** "c 1:3 rwm", "b *:* m", "a" → a device cgroup rule (--device-cgroup-rule). */
export function parseDeviceCgroupRule(rule: string): LinuxDeviceCgroup {
  const m = /^([abc])(?:\s+(\*|\d+):(\*|\d+)(?:\s+([rwm]{1,3}))?)?$/.exec(rule.trim());
  if (!m) throw new InvalidArgument(`invalid device cgroup rule format: '${rule}'`);
  const num = (v: string | undefined) => (v === undefined || v === "*" ? null : Number(v));
  return { allow: true, type: m[1]!, major: num(m[2]), minor: num(m[3]), access: m[4] ?? "rwm" };
}

function deviceRules(hc: HostConfig, devices: LinuxDevice[]): LinuxDeviceCgroup[] {
  const rules: LinuxDeviceCgroup[] = hc.Privileged
    ? [{ allow: true, access: "rwm" }]
    : [{ allow: false, access: "rwm" }];
  for (const d of devices)
    rules.push({ allow: true, type: d.type, major: d.major ?? null, minor: d.minor ?? null, access: "rwm" });
  for (const rule of hc.DeviceCgroupRules ?? []) rules.push(parseDeviceCgroupRule(rule));
  return rules;
}

/** The cgroup limits of a host config (also what `docker update` changes on a running container). */
export function containerResources(hc: HostConfig): LinuxResources {
  const r: LinuxResources = {};
  const memory: NonNullable<LinuxResources["memory"]> = {};
  if (hc.Memory > 0) {
    memory.limit = hc.Memory;
    // Docker: no --memory-swap means as much swap as memory (swap here is memory + swap).
    if (hc.MemorySwap === 0 || hc.MemorySwap === undefined) memory.swap = hc.Memory * 2;
    else memory.swap = hc.MemorySwap;
  }
  if (hc.MemoryReservation > 0) memory.reservation = hc.MemoryReservation;
  if (typeof hc.MemorySwappiness === "number" && hc.MemorySwappiness >= 0)
    memory.swappiness = hc.MemorySwappiness;
  if (hc.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) r.memory = memory;
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (hc.NanoCpus > 0) {
    cpu.period = 100_000;
    cpu.quota = Math.round((hc.NanoCpus * 100_000) / 1e9);
  }
  if (hc.CpuQuota) cpu.quota = hc.CpuQuota;
  if (hc.CpuPeriod) cpu.period = hc.CpuPeriod;
  if (hc.CpuShares) cpu.shares = hc.CpuShares;
  if (hc.CpusetCpus) cpu.cpus = hc.CpusetCpus;
  if (hc.CpusetMems) cpu.mems = hc.CpusetMems;
  if (Object.keys(cpu).length) r.cpu = cpu;
  if (hc.PidsLimit && hc.PidsLimit > 0) r.pids = { limit: hc.PidsLimit };
  if (hc.BlkioWeight) r.blockIO = { weight: hc.BlkioWeight };
  return r;
}

function resources(input: SpecInput, devices: LinuxDevice[]): LinuxResources {
  return {
    devices: deviceRules(input.record.HostConfig, devices),
    ...containerResources(input.record.HostConfig),
  };
}

function namespaces(input: SpecInput): Namespace[] {
  const hc = input.record.HostConfig;
  const ns: Namespace[] = [{ type: "mount" }];
  if (hc.PidMode !== "host") ns.push({ type: "pid" });
  if (hc.IpcMode !== "host") ns.push({ type: "ipc" });
  if (hc.UTSMode !== "host") ns.push({ type: "uts" });
  if (hc.CgroupnsMode === "private") ns.push({ type: "cgroup" });
  if (input.netnsPath) ns.push({ type: "network", path: input.netnsPath });
  if (input.idMaps) ns.push({ type: "user" });
  return ns;
}

function rlimits(input: SpecInput): Rlimit[] {
  return (input.record.HostConfig.Ulimits ?? []).map((u) => ({
    type: `RLIMIT_${u.Name.toUpperCase()}`,
    soft: u.Soft,
    hard: u.Hard,
  }));
}

/** `KEY=value` lists merged by key, later ones winning, order of first appearance kept. */
export function mergeEnv(...lists: string[][]): string[] {
  const out = new Map<string, string>();
  for (const list of lists) for (const e of list) out.set(e.split("=")[0]!, e);
  return [...out.values()];
}

function securityOption(opts: string[] | null, key: string): string | undefined {
  for (const o of opts ?? []) {
    const i = o.search(/[=:]/);
    if ((i < 0 ? o : o.slice(0, i)) === key) return i < 0 ? "" : o.slice(i + 1);
  }
  return undefined;
}

export function noNewPrivileges(opts: string[] | null): boolean {
  const v = securityOption(opts, "no-new-privileges");
  return v !== undefined && v !== "false";
}

export function containerSpec(input: SpecInput): Spec {
  const { record } = input;
  const hc = record.HostConfig;
  const config = record.Config;
  const capabilities = containerCapabilities(hc.CapAdd, hc.CapDrop, hc.Privileged);
  const devices: LinuxDevice[] = [];
  if (hc.Privileged) devices.push(...input.hostDevices());
  for (const d of hc.Devices ?? []) {
    const host = input.hostDevice(d.PathOnHost);
    if (!host)
      throw new InvalidArgument(
        `error gathering device information while adding custom device "${d.PathOnHost}": no such file or directory`,
      );
    devices.push({ ...host, path: d.PathInContainer || d.PathOnHost });
  }
  const args = [record.Path, ...record.Args];
  const mounts = [...dockerMounts(input), ...input.mounts];
  if (hc.Init)
    mounts.push({ destination: INIT_PATH, type: "bind", source: input.initBinary, options: ["bind", "ro"] });
  const env = mergeEnv(
    [DEFAULT_PATH_ENV, `HOSTNAME=${config.Hostname}`],
    config.Tty ? ["TERM=xterm"] : [],
    input.linkEnv ?? [],
    config.Env ?? [],
  );
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    root: { path: input.rootfs, readonly: hc.ReadonlyRootfs },
    hostname: config.Hostname,
    ...(config.Domainname ? { domainname: config.Domainname } : {}),
    mounts,
    process: {
      terminal: config.Tty,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
      args: hc.Init ? [INIT_PATH, "--", ...args] : args,
      env,
      cwd: config.WorkingDir || "/",
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: noNewPrivileges(hc.SecurityOpt),
      rlimits: rlimits(input),
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
    },
    linux: {
      namespaces: namespaces(input),
      ...(input.idMaps ? { uidMappings: input.idMaps.uid, gidMappings: input.idMaps.gid } : {}),
      devices,
      cgroupsPath: input.cgroupsPath,
      resources: resources(input, devices),
      ...(hc.Sysctls && Object.keys(hc.Sysctls).length ? { sysctl: hc.Sysctls } : {}),
      ...(hc.Privileged
        ? {}
        : {
            maskedPaths: hc.MaskedPaths ?? DEFAULT_MASKED_PATHS,
            readonlyPaths: hc.ReadonlyPaths ?? DEFAULT_READONLY_PATHS,
          }),
    },
  };
  const seccompOpt = securityOption(hc.SecurityOpt, "seccomp");
  if (!hc.Privileged && seccompOpt !== "unconfined") {
    const profile = seccompOpt ? parseSeccompOption(seccompOpt) : input.seccomp(capabilities);
    if (profile) spec.linux!.seccomp = profile;
  }
  return spec;
}

/** `--security-opt seccomp=…`: the docker CLI sends the profile's JSON inline. */
function parseSeccompOption(value: string): LinuxSeccomp {
  try {
    return JSON.parse(value) as LinuxSeccomp;
  } catch (err) {
    throw new InvalidArgument(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
}
