/**
 * A plugin's config.json ("Plugin Config Version 1 of Plugin V2") read and checked before
 * anything is made of it. Keys match case-insensitively, as Go's encoding/json matches them
 * (docker-py's test plugin writes "entrypoint" and "interface"), unknown keys are ignored as
 * dockerd ignores them, and every value Berth will act on is checked: a wrong type, an unknown
 * interface type, a socket name that is a path, a relative mount destination, an unknown
 * capability — each an InvalidPluginConfig naming the field.
 */
import { posix } from "node:path";
import { capabilityNumber, normalizeCapability } from "../runtime/capabilities.js";
import { InvalidPluginConfig } from "./errors.js";
import {
  PLUGIN_SOCKET_DIR,
  type PluginArgs,
  type PluginConfig,
  type PluginDevice,
  type PluginEnv,
  type PluginMount,
} from "./types.js";

/** The capabilities Docker defines for plugins (the "docker." prefix), by interface type. */
export const KNOWN_CAPABILITIES = [
  "volumedriver",
  "networkdriver",
  "ipamdriver",
  "authz",
  "logdriver",
  "metricscollector",
] as const;

export const VOLUME_DRIVER_CAPABILITY = "volumedriver";

const PROTOCOL_SCHEMES = ["", "moby.plugins.http/v1"];
const NETWORK_TYPES = ["", "host", "bridge", "none", "null"];
const MOUNT_TYPES = ["bind", "tmpfs"];
/** What `plugin set` may change, per kind of setting (daemon/pkg/plugin/v2/settable.go). */
export const SETTABLE_FIELDS = {
  env: ["value"],
  args: ["value"],
  mounts: ["source"],
  devices: ["path"],
} as const;

/** A capability id "prefix.capability/version" split as dockerd's CapabilityID reads it. */
export interface CapabilityId {
  prefix: string;
  capability: string;
  version: string;
}

export function parseCapabilityId(text: string): CapabilityId {
  const slash = text.indexOf("/");
  const qualified = slash < 0 ? text : text.slice(0, slash);
  const dot = qualified.lastIndexOf(".");
  return {
    prefix: dot < 0 ? "" : qualified.slice(0, dot),
    capability: dot < 0 ? qualified : qualified.slice(dot + 1),
    version: slash < 0 ? "" : text.slice(slash + 1),
  };
}

/** Whether a plugin's interface offers `capability` ("volumedriver") as Docker's, any 1.x. */
export function hasCapability(config: PluginConfig, capability: string): boolean {
  return config.Interface.Types.some((t) => {
    const id = parseCapabilityId(t);
    return id.prefix === "docker" && id.capability === capability.toLowerCase();
  });
}

/** Reads config.json's bytes (or a parsed value) into a checked config. */
export function parsePluginConfig(data: Buffer | string): PluginConfig {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch (err) {
    throw new InvalidPluginConfig(`config.json is not JSON: ${(err as Error).message}`);
  }
  return checkPluginConfig(value);
}

