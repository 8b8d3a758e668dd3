/**
 * One compose service → the swarm ServiceSpec that `docker stack deploy` sends for it: named
 * NAMESPACE_service, labelled with the stack's namespace (service and containers) and the image
 * as written, on the stack's networks (NAMESPACE_default when it names none) with its short name
 * as an alias, its secrets and configs by their engine names. Every field is checked as it is
 * read; an error names its path. Networks and secrets are referred to by name here: the deploy
 * resolves them to IDs once they exist.
 */
import type { FileReference, PortConfig, ServiceSpec, UpdateConfig } from "../../../cluster/types.js";
import type { ComposeProject } from "./compose-file.js";
import { resolvePath } from "./compose-file.js";
import {
  boolean,
  byteSize,
  ComposeError,
  commandLine,
  duration,
  integer,
  isMap,
  labels,
  mapOrList,
  mapping,
  number,
  type Obj,
  oneOf,
  onlyKeys,
  scalar,
  string,
  stringList,
} from "./fields.js";
import type { Lookup } from "./interpolate.js";

export const NAMESPACE_LABEL = "com.docker.stack.namespace";
export const IMAGE_LABEL = "com.docker.stack.image";

export interface ConvertContext {
  namespace: string;
  project: ComposeProject;
  lookup: Lookup;
  /** Reads a file the compose file names (env_file): a regular file only. */
  readText(path: string, field: string): string;
}

/** Keys docker's stack deploy reads and Berth's swarm applies. */
const APPLIED = [
  "image",
  "command",
  "entrypoint",
  "environment",
  "env_file",
  "labels",
  "deploy",
  "networks",
  "ports",
  "secrets",
  "configs",
  "volumes",
  "healthcheck",
  "user",
  "working_dir",
  "hostname",
  "stop_grace_period",
  "stop_signal",
  "read_only",
  "init",
  "tty",
  "stdin_open",
  "restart",
  "build",
];
/** Keys of the 3.x format that a swarm service cannot have: docker ignores them with a warning. */
const UNSUPPORTED = [
  "cgroup_parent",
  "container_name",
  "depends_on",
  "devices",
  "domainname",
  "expose",
  "external_links",
  "ipc",
  "links",
  "mac_address",
  "network_mode",
  "pid",
  "privileged",
  "security_opt",
  "shm_size",
  "userns_mode",
  "tmpfs",
];
/** Keys docker converts but Berth's swarm does not apply yet: said, not silently dropped. */
const NOT_APPLIED = [
  "cap_add",
  "cap_drop",
  "credential_spec",
  "dns",
  "dns_search",
  "extra_hosts",
  "isolation",
  "logging",
  "sysctls",
  "ulimits",
];

export function scope(namespace: string, name: string): string {
  return `${namespace}_${name}`;
}

