/**
 * Reading compose files (format 3.x) for `berth stack deploy`: YAML parsed as docker's loader
 * parses it (`0440` is octal), several files merged in order, the
 * variables interpolated, and the top level checked: its version, its known keys, the shape of
 * each section. What a service says is checked as it is converted (convert-service.ts).
 */
import { resolve } from "node:path";
import { parse, type ScalarTag } from "yaml";
import {
  boolean,
  ComposeError,
  isMap,
  labels,
  mapping,
  type Obj,
  onlyKeys,
  scalar,
  string,
} from "./fields.js";
import { interpolate, type Lookup } from "./interpolate.js";

const TOP_LEVEL = ["version", "services", "networks", "volumes", "secrets", "configs"] as const;

export interface NetworkDef {
  /** The network's name in the engine: the stack's NAMESPACE_key unless `name` or external says. */
  name?: string;
  external: boolean;
  driver: string;
  driverOpts: Record<string, string>;
  attachable: boolean;
  internal: boolean;
  labels: Record<string, string>;
  subnets: string[];
}

export interface VolumeDef {
  name?: string;
  external: boolean;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels: Record<string, string>;
}

/** A top-level secret or config: a file to read, or an external object. */
export interface FileObjectDef {
  name?: string;
  external: boolean;
  /** Absolute (resolved against the first compose file's directory). */
  file?: string;
  labels: Record<string, string>;
  templateDriver?: string;
}

export interface ComposeProject {
  /** Relative paths (secret files, env_file, bind sources) are resolved against this. */
  baseDir: string;
  services: Record<string, Obj>;
  networks: Record<string, NetworkDef>;
  volumes: Record<string, VolumeDef>;
  secrets: Record<string, FileObjectDef>;
  configs: Record<string, FileObjectDef>;
  warnings: string[];
}

/** The compose file versions stack deploy reads: 3 and 3.0 to 3.9 (missing: the latest). */
function checkVersion(v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== "string")
    throw new ComposeError("version", `must be a string, as "3.8" (quote it: version: "${String(v)}")`);
  if (!/^3(\.\d)?$/.test(v))
    throw new ComposeError(
      "version",
      `"${v}" is not supported: stack deploy reads compose file format 3.x (version: "3.8")`,
    );
}

/**
 * docker's YAML reader (go-yaml v3) keeps one YAML 1.1 habit on top of 1.2: an integer written
 * with a leading 0 is octal, so that `mode: 0440` means what every compose example means by it.
 * yes/no/on/off stay strings, as there.
 */
const LEGACY_OCTAL: ScalarTag = {
  tag: "tag:yaml.org,2002:int",
  default: true,
  test: /^0[0-7]+$/,
  resolve: (text: string) => Number.parseInt(text, 8),
};

