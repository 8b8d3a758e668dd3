/**
 * `POST /containers/create`: the image's config merged with the request (Docker's rules for
 * Cmd/Entrypoint, Env, WorkingDir, User, Labels, Volumes), the host config checked, volumes
 * created. Nothing else is made until start: a created container costs one record file.
 */
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import type { ImageRecord } from "../image/image-store.js";
import type { ImageConfig } from "../image/manifest.js";
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../oci/default-spec.js";
import { parseSignal } from "../runtime/signals.js";
import { canonicalCreateBody, checkCreateBody } from "./body-types.js";
import { mergeEnv } from "./container-spec.js";
import type {
  ContainerConfig,
  ContainerRecord,
  CreateBody,
  EndpointSettings,
  HostConfig,
  NetworkSettings,
} from "./docker-types.js";
import type { Engine } from "./engine.js";
import { mergeHealthcheck, probeCommand } from "./health.js";
import { parseLink, recordLinks } from "./links.js";
import { mountPoints, planMounts } from "./mounts.js";
import { newId, randomName, shortId, validateName } from "./names.js";
import type { NetworkProvider } from "./network-provider.js";

const RESTART_POLICIES = new Set(["", "no", "always", "unless-stopped", "on-failure"]);
const MIN_MEMORY = 6 * 1024 * 1024;

/** The log drivers Berth writes: docker's default file, or none at all. */
const LOG_DRIVERS = new Set(["json-file", "none"]);
/**
 * The runtimes a container may name: Berth's own, and "runc", the name docker clients send for
 * the default runtime, which Berth's stands in for.
 */
export const RUNTIMES = ["berth-runtime", "runc"];

export function defaultHostConfig(given: Partial<HostConfig> = {}): HostConfig {
  const hc = {
    Binds: null,
    LogConfig: { Type: "json-file", Config: {} },
    NetworkMode: "default",
    PortBindings: null,
    RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: "host",
    Dns: null,
    DnsOptions: null,
    DnsSearch: null,
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: "private",
    OomScoreAdj: 0,
    PidMode: "",
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: "",
    UsernsMode: "",
    ShmSize: 67108864,
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: "",
    BlkioWeight: 0,
    CpuPeriod: 0,
    CpuQuota: 0,
    CpusetCpus: "",
    CpusetMems: "",
    Devices: null,
    DeviceCgroupRules: null,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: null,
    Ulimits: null,
    Runtime: "berth-runtime",
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    // The rest of docker's host config, with its zero values: clients read them.
    ContainerIDFile: "",
    VolumeDriver: "",
    ConsoleSize: [0, 0],
    Cgroup: "",
    Isolation: "",
    BlkioWeightDevice: null,
    BlkioDeviceReadBps: null,
    BlkioDeviceWriteBps: null,
    BlkioDeviceReadIOps: null,
    BlkioDeviceWriteIOps: null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: DEFAULT_MASKED_PATHS,
    ReadonlyPaths: DEFAULT_READONLY_PATHS,
    ...Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)),
  } as HostConfig;
  // An empty driver is the default one, as dockerd records it.
  hc.LogConfig = { Type: hc.LogConfig?.Type || "json-file", Config: hc.LogConfig?.Config ?? {} };
  return hc;
}