export function convertService(
  name: string,
  svc: Obj,
  ctx: ConvertContext,
): { spec: ServiceSpec; warnings: string[] } {
  const path = `services.${name}`;
  onlyKeys(svc, [...APPLIED, ...UNSUPPORTED, ...NOT_APPLIED], path);
  const warnings: string[] = [];
  const ignored = Object.keys(svc).filter((k) => UNSUPPORTED.includes(k));
  if (ignored.length)
    warnings.push(`Ignoring unsupported options for service ${name}: ${ignored.join(", ")}`);
  const notApplied = Object.keys(svc).filter((k) => NOT_APPLIED.includes(k));
  if (notApplied.length)
    warnings.push(
      `Ignoring options Berth's swarm does not apply yet for service ${name}: ${notApplied.join(", ")}`,
    );
  if (svc["image"] === undefined)
    throw new ComposeError(
      path,
      svc["build"] !== undefined
        ? "has build but no image: stack deploy does not build images (build and push it, then name it in image:)"
        : "has no image",
    );
  if (svc["build"] !== undefined) warnings.push(`Ignoring unsupported options for service ${name}: build`);
  const image = string(svc["image"], `${path}.image`);
  if (!image.trim()) throw new ComposeError(`${path}.image`, "must not be empty");
  const deploy = svc["deploy"] === undefined ? {} : mapping(svc["deploy"], `${path}.deploy`);
  onlyKeys(
    deploy,
    [
      "mode",
      "replicas",
      "labels",
      "update_config",
      "rollback_config",
      "resources",
      "restart_policy",
      "placement",
      "endpoint_mode",
    ],
    `${path}.deploy`,
  );
  const ns = ctx.namespace;
  const opt = <T>(key: string, read: (v: unknown, p: string) => T): T | undefined =>
    svc[key] === undefined ? undefined : read(svc[key], `${path}.${key}`);
  const healthcheck = opt("healthcheck", convertHealthcheck);
  const secrets = opt("secrets", (v, p) => fileReferences("secret", v, p, ctx));
  const configs = opt("configs", (v, p) => fileReferences("config", v, p, ctx));
  const mounts = opt("volumes", (v, p) => convertVolumes(v, p, ctx));
  const ports = opt("ports", convertPorts) ?? [];
  const endpointMode =
    deploy["endpoint_mode"] === undefined
      ? "vip"
      : oneOf(deploy["endpoint_mode"], ["vip", "dnsrr"] as const, `${path}.deploy.endpoint_mode`);
  const containerLabels = opt("labels", labels) ?? {};
  const spec: ServiceSpec = {
    Name: scope(ns, name),
    Labels: {
      ...(deploy["labels"] === undefined ? {} : labels(deploy["labels"], `${path}.deploy.labels`)),
      [NAMESPACE_LABEL]: ns,
      [IMAGE_LABEL]: image,
    },
    TaskTemplate: {
      ContainerSpec: defined({
        Image: image,
        Command: opt("entrypoint", commandLine),
        Args: opt("command", commandLine),
        Hostname: opt("hostname", string),
        Env: environment(svc, path, ctx),
        Labels: { ...containerLabels, [NAMESPACE_LABEL]: ns },
        Dir: opt("working_dir", string),
        User: opt("user", (v, p) => scalar(v, p)),
        Mounts: mounts,
        StopGracePeriod: opt("stop_grace_period", duration),
        StopSignal: opt("stop_signal", string),
        TTY: opt("tty", boolean),
        OpenStdin: opt("stdin_open", boolean),
        ReadOnly: opt("read_only", boolean),
        Init: opt("init", boolean),
        Healthcheck: healthcheck,
        Secrets: secrets,
        Configs: configs,
      }),
      ...defined({
        Resources:
          deploy["resources"] === undefined
            ? undefined
            : convertResources(deploy["resources"], `${path}.deploy.resources`),
        RestartPolicy: restartPolicy(svc["restart"], deploy["restart_policy"], path),
      }),
      Placement: placement(deploy["placement"], `${path}.deploy.placement`),
      Networks: serviceNetworks(name, svc["networks"], `${path}.networks`, ctx),
    },
    Mode: deployMode(deploy, `${path}.deploy`),
    ...defined({
      UpdateConfig: updatePolicy(deploy["update_config"], `${path}.deploy.update_config`),
      RollbackConfig: updatePolicy(deploy["rollback_config"], `${path}.deploy.rollback_config`),
    }),
    EndpointSpec: { Mode: endpointMode, ...(ports.length ? { Ports: ports } : {}) },
  };
  if (endpointMode === "dnsrr" && ports.some((p) => p.PublishMode !== "host"))
    throw new ComposeError(
      `${path}.ports`,
      "publishes a port in ingress mode, which needs endpoint_mode vip (publish in mode host with dnsrr)",
    );
  return { spec, warnings };
}

/** The object without its undefined fields (what Go's omitempty leaves out). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** env_file first, then environment; a variable without a value takes the user's, if set. */
function environment(svc: Obj, path: string, ctx: ConvertContext): string[] | undefined {
  if (svc["environment"] === undefined && svc["env_file"] === undefined) return undefined;
  const env: Record<string, string | undefined> = {};
  if (svc["env_file"] !== undefined) {
    const files =
      typeof svc["env_file"] === "string"
        ? [svc["env_file"]]
        : stringList(svc["env_file"], `${path}.env_file`);
    files.forEach((f, i) => {
      const at = typeof svc["env_file"] === "string" ? `${path}.env_file` : `${path}.env_file.${i}`;
      Object.assign(env, parseEnvFile(ctx.readText(resolvePath(ctx.project.baseDir, f), at), at));
    });
  }
  if (svc["environment"] !== undefined)
    Object.assign(env, mapOrList(svc["environment"], `${path}.environment`));
  return Object.entries(env)
    .map(([k, v]) => {
      const value = v ?? ctx.lookup(k);
      return value === undefined ? k : `${k}=${value}`;
    })
    .sort();
}