/** One file's text as a mapping; YAML errors say where. */
export function parseComposeText(text: string, file: string): Obj {
  let doc: unknown;
  try {
    // Aliases are bounded: a "billion laughs" file must not take the CLI's memory.
    doc = parse(text, {
      customTags: (tags) => [LEGACY_OCTAL, ...tags],
      prettyErrors: true,
      maxAliasCount: 100,
    });
  } catch (err) {
    throw new ComposeError(file, `is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  if (!isMap(doc)) throw new ComposeError(file, "must hold a mapping at its top level (services: ...)");
  return doc;
}

/** Later files override earlier ones key by key; lists and scalars are replaced whole. */
export function mergeDocuments(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = isMap(out[k]) && isMap(v) ? mergeDocuments(out[k], v) : v;
  return out;
}

/** `external: true` or `external: {name: N}` (the older form). */
function externalOf(v: unknown, path: string): { external: boolean; name?: string } {
  if (v === undefined) return { external: false };
  if (isMap(v)) {
    onlyKeys(v, ["name"], path);
    return {
      external: true,
      ...(v["name"] !== undefined ? { name: string(v["name"], `${path}.name`) } : {}),
    };
  }
  return { external: boolean(v, path) };
}

function section(doc: Obj, key: string): Record<string, Obj> {
  const v = doc[key];
  if (v === undefined || v === null) return {};
  const m = mapping(v, key);
  return Object.fromEntries(
    Object.entries(m).map(([name, def]) => [name, def === null ? {} : mapping(def, `${key}.${name}`)]),
  );
}

function stringMap(v: unknown, path: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  const m = mapping(v, path);
  return Object.fromEntries(Object.entries(m).map(([k, x]) => [k, scalar(x, `${path}.${k}`)]));
}

/** An external object takes only its name: anything that would make it is a mistake. */
function externalAlone(def: Obj, ext: { external: boolean }, path: string, allowed: string[]): void {
  if (!ext.external) return;
  for (const key of Object.keys(def))
    if (!["external", "name", ...allowed].includes(key))
      throw new ComposeError(`${path}.${key}`, "conflicts with external: an external object is only named");
}

function networkDef(name: string, def: Obj): NetworkDef {
  const path = `networks.${name}`;
  onlyKeys(
    def,
    ["driver", "driver_opts", "ipam", "external", "internal", "attachable", "labels", "name"],
    path,
  );
  const ext = externalOf(def["external"], `${path}.external`);
  externalAlone(def, ext, path, []);
  const subnets: string[] = [];
  if (def["ipam"] !== undefined) {
    const ipam = mapping(def["ipam"], `${path}.ipam`);
    onlyKeys(ipam, ["driver", "config"], `${path}.ipam`);
    if (ipam["driver"] !== undefined && string(ipam["driver"], `${path}.ipam.driver`) !== "default")
      throw new ComposeError(`${path}.ipam.driver`, 'must be "default" (the only IPAM driver)');
    if (ipam["config"] !== undefined) {
      if (!Array.isArray(ipam["config"])) throw new ComposeError(`${path}.ipam.config`, "must be a list");
      ipam["config"].forEach((c, i) => {
        const at = `${path}.ipam.config.${i}`;
        const m = mapping(c, at);
        onlyKeys(m, ["subnet"], at);
        subnets.push(string(m["subnet"], `${at}.subnet`));
      });
    }
  }
  const driver = def["driver"] === undefined ? "overlay" : string(def["driver"], `${path}.driver`);
  if (!ext.external && driver !== "overlay")
    throw new ComposeError(
      `${path}.driver`,
      `"${driver}" cannot span a swarm: a stack's networks are overlay`,
    );
  const explicit = def["name"] === undefined ? undefined : string(def["name"], `${path}.name`);
  return {
    ...(ext.name || explicit || ext.external ? { name: ext.name ?? explicit ?? name } : {}),
    external: ext.external,
    driver,
    driverOpts: stringMap(def["driver_opts"], `${path}.driver_opts`),
    attachable: def["attachable"] === undefined ? false : boolean(def["attachable"], `${path}.attachable`),
    internal: def["internal"] === undefined ? false : boolean(def["internal"], `${path}.internal`),
    labels: def["labels"] === undefined ? {} : labels(def["labels"], `${path}.labels`),
    subnets,
  };
}

function volumeDef(name: string, def: Obj): VolumeDef {
  const path = `volumes.${name}`;
  onlyKeys(def, ["driver", "driver_opts", "external", "labels", "name"], path);
  const ext = externalOf(def["external"], `${path}.external`);
  externalAlone(def, ext, path, []);
  const explicit = def["name"] === undefined ? undefined : string(def["name"], `${path}.name`);
  return {
    ...(ext.name || explicit || ext.external ? { name: ext.name ?? explicit ?? name } : {}),
    external: ext.external,
    ...(def["driver"] !== undefined ? { driver: string(def["driver"], `${path}.driver`) } : {}),
    ...(def["driver_opts"] !== undefined
      ? { driverOpts: stringMap(def["driver_opts"], `${path}.driver_opts`) }
      : {}),
    labels: def["labels"] === undefined ? {} : labels(def["labels"], `${path}.labels`),
  };
}

function fileObjectDef(kind: "secrets" | "configs", name: string, def: Obj, baseDir: string): FileObjectDef {
  const path = `${kind}.${name}`;
  onlyKeys(def, ["file", "external", "labels", "name", "template_driver"], path);
  const ext = externalOf(def["external"], `${path}.external`);
  externalAlone(def, ext, path, []);
  if (!ext.external && def["file"] === undefined)
    throw new ComposeError(path, "needs file: (a path to its content) or external: true");
  const explicit = def["name"] === undefined ? undefined : string(def["name"], `${path}.name`);
  const file = def["file"] === undefined ? undefined : string(def["file"], `${path}.file`);
  const template =
    def["template_driver"] === undefined
      ? undefined
      : string(def["template_driver"], `${path}.template_driver`);
  if (template !== undefined && template !== "golang")
    throw new ComposeError(`${path}.template_driver`, `must be "golang" (given "${template}")`);
  return {
    ...(ext.name || explicit || ext.external ? { name: ext.name ?? explicit ?? name } : {}),
    external: ext.external,
    ...(file !== undefined ? { file: resolvePath(baseDir, file) } : {}),
    labels: def["labels"] === undefined ? {} : labels(def["labels"], `${path}.labels`),
    ...(template ? { templateDriver: template } : {}),
  };
}

/** A path of the compose file: absolute, `~/…` in the user's home, or relative to `baseDir`. */
export function resolvePath(baseDir: string, p: string): string {
  if (p === "~" || p.startsWith("~/")) return resolve(process.env["HOME"] ?? "/root", `.${p.slice(1)}`);
  return resolve(baseDir, p);
}

/**
 * The project of compose documents given in order (already parsed, `-c a.yml -c b.yml`):
 * merged, interpolated with `lookup`, and its top level checked.
 */
export function loadCompose(docs: Obj[], baseDir: string, lookup: Lookup): ComposeProject {
  const warnings: string[] = [];
  for (const d of docs) checkVersion(d["version"]);
  const merged = interpolate(docs.reduce(mergeDocuments, {}), lookup, "", warnings) as Obj;
  onlyKeys(merged, TOP_LEVEL, "");
  const services = section(merged, "services");
  if (!Object.keys(services).length) throw new ComposeError("services", "must name at least one service");
  for (const name of Object.keys(services))
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name))
      throw new ComposeError(`services.${name}`, "is not a valid service name (letters, digits, _ . -)");
  const each = <T>(key: string, make: (name: string, def: Obj) => T) =>
    Object.fromEntries(Object.entries(section(merged, key)).map(([n, d]) => [n, make(n, d)]));
  return {
    baseDir,
    services,
    networks: each("networks", networkDef),
    volumes: each("volumes", volumeDef),
    secrets: each("secrets", (n, d) => fileObjectDef("secrets", n, d, baseDir)),
    configs: each("configs", (n, d) => fileObjectDef("configs", n, d, baseDir)),
    warnings,
  };
}