export function checkPluginConfig(value: unknown): PluginConfig {
  const top = object(value, "config.json");
  const iface = object(top.get("Interface") ?? {}, "Interface");
  const linux = object(top.get("Linux") ?? {}, "Linux");
  const network = object(top.get("Network") ?? {}, "Network");
  const args = object(top.get("Args") ?? {}, "Args");
  const config: PluginConfig = {
    Description: string(top, "Description"),
    Documentation: string(top, "Documentation"),
    Interface: {
      Types: strings(iface.get("Types"), "Interface.Types").map(checkInterfaceType),
      Socket: checkSocket(string(iface, "Socket", "Interface.Socket")),
      ProtocolScheme: oneOf(
        string(iface, "ProtocolScheme", "Interface.ProtocolScheme"),
        PROTOCOL_SCHEMES,
        "Interface.ProtocolScheme",
      ),
    },
    Entrypoint: strings(top.get("Entrypoint"), "Entrypoint"),
    WorkDir: absoluteOrEmpty(string(top, "WorkDir"), "WorkDir"),
    Network: { Type: oneOf(string(network, "Type", "Network.Type"), NETWORK_TYPES, "Network.Type") },
    Linux: {
      Capabilities: strings(linux.get("Capabilities"), "Linux.Capabilities").map((c, i) =>
        checkCapability(c, `Linux.Capabilities[${i}]`),
      ),
      AllowAllDevices: boolean(linux, "AllowAllDevices", "Linux.AllowAllDevices"),
      Devices: list(linux.get("Devices"), "Linux.Devices").map((d, i) => device(d, `Linux.Devices[${i}]`)),
    },
    PropagatedMount: checkPropagatedMount(string(top, "PropagatedMount")),
    IpcHost: boolean(top, "IpcHost"),
    PidHost: boolean(top, "PidHost"),
    Mounts: list(top.get("Mounts"), "Mounts").map((m, i) => mount(m, `Mounts[${i}]`)),
    Env: list(top.get("Env"), "Env").map((e, i) => env(e, `Env[${i}]`)),
    Args: pluginArgs(args),
  };
  const docker = top.get("DockerVersion");
  if (typeof docker === "string") config.DockerVersion = docker;
  const user = top.get("User");
  if (user !== undefined && user !== null) {
    const u = object(user, "User");
    config.User = { UID: uint(u.get("UID"), "User.UID"), GID: uint(u.get("GID"), "User.GID") };
  }
  const rootfs = top.get("rootfs");
  if (rootfs !== undefined && rootfs !== null) {
    const r = object(rootfs, "rootfs");
    config.rootfs = { type: "layers", diff_ids: strings(r.get("diff_ids"), "rootfs.diff_ids") };
  }
  if (config.Interface.Types.length && !config.Interface.Socket)
    throw new InvalidPluginConfig("Interface.Socket: a plugin with interface types needs a socket name");
  return config;
}

/** A JSON object whose keys are looked up case-insensitively, as Go's decoder does. */
class Fields {
  private readonly byLower = new Map<string, unknown>();

  constructor(value: Record<string, unknown>) {
    for (const [k, v] of Object.entries(value))
      if (!this.byLower.has(k.toLowerCase())) this.byLower.set(k.toLowerCase(), v);
  }