/** KEY=VALUE lines; # comments and blank lines skipped; KEY alone takes the user's value. */
export function parseEnvFile(text: string, path: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/^\s+/, "");
    if (!line || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (!key || /\s/.test(key))
      throw new ComposeError(path, `line ${i + 1}: variable name "${key}" is empty or has whitespace`);
    out[key] = eq < 0 ? undefined : line.slice(eq + 1);
  });
  return out;
}

function convertHealthcheck(
  v: unknown,
  path: string,
): NonNullable<ServiceSpec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]> {
  const h = mapping(v, path);
  onlyKeys(h, ["test", "interval", "timeout", "retries", "start_period", "disable"], path);
  if (h["disable"] !== undefined && boolean(h["disable"], `${path}.disable`)) {
    if (h["test"] !== undefined) throw new ComposeError(path, "sets both test and disable");
    return { Test: ["NONE"] };
  }
  const test =
    h["test"] === undefined
      ? undefined
      : typeof h["test"] === "string"
        ? ["CMD-SHELL", h["test"]]
        : stringList(h["test"], `${path}.test`);
  if (test?.length && !["NONE", "CMD", "CMD-SHELL"].includes(test[0]!))
    throw new ComposeError(`${path}.test`, 'must start with "CMD", "CMD-SHELL" or "NONE", or be a string');
  return defined({
    Test: test,
    Interval: h["interval"] === undefined ? undefined : duration(h["interval"], `${path}.interval`),
    Timeout: h["timeout"] === undefined ? undefined : duration(h["timeout"], `${path}.timeout`),
    Retries: h["retries"] === undefined ? undefined : integer(h["retries"], `${path}.retries`),
    StartPeriod:
      h["start_period"] === undefined ? undefined : duration(h["start_period"], `${path}.start_period`),
  });
}

function fileReferences(
  kind: "secret" | "config",
  v: unknown,
  path: string,
  ctx: ConvertContext,
): FileReference[] {
  if (!Array.isArray(v)) throw new ComposeError(path, "must be a list");
  const defs = kind === "secret" ? ctx.project.secrets : ctx.project.configs;
  const refs = v.map((item, i) => {
    const at = `${path}.${i}`;
    let source: string;
    let target: string | undefined;
    let uid = "0";
    let gid = "0";
    let mode = 0o444;
    if (typeof item === "string") source = item;
    else {
      const m = mapping(item, at);
      onlyKeys(m, ["source", "target", "uid", "gid", "mode"], at);
      source = string(m["source"], `${at}.source`);
      if (m["target"] !== undefined) target = string(m["target"], `${at}.target`);
      if (m["uid"] !== undefined) uid = scalar(m["uid"], `${at}.uid`);
      if (m["gid"] !== undefined) gid = scalar(m["gid"], `${at}.gid`);
      if (m["mode"] !== undefined)
        mode =
          typeof m["mode"] === "string" && /^0?[0-7]{1,4}$/.test(m["mode"])
            ? Number.parseInt(m["mode"], 8)
            : integer(m["mode"], `${at}.mode`);
      if (mode > 0o777) throw new ComposeError(`${at}.mode`, "must be a file mode, 0 to 0777");
    }
    const def = defs[source];
    if (!def) throw new ComposeError(at, `names ${kind} "${source}", which is not defined under ${kind}s:`);
    const name = def.name ?? scope(ctx.namespace, source);
    const file = { Name: target ?? source, UID: uid, GID: gid, Mode: mode };
    return kind === "secret" ? { File: file, SecretName: name } : { File: file, ConfigName: name };
  });
  const key = (r: FileReference) => r.SecretName ?? r.ConfigName ?? "";
  return refs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

type ConvertedMount = NonNullable<ServiceSpec["TaskTemplate"]["ContainerSpec"]["Mounts"]>[number] & {
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    DriverConfig?: { Name?: string; Options?: Record<string, string> };
  };
  BindOptions?: { Propagation: string };
  TmpfsOptions?: { SizeBytes: number };
};

