/**
 * The JSON types of the create bodies' fields (containers, execs), checked the way Go's decoder in dockerd checks
 * them, with its message: a client that sends `"Memory": "lots"` gets a 400 naming the field,
 * not a container with surprising settings.
 */
import { InvalidArgument } from "../errors.js";

type Kind = "int64" | "bool" | "string" | "[]string" | "[]object" | "map";

const CONFIG: Record<string, Kind> = {
  Hostname: "string",
  Domainname: "string",
  User: "string",
  AttachStdin: "bool",
  AttachStdout: "bool",
  AttachStderr: "bool",
  Tty: "bool",
  OpenStdin: "bool",
  StdinOnce: "bool",
  Env: "[]string",
  Cmd: "[]string",
  Entrypoint: "[]string",
  Image: "string",
  WorkingDir: "string",
  Labels: "map",
  StopSignal: "string",
  StopTimeout: "int64",
  ExposedPorts: "map",
  Volumes: "map",
};

const HOST_CONFIG: Record<string, Kind> = {
  Binds: "[]string",
  NetworkMode: "string",
  PortBindings: "map",
  AutoRemove: "bool",
  CapAdd: "[]string",
  CapDrop: "[]string",
  Dns: "[]string",
  DnsOptions: "[]string",
  DnsSearch: "[]string",
  ExtraHosts: "[]string",
  GroupAdd: "[]string",
  IpcMode: "string",
  OomScoreAdj: "int64",
  PidMode: "string",
  Privileged: "bool",
  PublishAllPorts: "bool",
  ReadonlyRootfs: "bool",
  SecurityOpt: "[]string",
  Tmpfs: "map",
  UTSMode: "string",
  UsernsMode: "string",
  ShmSize: "int64",
  Sysctls: "map",
  CpuShares: "int64",
  Memory: "int64",
  NanoCpus: "int64",
  CgroupParent: "string",
  BlkioWeight: "int64",
  CpuPeriod: "int64",
  CpuQuota: "int64",
  CpusetCpus: "string",
  CpusetMems: "string",
  Devices: "[]object",
  MemoryReservation: "int64",
  MemorySwap: "int64",
  PidsLimit: "int64",
  Ulimits: "[]object",
  Init: "bool",
  Mounts: "[]object",
  VolumesFrom: "[]string",
};

const EXEC_CONFIG: Record<string, Kind> = {
  AttachStdin: "bool",
  AttachStdout: "bool",
  AttachStderr: "bool",
  DetachKeys: "string",
  Tty: "bool",
  Env: "[]string",
  Cmd: "[]string",
  Privileged: "bool",
  User: "string",
  WorkingDir: "string",
};

function matches(value: unknown, kind: Kind): boolean {
  if (value === null || value === undefined) return true; // Go leaves the zero value
  switch (kind) {
    case "int64":
      return typeof value === "number" && Number.isInteger(value);
    case "bool":
      return typeof value === "boolean";
    case "string":
      return typeof value === "string";
    case "[]string":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    case "[]object":
      return (
        Array.isArray(value) && value.every((v) => typeof v === "object" && v !== null && !Array.isArray(v))
      );
    case "map":
      return typeof value === "object" && !Array.isArray(value);
  }
}

function goType(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  return typeof value === "object" ? "object" : typeof value;
}

function check(obj: unknown, fields: Record<string, Kind>, where: string): void {
  if (obj === undefined || obj === null) return;
  if (typeof obj !== "object" || Array.isArray(obj))
    throw new InvalidArgument(`json: cannot unmarshal ${goType(obj)} into Go value of type ${where}`);
  for (const [name, kind] of Object.entries(fields)) {
    const value = (obj as Record<string, unknown>)[name];
    if (!matches(value, kind))
      throw new InvalidArgument(
        `json: cannot unmarshal ${goType(value)} into Go struct field ${where}.${name} of type ${kind === "map" ? "map[string]string" : kind}`,
      );
  }
}

/** Throws docker's decoding error for a create body whose fields have the wrong JSON types. */
export function checkCreateBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new InvalidArgument(
      `json: cannot unmarshal ${goType(body)} into Go value of type container.CreateRequest`,
    );
  check(body, CONFIG, "CreateRequest.Config");
  check((body as { HostConfig?: unknown }).HostConfig, HOST_CONFIG, "CreateRequest.HostConfig");
}

/** Throws docker's decoding error for an exec create body whose fields have the wrong JSON types. */
export function checkExecBody(body: unknown): void {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new InvalidArgument(
      `json: cannot unmarshal ${goType(body)} into Go value of type types.ExecConfig`,
    );
  check(body, EXEC_CONFIG, "ExecConfig");
}

/** Every field of docker's container.Config (the create body's top level). */
const CONFIG_FIELDS = [
  ...Object.keys(CONFIG),
  "Healthcheck",
  "ArgsEscaped",
  "NetworkDisabled",
  "MacAddress",
  "OnBuild",
  "Shell",
  "HostConfig",
  "NetworkingConfig",
];

/** Every field of docker's container.HostConfig. */
const HOST_CONFIG_FIELDS = [
  ...Object.keys(HOST_CONFIG),
  ...[
    "BlkioWeightDevice BlkioDeviceReadBps BlkioDeviceWriteBps BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps CpuRealtimePeriod CpuRealtimeRuntime DeviceCgroupRules DeviceRequests",
    "KernelMemory KernelMemoryTCP MemorySwappiness OomKillDisable CpuCount CpuPercent",
    "IOMaximumIOps IOMaximumBandwidth ContainerIDFile LogConfig RestartPolicy VolumeDriver",
    "ConsoleSize Annotations CgroupnsMode Cgroup Links StorageOpt Runtime Isolation",
    "MaskedPaths ReadonlyPaths",
  ]
    .join(" ")
    .split(" "),
];

/** Go's decoder matches a JSON key to a field whatever its case: so does this, by renaming. */
export function canonicalKeys(obj: unknown, fields: readonly string[]): void {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return;
  const o = obj as Record<string, unknown>;
  const byLower = new Map(fields.map((f) => [f.toLowerCase(), f]));
  for (const key of Object.keys(o)) {
    const field = byLower.get(key.toLowerCase());
    if (field && field !== key && !(field in o)) {
      o[field] = o[key];
      delete o[key];
    }
  }
}

/** The create body with its keys as dockerd reads them (docker-py sends `CPURealtimeRuntime`). */
export function canonicalCreateBody(body: unknown): void {
  canonicalKeys(body, CONFIG_FIELDS);
  canonicalKeys((body as { HostConfig?: unknown } | null)?.HostConfig, HOST_CONFIG_FIELDS);
}

/** The exec body with its keys as dockerd reads them (docker-py sends `detachKeys`). */
export function canonicalExecBody(body: unknown): void {
  canonicalKeys(body, [...Object.keys(EXEC_CONFIG), "ConsoleSize"]);
}