  get(name: string): unknown {
    return this.byLower.get(name.toLowerCase());
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

function object(value: unknown, path: string): Fields {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new InvalidPluginConfig(`${path}: must be an object, not ${describe(value)}`);
  return new Fields(value as Record<string, unknown>);
}

function string(fields: Fields, name: string, path = name): string {
  const v = fields.get(name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new InvalidPluginConfig(`${path}: must be a string, not ${describe(v)}`);
  return v;
}

function nullableString(fields: Fields, name: string, path: string): string | null {
  const v = fields.get(name);
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new InvalidPluginConfig(`${path}: must be a string, not ${describe(v)}`);
  return v;
}

function boolean(fields: Fields, name: string, path = name): boolean {
  const v = fields.get(name);
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean")
    throw new InvalidPluginConfig(`${path}: must be true or false, not ${describe(v)}`);
  return v;
}

function uint(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffffffff)
    throw new InvalidPluginConfig(`${path}: must be a non-negative 32-bit integer, not ${describe(value)}`);
  return value;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new InvalidPluginConfig(`${path}: must be an array, not ${describe(value)}`);
  return value;
}

function strings(value: unknown, path: string): string[] {
  return list(value, path).map((v, i) => {
    if (typeof v !== "string")
      throw new InvalidPluginConfig(`${path}[${i}]: must be a string, not ${describe(v)}`);
    return v;
  });
}

function oneOf(value: string, allowed: string[], path: string): string {
  if (!allowed.includes(value))
    throw new InvalidPluginConfig(
      `${path}: "${value}" is not one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
    );
  return value;
}

function absoluteOrEmpty(value: string, path: string): string {
  if (value && !posix.isAbsolute(value))
    throw new InvalidPluginConfig(`${path}: "${value}" is not an absolute path`);
  return value;
}

function checkInterfaceType(text: string, i: number): string {
  const id = parseCapabilityId(text);
  const known = KNOWN_CAPABILITIES as readonly string[];
  if (id.prefix !== "docker" || !known.includes(id.capability) || !/^1\.\d+$/.test(id.version))
    throw new InvalidPluginConfig(
      `Interface.Types[${i}]: unknown interface type "${text}" (Docker's are ${KNOWN_CAPABILITIES.map((c) => `docker.${c}/1.0`).join(", ")})`,
    );
  return text;
}

/** The socket is a file name in the plugin's socket directory: a path could point anywhere. */
function checkSocket(name: string): string {
  if (name === "") return name;
  if (name.includes("/") || name.includes("\0") || name === "." || name === "..")
    throw new InvalidPluginConfig(
      `Interface.Socket: "${name}" must be a file name in ${PLUGIN_SOCKET_DIR} (no "/")`,
    );
  // The plugin binds it under /run/docker/plugins/: a unix socket address holds 108 bytes.
  if (Buffer.byteLength(name) > 64)
    throw new InvalidPluginConfig(`Interface.Socket: "${name}" is longer than 64 bytes`);
  return name;
}

function checkCapability(name: string, path: string): string {
  const normal = normalizeCapability(name);
  try {
    capabilityNumber(normal, path);
  } catch {
    throw new InvalidPluginConfig(`${path}: unknown capability "${name}"`);
  }
  return normal;
}

function checkPropagatedMount(path: string): string {
  absoluteOrEmpty(path, "PropagatedMount");
  if (path && posix.normalize(path) === "/")
    throw new InvalidPluginConfig("PropagatedMount: the plugin's whole root cannot be its propagated mount");
  return path ? posix.normalize(path).replace(/\/$/, "") : "";
}

function settable(fields: Fields, path: string, allowed: readonly string[]): string[] {
  const values = strings(fields.get("Settable"), `${path}.Settable`);
  for (const v of values)
    if (!allowed.includes(v))
      throw new InvalidPluginConfig(
        `${path}.Settable: "${v}" cannot be made settable (only ${allowed.map((a) => `"${a}"`).join(", ")})`,
      );
  return values;
}

function named(fields: Fields, path: string): string {
  const name = string(fields, "Name", `${path}.Name`);
  if (!name) throw new InvalidPluginConfig(`${path}.Name: must not be empty`);
  // `plugin set` reads "name.field=value": a "=" would end the name early.
  if (name.includes("=")) throw new InvalidPluginConfig(`${path}.Name: "${name}" contains "="`);
  return name;
}

function env(value: unknown, path: string): PluginEnv {
  const f = object(value, path);
  return {
    Name: named(f, path),
    Description: string(f, "Description", `${path}.Description`),
    Settable: settable(f, path, SETTABLE_FIELDS.env),
    Value: nullableString(f, "Value", `${path}.Value`),
  };
}

function mount(value: unknown, path: string): PluginMount {
  const f = object(value, path);
  const destination = string(f, "Destination", `${path}.Destination`);
  if (!posix.isAbsolute(destination) || posix.normalize(destination) === "/")
    throw new InvalidPluginConfig(`${path}.Destination: "${destination}" is not an absolute path below "/"`);
  const source = nullableString(f, "Source", `${path}.Source`);
  const type = string(f, "Type", `${path}.Type`) || "bind";
  oneOf(type, MOUNT_TYPES, `${path}.Type`);
  if (type === "bind" && source !== null && !posix.isAbsolute(source))
    throw new InvalidPluginConfig(`${path}.Source: "${source}" is not an absolute host path`);
  return {
    Name: string(f, "Name", `${path}.Name`),
    Description: string(f, "Description", `${path}.Description`),
    Settable: settable(f, path, SETTABLE_FIELDS.mounts),
    Source: source,
    Destination: destination,
    Type: type,
    Options: strings(f.get("Options"), `${path}.Options`),
  };
}

function device(value: unknown, path: string): PluginDevice {
  const f = object(value, path);
  const devicePath = nullableString(f, "Path", `${path}.Path`);
  if (devicePath !== null && !posix.isAbsolute(devicePath))
    throw new InvalidPluginConfig(`${path}.Path: "${devicePath}" is not an absolute path`);
  return {
    Name: string(f, "Name", `${path}.Name`),
    Description: string(f, "Description", `${path}.Description`),
    Settable: settable(f, path, SETTABLE_FIELDS.devices),
    Path: devicePath,
  };
}

function pluginArgs(f: Fields): PluginArgs {
  return {
    Name: string(f, "Name", "Args.Name"),
    Description: string(f, "Description", "Args.Description"),
    Settable: settable(f, "Args", SETTABLE_FIELDS.args),
    Value: strings(f.get("Value"), "Args.Value"),
  };
}