function convertVolumes(v: unknown, path: string, ctx: ConvertContext): ConvertedMount[] {
  if (!Array.isArray(v)) throw new ComposeError(path, "must be a list");
  return v.map((item, i) => {
    const at = `${path}.${i}`;
    const m = typeof item === "string" ? shortVolume(item, at, ctx) : longVolume(item, at, ctx);
    if (!m.Target.startsWith("/"))
      throw new ComposeError(at, `target "${m.Target}" must be an absolute path`);
    return m;
  });
}

/** SOURCE:TARGET[:MODE] or TARGET: a path source is a bind, a name a volume of the stack. */
function shortVolume(text: string, path: string, ctx: ConvertContext): ConvertedMount {
  const parts = text.split(":");
  if (parts.length > 3 || parts.some((p) => p === ""))
    throw new ComposeError(path, `"${text}" is not SOURCE:TARGET[:MODE] or TARGET`);
  if (parts.length === 1) return { Type: "volume", Target: parts[0]!, ReadOnly: false };
  const [source, target, mode = "rw"] = parts as [string, string, string?];
  const flags = mode.split(",");
  for (const f of flags)
    if (!["ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent"].includes(f))
      throw new ComposeError(path, `has an unknown mode "${f}" (use ro or rw)`);
  const readOnly = flags.includes("ro");
  if (/^[./~]/.test(source))
    return {
      Type: "bind",
      Source: resolvePath(ctx.project.baseDir, source),
      Target: target,
      ReadOnly: readOnly,
    };
  return namedVolume(source, target, readOnly, flags.includes("nocopy"), path, ctx);
}

function namedVolume(
  source: string,
  target: string,
  readOnly: boolean,
  noCopy: boolean,
  path: string,
  ctx: ConvertContext,
): ConvertedMount {
  const def = ctx.project.volumes[source];
  if (!def) throw new ComposeError(path, `names volume "${source}", which is not defined under volumes:`);
  const options: ConvertedMount["VolumeOptions"] = {
    ...(noCopy ? { NoCopy: true } : {}),
    ...(def.external ? {} : { Labels: { ...def.labels, [NAMESPACE_LABEL]: ctx.namespace } }),
    ...(!def.external && (def.driver || def.driverOpts)
      ? {
          DriverConfig: {
            ...(def.driver ? { Name: def.driver } : {}),
            ...(def.driverOpts ? { Options: def.driverOpts } : {}),
          },
        }
      : {}),
  };
  return {
    Type: "volume",
    Source: def.name ?? scope(ctx.namespace, source),
    Target: target,
    ReadOnly: readOnly,
    VolumeOptions: options,
  };
}

function longVolume(item: unknown, path: string, ctx: ConvertContext): ConvertedMount {
  const m = mapping(item, path);
  onlyKeys(m, ["type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs"], path);
  const type = oneOf(m["type"] ?? "volume", ["volume", "bind", "tmpfs"] as const, `${path}.type`);
  const target = string(m["target"], `${path}.target`);
  const readOnly = m["read_only"] === undefined ? false : boolean(m["read_only"], `${path}.read_only`);
  const source = m["source"] === undefined ? undefined : string(m["source"], `${path}.source`);
  for (const other of ["bind", "volume", "tmpfs"] as const)
    if (other !== type && m[other] !== undefined)
      throw new ComposeError(`${path}.${other}`, `options are incompatible with type ${type}`);
  const sub = (key: string, allowed: string[]) => {
    if (m[key] === undefined) return {};
    const o = mapping(m[key], `${path}.${key}`);
    onlyKeys(o, allowed, `${path}.${key}`);
    return o;
  };
  if (type === "bind") {
    if (!source) throw new ComposeError(`${path}.source`, "is required for a bind mount");
    const b = sub("bind", ["propagation"]);
    return {
      Type: "bind",
      Source: resolvePath(ctx.project.baseDir, source),
      Target: target,
      ReadOnly: readOnly,
      ...(b["propagation"] !== undefined
        ? {
            BindOptions: {
              Propagation: oneOf(
                b["propagation"],
                ["private", "rprivate", "shared", "rshared", "slave", "rslave"] as const,
                `${path}.bind.propagation`,
              ),
            },
          }
        : {}),
    };
  }
  if (type === "tmpfs") {
    if (source) throw new ComposeError(`${path}.source`, "must be empty for a tmpfs mount");
    const t = sub("tmpfs", ["size"]);
    return {
      Type: "tmpfs",
      Target: target,
      ReadOnly: readOnly,
      ...(t["size"] !== undefined
        ? { TmpfsOptions: { SizeBytes: byteSize(t["size"], `${path}.tmpfs.size`) } }
        : {}),
    };
  }
  const vo = sub("volume", ["nocopy"]);
  const noCopy = vo["nocopy"] === undefined ? false : boolean(vo["nocopy"], `${path}.volume.nocopy`);
  if (!source) return { Type: "volume", Target: target, ReadOnly: readOnly };
  return namedVolume(source, target, readOnly, noCopy, path, ctx);
}