/** Checks what Docker checks at create, with Docker's messages; `remapped`: the daemon has --userns-remap. */
export function validateHostConfig(hc: HostConfig, remapped = false): void {
  const policy = hc.RestartPolicy?.Name ?? "";
  if (!RESTART_POLICIES.has(policy)) throw new InvalidArgument(`invalid restart policy '${policy}'`);
  if (policy === "on-failure" && (hc.RestartPolicy.MaximumRetryCount ?? 0) < 0)
    throw new InvalidArgument("maximum retry count cannot be negative");
  if (
    policy !== "on-failure" &&
    policy !== "" &&
    policy !== "no" &&
    (hc.RestartPolicy.MaximumRetryCount ?? 0) > 0
  )
    throw new InvalidArgument(`maximum retry count cannot be used with restart policy '${policy}'`);
  if (hc.AutoRemove && policy !== "" && policy !== "no")
    throw new InvalidArgument("can't create 'AutoRemove' container with restart policy");
  if (hc.Memory > 0 && hc.Memory < MIN_MEMORY)
    throw new InvalidArgument("Minimum memory limit allowed is 6MB");
  if (hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory)
    throw new InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (hc.MemorySwap > 0 && hc.Memory === 0)
    throw new InvalidArgument(
      "You should always set the Memory limit when using Memoryswap limit, see usage",
    );
  if (hc.NanoCpus && (hc.CpuQuota || hc.CpuPeriod))
    throw new InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (hc.NanoCpus < 0)
    throw new InvalidArgument("Range of CPUs is from 0.01 to the number of CPUs available");
  if (hc.CpuShares < 0) throw new InvalidArgument("invalid CPU shares: must be non-negative");
  if (hc.OomScoreAdj < -1000 || hc.OomScoreAdj > 1000)
    throw new InvalidArgument(`Invalid value ${hc.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  if (hc.UsernsMode && hc.UsernsMode !== "host")
    throw new InvalidArgument(`invalid USER mode: ${hc.UsernsMode}`);
  if (remapped && hc.UsernsMode !== "host") {
    // Docker's checks: each of these needs the host's user namespace (--userns=host).
    if (hc.Privileged)
      throw new InvalidArgument(
        "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
      );
    if (hc.NetworkMode === "host")
      throw new InvalidArgument("cannot share the host's network namespace when user namespaces are enabled");
    if (hc.PidMode === "host")
      throw new InvalidArgument("cannot share the host PID namespace when user namespaces are enabled");
  }
  for (const u of hc.Ulimits ?? []) {
    if (u.Soft > u.Hard)
      throw new InvalidArgument(
        `ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`,
      );
  }
  if (hc.Runtime && !RUNTIMES.includes(hc.Runtime))
    throw new InvalidArgument(`Unknown runtime specified ${hc.Runtime}`);
  if (!LOG_DRIVERS.has(hc.LogConfig.Type))
    throw new InvalidArgument(`logger: no log driver named '${hc.LogConfig.Type}' is registered`);
  const mode = hc.NetworkMode || "default";
  if (mode.startsWith("container:") && mode.length === "container:".length)
    throw new InvalidArgument("invalid network mode: container: needs a container name or id");
}

/** Docker's merge of the image's config and the request. */
export function mergeConfig(
  body: CreateBody,
  image: ImageConfig["config"] = {},
  id: string,
): ContainerConfig {
  const entrypointGiven = body.Entrypoint !== undefined && body.Entrypoint !== null;
  // `--entrypoint ""` arrives as [""]: no entrypoint at all.
  const entrypoint = entrypointGiven
    ? body.Entrypoint!.length === 1 && body.Entrypoint![0] === ""
      ? null
      : body.Entrypoint!
    : (image.Entrypoint ?? null);
  // A new entrypoint discards the image's CMD (Docker does the same).
  const cmd = body.Cmd?.length ? body.Cmd : entrypointGiven ? null : (image.Cmd ?? null);
  const exposed: Record<string, Record<string, never>> = {};
  for (const p of [...Object.keys(image.ExposedPorts ?? {}), ...Object.keys(body.ExposedPorts ?? {})])
    exposed[p] = {};
  const healthcheck = mergeHealthcheck(image.Healthcheck, body.Healthcheck);
  probeCommand(healthcheck?.Test); // refuses a malformed test before anything is created
  const volumes: Record<string, Record<string, never>> = {};
  for (const v of [...Object.keys(image.Volumes ?? {}), ...Object.keys(body.Volumes ?? {})]) volumes[v] = {};
  return {
    Hostname: body.Hostname || shortId(id),
    Domainname: body.Domainname ?? "",
    User: body.User || image.User || "",
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
    ...(Object.keys(exposed).length ? { ExposedPorts: exposed } : {}),
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    Env: mergeEnv(image.Env ?? [], body.Env ?? []),
    Cmd: cmd,
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    Image: body.Image,
    Volumes: Object.keys(volumes).length ? volumes : null,
    WorkingDir: body.WorkingDir || image.WorkingDir || "",
    Entrypoint: entrypoint,
    OnBuild: image.OnBuild ?? null,
    Labels: { ...(image.Labels ?? {}), ...(body.Labels ?? {}) },
    ...(body.StopSignal || image.StopSignal ? { StopSignal: body.StopSignal || image.StopSignal } : {}),
    ...(body.StopTimeout !== undefined ? { StopTimeout: body.StopTimeout } : {}),
    ...(image.Shell ? { Shell: image.Shell } : {}),
  };
}

export async function createContainer(
  engine: Engine,
  body: CreateBody,
  name?: string,
): Promise<{ Id: string; Warnings: string[] }> {
  if (!body || typeof body !== "object")
    throw new InvalidArgument("config cannot be empty in order to create a container");
  canonicalCreateBody(body);
  checkCreateBody(body);
  // docker-py puts the runtime beside the config rather than in the host config.
  const runtime = (body as { Runtime?: unknown }).Runtime;
  if (typeof runtime === "string" && runtime && body.HostConfig?.Runtime === undefined)
    body.HostConfig = { ...body.HostConfig, Runtime: runtime };
  if (typeof body.Image !== "string" || body.Image === "") throw new InvalidArgument("No image specified");
  const image: ImageRecord = engine.images.resolve(body.Image);
  const imageConfig = await engine.images.config(image);
  const id = newId();
  const config = mergeConfig(body, imageConfig.config, id);
  const args = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (args.length === 0) throw new InvalidArgument("no command specified");
  if (config.StopSignal) parseSignal(config.StopSignal);
  const hostConfig = defaultHostConfig(body.HostConfig);
  validateHostConfig(hostConfig, engine.options.userns !== undefined);
  const recordName = name ? validateName(name) : randomName((n) => engine.store.nameTaken(n));
  if (engine.store.nameTaken(recordName)) {
    const holder = engine.store.get(recordName).Id;
    throw new Conflict(
      `Conflict. The container name "${recordName}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  }
  if (hostConfig.NetworkMode.startsWith("container:"))
    engine.store.get(hostConfig.NetworkMode.slice("container:".length));
  else if (hostConfig.NetworkMode !== "host" && hostConfig.NetworkMode !== "none" && engine.network) {
    // A 400, not a 404: clients take a 404 from create for a missing image and pull it.
    const check = (name: string) => {
      try {
        engine.network!.describeNetwork(name);
      } catch (err) {
        throw new InvalidArgument((err as Error).message);
      }
    };
    check(hostConfig.NetworkMode || "default");
    for (const name of Object.keys(body.NetworkingConfig?.EndpointsConfig ?? {})) check(name);
  }
  hostConfig.Links = recordLinks(recordName, hostConfig.Links, (n) => engine.store.get(n));
  const warnings: string[] = [];
  const planned = await planMounts(config, hostConfig, [], engine.volumes);
  const record: ContainerRecord = {
    Id: id,
    Created: new Date().toISOString(),
    Path: args[0]!,
    Args: args.slice(1),
    State: {
      Status: "created",
      Running: false,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 0,
      ExitCode: 0,
      Error: "",
      StartedAt: "0001-01-01T00:00:00Z",
      FinishedAt: "0001-01-01T00:00:00Z",
    },
    Image: image.id,
    ResolvConfPath: "",
    HostnamePath: "",
    HostsPath: "",
    LogPath: "",
    Name: recordName,
    RestartCount: 0,
    Driver: engine.snapshotter.name,
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: null,
    HostConfig: hostConfig,
    GraphDriver: { Name: engine.snapshotter.name, Data: null },
    Mounts: mountPoints(planned),
    Config: config,
    NetworkSettings: emptyNetworkSettings(),
    Berth: {
      chainId: image.layers.at(-1)?.chainId ?? "",
      manuallyStopped: false,
      snapshotPrepared: false,
      mounts: planned,
      networkingConfig: endpointsWithLinks(
        endpointsWithMac(body, hostConfig.NetworkMode || "default"),
        hostConfig,
      ),
    },
  };
  record.NetworkSettings.Networks = plannedNetworks(engine, record);
  engine.store.add(record);
  engine.events.container(record, "create");
  return { Id: id, Warnings: warnings };
}

/**
 * The networks a container is configured for, as docker shows them before it runs (and after):
 * ids, aliases (with the short ID on user networks), no addresses. `keepUnknown`: a network this
 * daemon does not know (now) keeps the entry the record has for it instead of failing — what an
 * exit needs recorded at the daemon's start, before swarm mode is back with a task's overlay.
 */
export function plannedNetworks(
  engine: Engine,
  record: ContainerRecord,
  options: { keepUnknown?: boolean } = {},
): NetworkSettings["Networks"] {
  const mode = record.HostConfig.NetworkMode || "default";
  // host and none are networks of their own for docker's clients: an endpoint with no address.
  if (mode === "host" || mode === "none") return { [mode]: endpoint(mode, undefined, null) };
  if (!engine.network || mode.startsWith("container:")) return {};
  const out: NetworkSettings["Networks"] = {};
  const endpoints = record.Berth.networkingConfig;
  for (const key of [mode, ...Object.keys(endpoints)]) {
    let n: ReturnType<NetworkProvider["describeNetwork"]>;
    try {
      n = engine.network.describeNetwork(key);
    } catch (err) {
      if (!options.keepUnknown || !(err instanceof NotFound)) throw err;
      const had = Object.entries(record.NetworkSettings.Networks ?? {}).find(
        ([name, e]) => name === key || e.NetworkID === key,
      );
      if (had && !out[had[0]]) out[had[0]] = endpoint(had[1].NetworkID, endpoints[key], had[1].Aliases);
      continue;
    }
    if (out[n.name]) continue;
    const e = endpoints[key] ?? endpoints[n.name];
    out[n.name] = endpoint(n.id, e, n.builtin ? null : [...(e?.Aliases ?? []), record.Id.slice(0, 12)]);
  }
  return out;
}

/** An endpoint before it has an address: what was asked for it, the rest empty. */
function endpoint(
  networkId: string,
  e: Partial<EndpointSettings> | undefined,
  aliases: string[] | null,
): EndpointSettings {
  return {
    IPAMConfig: e?.IPAMConfig ?? null,
    Links: e?.Links ?? null,
    Aliases: aliases,
    MacAddress: e?.MacAddress ?? "",
    NetworkID: networkId,
    EndpointID: "",
    Gateway: "",
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    DriverOpts: e?.DriverOpts ?? null,
  };
}

export function emptyNetworkSettings(): ContainerRecord["NetworkSettings"] {
  return {
    Bridge: "",
    SandboxID: "",
    SandboxKey: "",
    Ports: {},
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: "",
    Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    MacAddress: "",
    Networks: {},
  };
}

/**
 * The request's endpoint settings, with a container-wide MacAddress (the API before 1.44 puts it
 * in the config) moved to the endpoint of its network mode, where dockerd moves it.
 */
function endpointsWithMac(body: CreateBody, mode: string): Record<string, Partial<EndpointSettings>> {
  const endpoints = { ...(body.NetworkingConfig?.EndpointsConfig ?? {}) };
  const mac = (body as { MacAddress?: string }).MacAddress;
  if (!mac || !hasEndpoints(mode)) return endpoints;
  const key = mode === "default" && !endpoints[mode] && endpoints["bridge"] ? "bridge" : mode;
  endpoints[key] = { MacAddress: mac, ...endpoints[key] };
  return endpoints;
}

/**
 * On a user network, legacy links become the endpoint's links ("NAME:ALIAS"), which its DNS
 * answers for this container alone, as dockerd turns them.
 */
function endpointsWithLinks(
  endpoints: Record<string, Partial<EndpointSettings>>,
  hc: HostConfig,
): Record<string, Partial<EndpointSettings>> {
  const mode = hc.NetworkMode || "default";
  if (!hc.Links?.length || !hasEndpoints(mode) || mode === "default" || mode === "bridge") return endpoints;
  const links = hc.Links.map((text) => {
    const { target, alias } = parseLink(text);
    return `${target}:${alias}`;
  });
  return { ...endpoints, [mode]: { ...endpoints[mode], Links: endpoints[mode]?.Links ?? links } };
}

/** Whether a network mode puts the container on networks (not host's, none, another's). */
function hasEndpoints(mode: string): boolean {
  return mode !== "host" && mode !== "none" && !mode.startsWith("container:");
}