/** Ports, short ("8080:80/udp", "80", "8000-8001:80-81", "127.0.0.1:8080:80") or long syntax. */
export function convertPorts(v: unknown, path: string): PortConfig[] {
  if (!Array.isArray(v)) throw new ComposeError(path, "must be a list");
  const out = v.flatMap((item, i) =>
    isMap(item) ? [longPort(item, `${path}.${i}`)] : shortPorts(item, `${path}.${i}`),
  );
  const seen = new Set<string>();
  for (const p of out) {
    const key = `${p.PublishedPort ?? `t${p.TargetPort}`}/${p.Protocol}/${p.PublishMode}`;
    if (p.PublishedPort && seen.has(key))
      throw new ComposeError(path, `publishes port ${p.PublishedPort}/${p.Protocol} twice`);
    seen.add(key);
  }
  return out.sort(
    (a, b) =>
      a.TargetPort - b.TargetPort ||
      (a.PublishedPort ?? 0) - (b.PublishedPort ?? 0) ||
      String(a.Protocol).localeCompare(String(b.Protocol)),
  );
}

function portNumber(text: string, path: string, whole: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 1 && n <= 65535))
    throw new ComposeError(path, `has an invalid port "${whole}": ports are 1 to 65535`);
  return n;
}

function portRange(text: string, path: string, whole: string): number[] {
  const [from, to] = text.split("-") as [string, string?];
  const start = portNumber(from, path, whole);
  const end = to === undefined ? start : portNumber(to, path, whole);
  if (end < start || end - start > 1000) throw new ComposeError(path, `has an invalid port range "${whole}"`);
  return Array.from({ length: end - start + 1 }, (_, i) => start + i);
}

function shortPorts(item: unknown, path: string): PortConfig[] {
  const text = scalar(item, path);
  const [spec, proto = "tcp", ...more] = text.split("/");
  if (more.length || !["tcp", "udp", "sctp"].includes(proto))
    throw new ComposeError(path, `has an invalid protocol in "${text}" (tcp, udp or sctp)`);
  // An IPv4 host address may come first; a swarm publishes on every address, so it is dropped.
  const parts = spec!.split(":");
  if (parts.length === 3) parts.shift();
  if (parts.length > 2 || parts.some((p) => p === ""))
    throw new ComposeError(path, `has an invalid port "${text}": use [PUBLISHED:]TARGET[/PROTOCOL]`);
  const targets = portRange(parts.at(-1)!, path, text);
  const published = parts.length === 2 ? portRange(parts[0]!, path, text) : undefined;
  if (published && published.length !== targets.length)
    throw new ComposeError(path, `has ranges of different lengths in "${text}"`);
  return targets.map((t, i) => ({
    Protocol: proto as PortConfig["Protocol"],
    TargetPort: t,
    ...(published ? { PublishedPort: published[i]! } : {}),
    PublishMode: "ingress" as const,
  }));
}

function longPort(m: Obj, path: string): PortConfig {
  onlyKeys(m, ["target", "published", "protocol", "mode"], path);
  if (m["target"] === undefined) throw new ComposeError(`${path}.target`, "is required");
  const target = integer(m["target"], `${path}.target`, 1);
  if (target > 65535) throw new ComposeError(`${path}.target`, "must be a port, 1 to 65535");
  const published =
    m["published"] === undefined ? undefined : integer(m["published"], `${path}.published`, 1);
  if (published !== undefined && published > 65535)
    throw new ComposeError(`${path}.published`, "must be a port, 1 to 65535");
  return {
    Protocol: oneOf(m["protocol"] ?? "tcp", ["tcp", "udp", "sctp"] as const, `${path}.protocol`),
    TargetPort: target,
    ...(published !== undefined ? { PublishedPort: published } : {}),
    PublishMode: oneOf(m["mode"] ?? "ingress", ["ingress", "host"] as const, `${path}.mode`),
  };
}

function deployMode(deploy: Obj, path: string): ServiceSpec["Mode"] {
  const mode = oneOf(
    deploy["mode"] ?? "replicated",
    ["replicated", "global", "replicated-job", "global-job"] as const,
    `${path}.mode`,
  );
  const replicas =
    deploy["replicas"] === undefined ? undefined : integer(deploy["replicas"], `${path}.replicas`);
  if (replicas !== undefined && (mode === "global" || mode === "global-job"))
    throw new ComposeError(`${path}.replicas`, `can only be used with replicated mode (mode is ${mode})`);
  if (mode === "global") return { Global: {} };
  if (mode === "global-job") return { GlobalJob: {} };
  if (mode === "replicated-job")
    return { ReplicatedJob: { MaxConcurrent: replicas ?? 1, TotalCompletions: replicas ?? 1 } };
  return { Replicated: { Replicas: replicas ?? 1 } };
}

function updatePolicy(v: unknown, path: string): UpdateConfig | undefined {
  if (v === undefined) return undefined;
  const u = mapping(v, path);
  onlyKeys(u, ["parallelism", "delay", "failure_action", "monitor", "max_failure_ratio", "order"], path);
  return defined({
    Parallelism: u["parallelism"] === undefined ? 1 : integer(u["parallelism"], `${path}.parallelism`),
    Delay: u["delay"] === undefined ? undefined : duration(u["delay"], `${path}.delay`),
    FailureAction:
      u["failure_action"] === undefined
        ? undefined
        : oneOf(u["failure_action"], ["continue", "rollback", "pause"] as const, `${path}.failure_action`),
    Monitor: u["monitor"] === undefined ? undefined : duration(u["monitor"], `${path}.monitor`),
    MaxFailureRatio:
      u["max_failure_ratio"] === undefined
        ? undefined
        : number(u["max_failure_ratio"], `${path}.max_failure_ratio`),
    Order:
      u["order"] === undefined
        ? undefined
        : oneOf(u["order"], ["start-first", "stop-first"] as const, `${path}.order`),
  });
}

function cpus(v: unknown, path: string): number {
  const n = number(v, path);
  if (n < 0) throw new ComposeError(path, "must be 0 or more");
  return Math.round(n * 1e9);
}

function convertResources(v: unknown, path: string): NonNullable<ServiceSpec["TaskTemplate"]["Resources"]> {
  const r = mapping(v, path);
  onlyKeys(r, ["limits", "reservations"], path);
  const one = (key: string, allowed: string[]) => {
    if (r[key] === undefined) return undefined;
    const at = `${path}.${key}`;
    const x = mapping(r[key], at);
    onlyKeys(x, allowed, at);
    return defined({
      NanoCPUs: x["cpus"] === undefined ? undefined : cpus(x["cpus"], `${at}.cpus`),
      MemoryBytes: x["memory"] === undefined ? undefined : byteSize(x["memory"], `${at}.memory`),
      Pids: x["pids"] === undefined ? undefined : integer(x["pids"], `${at}.pids`),
    });
  };
  return defined({
    Limits: one("limits", ["cpus", "memory", "pids"]),
    Reservations: one("reservations", ["cpus", "memory"]),
  });
}

/** deploy.restart_policy, or else the service's `restart` (no, always, on-failure[:N], unless-stopped). */
function restartPolicy(
  restart: unknown,
  policy: unknown,
  path: string,
): ServiceSpec["TaskTemplate"]["RestartPolicy"] {
  if (policy !== undefined) {
    const at = `${path}.deploy.restart_policy`;
    const p = mapping(policy, at);
    onlyKeys(p, ["condition", "delay", "max_attempts", "window"], at);
    return defined({
      Condition:
        p["condition"] === undefined
          ? undefined
          : oneOf(p["condition"], ["none", "on-failure", "any"] as const, `${at}.condition`),
      Delay: p["delay"] === undefined ? undefined : duration(p["delay"], `${at}.delay`),
      MaxAttempts:
        p["max_attempts"] === undefined ? undefined : integer(p["max_attempts"], `${at}.max_attempts`),
      Window: p["window"] === undefined ? undefined : duration(p["window"], `${at}.window`),
    });
  }
  if (restart === undefined) return undefined;
  const text = string(restart, `${path}.restart`);
  const m = /^(no|always|unless-stopped|on-failure)(?::(\d+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== "on-failure"))
    throw new ComposeError(
      `${path}.restart`,
      `"${text}" is not no, always, unless-stopped or on-failure[:N]`,
    );
  if (m[1] === "no") return undefined;
  return {
    Condition: m[1] === "on-failure" ? "on-failure" : "any",
    ...(m[2] && Number(m[2]) > 0 ? { MaxAttempts: Number(m[2]) } : {}),
  };
}

function placement(v: unknown, path: string): NonNullable<ServiceSpec["TaskTemplate"]["Placement"]> {
  if (v === undefined) return {};
  const p = mapping(v, path);
  onlyKeys(p, ["constraints", "preferences", "max_replicas_per_node"], path);
  return defined({
    Constraints:
      p["constraints"] === undefined ? undefined : stringList(p["constraints"], `${path}.constraints`),
    Preferences:
      p["preferences"] === undefined
        ? undefined
        : (() => {
            if (!Array.isArray(p["preferences"]))
              throw new ComposeError(`${path}.preferences`, "must be a list");
            return p["preferences"].map((x, i) => {
              const at = `${path}.preferences.${i}`;
              const m = mapping(x, at);
              onlyKeys(m, ["spread"], at);
              return { Spread: { SpreadDescriptor: string(m["spread"], `${at}.spread`) } };
            });
          })(),
    MaxReplicas:
      p["max_replicas_per_node"] === undefined
        ? undefined
        : integer(p["max_replicas_per_node"], `${path}.max_replicas_per_node`),
  });
}

/** The service's networks by engine name, sorted, each with the service's short name as an alias. */
function serviceNetworks(
  service: string,
  v: unknown,
  path: string,
  ctx: ConvertContext,
): Array<{ Target: string; Aliases?: string[] }> {
  const wanted: Record<string, string[]> = {};
  if (v === undefined || v === null) wanted["default"] = [];
  else if (Array.isArray(v))
    v.forEach((n, i) => {
      wanted[string(n, `${path}.${i}`)] = [];
    });
  else
    for (const [n, cfg] of Object.entries(mapping(v, path))) {
      const at = `${path}.${n}`;
      if (cfg === null) {
        wanted[n] = [];
        continue;
      }
      const c = mapping(cfg, at);
      onlyKeys(c, ["aliases", "ipv4_address", "ipv6_address"], at);
      if (c["ipv4_address"] !== undefined || c["ipv6_address"] !== undefined)
        throw new ComposeError(at, "sets a static address, which a swarm service cannot have");
      wanted[n] = c["aliases"] === undefined ? [] : stringList(c["aliases"], `${at}.aliases`);
    }
  return Object.entries(wanted)
    .map(([n, aliases]) => {
      const def = ctx.project.networks[n];
      if (!def && n !== "default")
        throw new ComposeError(path, `names network "${n}", which is not defined under networks:`);
      return { Target: def?.name ?? scope(ctx.namespace, n), Aliases: [...aliases, service] };
    })
    .sort((a, b) => (a.Target < b.Target ? -1 : a.Target > b.Target ? 1 : 0));
}
