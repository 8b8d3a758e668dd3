/**
 * `berth create` and `berth run` flags, turned into the body of POST /containers/create exactly
 * as the docker CLI builds it, so that the daemon sees the same request from either client.
 */
import { readFileSync } from "node:fs";
import type { CreateBody, HostConfig, MountSpec, Ulimit } from "../../engine/docker-types.js";
import { InvalidArgument } from "../../errors.js";
import { parseBytes, parseDuration } from "../../util/units.js";
import { bool, keyValueFlags, type OptionSpec, type OptionValues, str, strs } from "../args.js";

/** The healthcheck flags, read by healthcheck(): `run`, `create` and `service create` take them. */
export const HEALTH_OPTIONS: OptionSpec[] = [
  { name: "health-cmd", type: "string", description: "Command to run to check health" },
  { name: "health-interval", type: "string", description: "Time between running the check (ms|s|m|h)" },
  { name: "health-retries", type: "string", description: "Consecutive failures needed to report unhealthy" },
  {
    name: "health-timeout",
    type: "string",
    description: "Maximum time to allow one check to run (ms|s|m|h)",
  },
  {
    name: "health-start-period",
    type: "string",
    description: "Start period for the container to initialize",
  },
  { name: "no-healthcheck", type: "boolean", description: "Disable any container-specified HEALTHCHECK" },
];

export const CREATE_OPTIONS: OptionSpec[] = [
  { name: "name", type: "string", description: "Assign a name to the container" },
  { name: "interactive", short: "i", type: "boolean", description: "Keep STDIN open even if not attached" },
  { name: "tty", short: "t", type: "boolean", description: "Allocate a pseudo-TTY" },
  { name: "env", short: "e", type: "strings", description: "Set environment variables" },
  { name: "env-file", type: "strings", description: "Read in a file of environment variables" },
  { name: "workdir", short: "w", type: "string", description: "Working directory inside the container" },
  {
    name: "user",
    short: "u",
    type: "string",
    description: "Username or UID (format: <name|uid>[:<group|gid>])",
  },
  { name: "entrypoint", type: "string", description: "Overwrite the default ENTRYPOINT of the image" },
  { name: "hostname", short: "h", type: "string", description: "Container host name" },
  { name: "label", short: "l", type: "strings", description: "Set meta data on a container" },
  {
    name: "restart",
    type: "string",
    description: 'Restart policy to apply when a container exits (default "no")',
  },
  { name: "rm", type: "boolean", description: "Automatically remove the container when it exits" },
  { name: "memory", short: "m", type: "string", description: "Memory limit" },
  { name: "memory-reservation", type: "string", description: "Memory soft limit" },
  {
    name: "memory-swap",
    type: "string",
    description: "Swap limit equal to memory plus swap: '-1' for unlimited",
  },
  { name: "cpus", type: "string", description: "Number of CPUs" },
  { name: "cpu-shares", short: "c", type: "string", description: "CPU shares (relative weight)" },
  { name: "cpu-period", type: "string", description: "Limit CPU CFS period" },
  { name: "cpu-quota", type: "string", description: "Limit CPU CFS quota" },
  { name: "cpuset-cpus", type: "string", description: "CPUs in which to allow execution (0-3, 0,1)" },
  { name: "cpuset-mems", type: "string", description: "MEMs in which to allow execution (0-3, 0,1)" },
  { name: "pids-limit", type: "string", description: "Tune container pids limit (-1 for unlimited)" },
  { name: "blkio-weight", type: "string", description: "Block IO (relative weight), between 10 and 1000" },
  { name: "read-only", type: "boolean", description: "Mount the container's root filesystem as read only" },
  { name: "cap-add", type: "strings", description: "Add Linux capabilities" },
  { name: "cap-drop", type: "strings", description: "Drop Linux capabilities" },
  { name: "privileged", type: "boolean", description: "Give extended privileges to this container" },
  { name: "security-opt", type: "strings", description: "Security Options" },
  {
    name: "init",
    type: "boolean",
    description: "Run an init inside the container that forwards signals and reaps processes",
  },
  { name: "stop-signal", type: "string", description: "Signal to stop the container" },
  { name: "stop-timeout", type: "string", description: "Timeout (in seconds) to stop a container" },
  ...HEALTH_OPTIONS,
  { name: "tmpfs", type: "strings", description: "Mount a tmpfs directory" },
  { name: "volume", short: "v", type: "strings", description: "Bind mount a volume" },
  { name: "mount", type: "strings", description: "Attach a filesystem mount to the container" },
  { name: "volume-driver", type: "string", description: "Optional volume driver for the container" },
  { name: "ulimit", type: "strings", description: "Ulimit options" },
  { name: "userns", type: "string", description: "User namespace to use" },
  { name: "network", type: "string", description: "Connect a container to a network" },
  { name: "net", type: "string", description: "Connect a container to a network" },
  { name: "ip", type: "string", description: "IPv4 address (e.g., 172.30.100.104)" },
  { name: "ip6", type: "string", description: "IPv6 address (e.g., 2001:db8::33)" },
  { name: "network-alias", type: "strings", description: "Add network-scoped alias for the container" },
  { name: "publish", short: "p", type: "strings", description: "Publish a container's port(s) to the host" },
  {
    name: "publish-all",
    short: "P",
    type: "boolean",
    description: "Publish all exposed ports to random ports",
  },
  { name: "expose", type: "strings", description: "Expose a port or a range of ports" },
  { name: "dns", type: "strings", description: "Set custom DNS servers" },
  { name: "add-host", type: "strings", description: "Add a custom host-to-IP mapping (host:ip)" },
  { name: "pid", type: "string", description: "PID namespace to use" },
  { name: "ipc", type: "string", description: "IPC mode to use" },
  { name: "uts", type: "string", description: "UTS namespace to use" },
  { name: "group-add", type: "strings", description: "Add additional groups to join" },
  { name: "sysctl", type: "strings", description: "Sysctl options" },
  { name: "shm-size", type: "string", description: "Size of /dev/shm" },
  { name: "oom-score-adj", type: "string", description: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: "log-opt", type: "strings", description: "Log driver options" },
  { name: "log-driver", type: "string", description: "Logging driver for the container" },
  { name: "link", type: "strings", description: "Add link to another container" },
  { name: "mac-address", type: "string", description: "Container MAC address (e.g., 92:d0:c6:0a:29:33)" },
  { name: "runtime", type: "string", description: "Runtime to use for this container" },
  { name: "device", type: "strings", description: "Add a host device to the container" },
  { name: "cgroup-parent", type: "string", description: "Optional parent cgroup for the container" },
  { name: "platform", type: "string", description: "Set platform if server is multi-platform capable" },
  { name: "pull", type: "string", description: 'Pull image before creating ("always", "missing", "never")' },
  { name: "quiet", short: "q", type: "boolean", description: "Suppress the pull output" },
];

export const RUN_OPTIONS: OptionSpec[] = [
  ...CREATE_OPTIONS,
  {
    name: "detach",
    short: "d",
    type: "boolean",
    description: "Run container in background and print container ID",
  },
  { name: "detach-keys", type: "string", description: "Override the key sequence for detaching a container" },
  { name: "attach", short: "a", type: "strings", description: "Attach to STDIN, STDOUT or STDERR" },
];

function int(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text.trim()))
    throw new InvalidArgument(
      `invalid argument "${text}" for "--${flag}" flag: strconv.ParseInt: parsing "${text}": invalid syntax`,
    );
  return Number(text);
}

/** `-e K=V` as is; `-e K` takes K from this environment (dropped when unset), as docker does. */
function environment(o: OptionValues): string[] {
  const out: string[] = [];
  const add = (item: string) => {
    if (item.includes("=")) out.push(item);
    else if (process.env[item] !== undefined) out.push(`${item}=${process.env[item]}`);
  };
  for (const file of strs(o, "env-file")) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new InvalidArgument(`open ${file}: no such file or directory`);
    }
    for (const line of text.split("\n")) {
      const trimmed = line.trimStart();
      if (trimmed && !trimmed.startsWith("#")) add(trimmed.replace(/\r$/, ""));
    }
  }
  for (const item of strs(o, "env")) add(item);
  return out;
}

function restartPolicy(text: string | undefined): HostConfig["RestartPolicy"] {
  if (!text) return { Name: "no", MaximumRetryCount: 0 };
  const [name, count] = text.split(":");
  if (name !== "no" && name !== "always" && name !== "unless-stopped" && name !== "on-failure")
    throw new InvalidArgument(`invalid restart policy format: ${text}`);
  if (count !== undefined && name !== "on-failure")
    throw new InvalidArgument(
      `invalid restart policy format: maximum retry count can only be used with 'on-failure'`,
    );
  return { Name: name, MaximumRetryCount: count === undefined ? 0 : int(count, "restart")! };
}

/** --mount type=bind,source=/a,target=/b,readonly / type=volume,... / type=tmpfs,tmpfs-size=... */
export function parseMount(text: string): MountSpec {
  const m: MountSpec = { Type: "volume", Target: "" };
  for (const field of text.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const flag = () => value === undefined || value === "true" || value === "1";
    switch (key) {
      case "type":
        if (value !== "bind" && value !== "volume" && value !== "tmpfs")
          throw new InvalidArgument(
            `invalid argument "${text}" for "--mount" flag: unknown mount type "${value}"`,
          );
        m.Type = value;
        break;
      case "source":
      case "src":
        m.Source = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m.Target = value ?? "";
        break;
      case "readonly":
      case "ro":
        m.ReadOnly = flag();
        break;
      case "bind-propagation":
        m.BindOptions = { ...m.BindOptions, Propagation: value };
        break;
      case "volume-nocopy":
        m.VolumeOptions = { ...m.VolumeOptions, NoCopy: flag() };
        break;
      case "volume-driver":
        m.VolumeOptions = {
          ...m.VolumeOptions,
          DriverConfig: { ...m.VolumeOptions?.DriverConfig, Name: value ?? "" },
        };
        break;
      case "volume-opt": {
        // key=value inside the field: "volume-opt=size=1g"
        const opt = value ?? "";
        const at = opt.indexOf("=");
        if (at <= 0)
          throw new InvalidArgument(
            `invalid argument "${text}" for "--mount" flag: invalid volume-opt '${opt}'`,
          );
        const driver = m.VolumeOptions?.DriverConfig;
        m.VolumeOptions = {
          ...m.VolumeOptions,
          DriverConfig: { ...driver, Options: { ...driver?.Options, [opt.slice(0, at)]: opt.slice(at + 1) } },
        };
        break;
      }
      case "tmpfs-size":
        m.TmpfsOptions = { ...m.TmpfsOptions, SizeBytes: parseBytes(value ?? "", "tmpfs-size") };
        break;
      case "tmpfs-mode":
        m.TmpfsOptions = { ...m.TmpfsOptions, Mode: Number.parseInt(value ?? "", 8) };
        break;
      default:
        throw new InvalidArgument(
          `invalid argument "${text}" for "--mount" flag: unexpected key '${key}' in '${field}'`,
        );
    }
  }
  if (!m.Target)
    throw new InvalidArgument(`invalid argument "${text}" for "--mount" flag: target is required`);
  return m;
}

/** --ulimit nofile=1024[:2048] */
export function parseUlimit(text: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw new InvalidArgument(`invalid argument "${text}" for "--ulimit" flag: use NAME=SOFT[:HARD]`);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (hard !== -1 && soft > hard)
    throw new InvalidArgument(
      `invalid argument "${text}" for "--ulimit" flag: soft limit ${soft} is above hard limit ${hard}`,
    );
  return { Name: m[1]!, Soft: soft, Hard: hard };
}

/** -p [ip:][hostPort:]containerPort[/proto], with ranges. */
export function parsePublish(items: string[]): {
  exposed: Record<string, Record<string, never>>;
  bindings: Record<string, { HostIp: string; HostPort: string }[]>;
} {
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const item of items) {
    const [spec, proto = "tcp"] = item.split("/");
    if (proto !== "tcp" && proto !== "udp" && proto !== "sctp")
      throw new InvalidArgument(`invalid proto: ${proto}`);
    const parts = spec!.startsWith("[") ? splitIpv6(spec!) : spec!.split(":");
    if (parts.length > 3 || parts.length === 0) throw new InvalidArgument(`invalid port format: ${item}`);
    const container = parts[parts.length - 1]!;
    const host = parts.length >= 2 ? parts[parts.length - 2]! : "";
    const ip = parts.length === 3 ? parts[0]! : "";
    const containerRange = portRange(container, item);
    const hostRange = host ? portRange(host, item) : undefined;
    if (
      hostRange &&
      hostRange[1] - hostRange[0] !== containerRange[1] - containerRange[0] &&
      hostRange[0] !== hostRange[1]
    )
      throw new InvalidArgument(
        `invalid ranges specified for container and host Ports: ${container} and ${host}`,
      );
    for (let p = containerRange[0]; p <= containerRange[1]; p++) {
      const key = `${p}/${proto}`;
      exposed[key] = {};
      const hostPort = hostRange
        ? String(hostRange[0] === hostRange[1] ? hostRange[0] : hostRange[0] + (p - containerRange[0]))
        : "";
      bindings[key] = [...(bindings[key] ?? []), { HostIp: ip, HostPort: hostPort }];
    }
  }
  return { exposed, bindings };
}

function splitIpv6(spec: string): string[] {
  const close = spec.indexOf("]");
  return [spec.slice(1, close), ...spec.slice(close + 2).split(":")];
}

function portRange(text: string, item: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const lo = m ? Number(m[1]) : Number.NaN;
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw new InvalidArgument(`invalid port format: ${item}`);
  return [lo, hi];
}

/** The docker CLI's ContainerCreateCreateConfig (Config + HostConfig + NetworkingConfig). */
export function createBody(o: OptionValues, image: string, command: string[]): CreateBody {
  const tty = bool(o, "tty");
  const interactive = bool(o, "interactive");
  const detached = bool(o, "detach");
  const attach = strs(o, "attach").map((s) => s.toLowerCase());
  for (const a of attach)
    if (a !== "stdin" && a !== "stdout" && a !== "stderr")
      throw new InvalidArgument(
        `invalid argument "${a}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`,
      );
  if (detached && attach.length) throw new InvalidArgument("Conflicting options: -a and -d");
  const attachStd = (name: string) =>
    !detached && (attach.length ? attach.includes(name) : name !== "stdin" || interactive);

  const memory = str(o, "memory") ? parseBytes(str(o, "memory")!, "memory") : 0;
  const swapText = str(o, "memory-swap");
  const memorySwap =
    swapText === undefined ? 0 : swapText === "-1" ? -1 : parseBytes(swapText, "memory-swap");
  if (memorySwap > 0 && memory === 0)
    throw new InvalidArgument("You should always set the Memory limit when using Memoryswap limit");
  if (memorySwap > 0 && memorySwap < memory)
    throw new InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage");
  let nanoCpus = 0;
  if (str(o, "cpus") !== undefined) {
    const cpus = Number(str(o, "cpus"));
    if (!Number.isFinite(cpus) || cpus < 0)
      throw new InvalidArgument(
        `invalid argument "${str(o, "cpus")}" for "--cpus" flag: failed to parse ${str(o, "cpus")} as a rational number`,
      );
    nanoCpus = Math.round(cpus * 1e9);
  }
  const pidsText = str(o, "pids-limit");
  const health = healthcheck(o);
  const { exposed, bindings } = parsePublish(strs(o, "publish"));
  for (const e of strs(o, "expose")) {
    const [port, proto = "tcp"] = e.split("/");
    const [lo, hi] = portRange(port!, e);
    for (let p = lo; p <= hi; p++) exposed[`${p}/${proto}`] = {};
  }
  const tmpfs: Record<string, string> = {};
  for (const t of strs(o, "tmpfs")) {
    const colon = t.indexOf(":");
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? "" : t.slice(colon + 1);
  }
  const logOpts = keyValueFlags(strs(o, "log-opt"), "log-opt");
  const logDriver = str(o, "log-driver") ?? "json-file";
  if (logDriver !== "json-file" && logDriver !== "none")
    throw new InvalidArgument(`logger: no log driver named '${logDriver}' is registered`);
  const network = str(o, "network") ?? str(o, "net") ?? "default";
  const entrypoint = str(o, "entrypoint");
  const stopTimeout = int(str(o, "stop-timeout"), "stop-timeout");

  const hostConfig: Partial<HostConfig> = {
    Binds: strs(o, "volume"),
    Mounts: strs(o, "mount").map(parseMount),
    ...(str(o, "volume-driver") ? { VolumeDriver: str(o, "volume-driver")! } : {}),
    Tmpfs: tmpfs,
    AutoRemove: bool(o, "rm"),
    RestartPolicy: restartPolicy(str(o, "restart")),
    NetworkMode: network,
    PortBindings: bindings,
    PublishAllPorts: bool(o, "publish-all"),
    Memory: memory,
    MemorySwap: memorySwap,
    MemoryReservation: str(o, "memory-reservation")
      ? parseBytes(str(o, "memory-reservation")!, "memory-reservation")
      : 0,
    NanoCpus: nanoCpus,
    CpuShares: int(str(o, "cpu-shares"), "cpu-shares") ?? 0,
    CpuPeriod: int(str(o, "cpu-period"), "cpu-period") ?? 0,
    CpuQuota: int(str(o, "cpu-quota"), "cpu-quota") ?? 0,
    CpusetCpus: str(o, "cpuset-cpus") ?? "",
    CpusetMems: str(o, "cpuset-mems") ?? "",
    PidsLimit: pidsText === undefined ? null : int(pidsText, "pids-limit")!,
    BlkioWeight: int(str(o, "blkio-weight"), "blkio-weight") ?? 0,
    ReadonlyRootfs: bool(o, "read-only"),
    CapAdd: strs(o, "cap-add"),
    CapDrop: strs(o, "cap-drop"),
    Privileged: bool(o, "privileged"),
    SecurityOpt: strs(o, "security-opt"),
    Init: o["init"] === undefined ? null : bool(o, "init"),
    Ulimits: strs(o, "ulimit").map(parseUlimit),
    UsernsMode: str(o, "userns") ?? "",
    Dns: strs(o, "dns"),
    ExtraHosts: strs(o, "add-host"),
    PidMode: str(o, "pid") ?? "",
    IpcMode: str(o, "ipc") ?? "",
    UTSMode: str(o, "uts") ?? "",
    GroupAdd: strs(o, "group-add"),
    Sysctls: keyValueFlags(strs(o, "sysctl"), "sysctl"),
    ShmSize: str(o, "shm-size") ? parseBytes(str(o, "shm-size")!, "shm-size") : 0,
    OomScoreAdj: int(str(o, "oom-score-adj"), "oom-score-adj") ?? 0,
    LogConfig: { Type: logDriver, Config: logOpts },
    Devices: strs(o, "device").map((d) => {
      const [host, inContainer = host, perms = "rwm"] = d.split(":");
      return { PathOnHost: host!, PathInContainer: inContainer!, CgroupPermissions: perms };
    }),
    CgroupParent: str(o, "cgroup-parent") ?? "",
    Links: strs(o, "link"),
    ...(str(o, "runtime") ? { Runtime: str(o, "runtime") } : {}),
  };
  return {
    Hostname: str(o, "hostname") ?? "",
    User: str(o, "user") ?? "",
    AttachStdin: attachStd("stdin"),
    AttachStdout: attachStd("stdout"),
    AttachStderr: attachStd("stderr"),
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && !detached,
    Env: environment(o),
    Cmd: command.length ? command : null,
    Image: image,
    WorkingDir: str(o, "workdir") ?? "",
    Entrypoint: entrypoint === undefined ? null : entrypoint === "" ? [""] : [entrypoint],
    Labels: keyValueFlags(strs(o, "label"), "label"),
    ExposedPorts: exposed,
    ...(str(o, "stop-signal") ? { StopSignal: str(o, "stop-signal") } : {}),
    ...(stopTimeout !== undefined ? { StopTimeout: stopTimeout } : {}),
    ...(health ? { Healthcheck: health } : {}),
    HostConfig: hostConfig as HostConfig,
    ...(str(o, "mac-address") ? { MacAddress: str(o, "mac-address") } : {}),
    ...endpointsConfig(network, str(o, "ip"), str(o, "ip6"), strs(o, "network-alias")),
  } as CreateBody;
}

/** docker's NetworkingConfig: the network of --network with --ip, --ip6 and --network-alias. */
function endpointsConfig(
  network: string,
  ip: string | undefined,
  ip6: string | undefined,
  aliases: string[],
): Pick<CreateBody, "NetworkingConfig"> {
  if (["default", "bridge", "host", "none"].includes(network) || network.startsWith("container:")) {
    if (ip || ip6 || aliases.length)
      throw new InvalidArgument(
        "--ip, --ip6 and --network-alias need a user-defined network (--network NAME)",
      );
    return {};
  }
  return {
    NetworkingConfig: {
      EndpointsConfig: {
        [network]: { ...ipamConfig(ip, ip6), ...(aliases.length ? { Aliases: aliases } : {}) },
      },
    },
  };
}

/** An endpoint's IPAMConfig from --ip and --ip6 (nothing when neither is given). */
export function ipamConfig(ip: string | undefined, ip6: string | undefined): { IPAMConfig?: object } {
  if (!ip && !ip6) return {};
  return { IPAMConfig: { ...(ip ? { IPv4Address: ip } : {}), ...(ip6 ? { IPv6Address: ip6 } : {}) } };
}

export function healthcheck(o: OptionValues): CreateBody["Healthcheck"] | undefined {
  const duration = (flag: string) => {
    const text = str(o, flag);
    if (text === undefined) return undefined;
    const ns = parseDuration(text, `--${flag}`);
    if (ns < 0) throw new InvalidArgument(`--${flag} cannot be negative`);
    return ns;
  };
  const cmd = str(o, "health-cmd");
  const interval = duration("health-interval");
  const timeout = duration("health-timeout");
  const startPeriod = duration("health-start-period");
  const retries = int(str(o, "health-retries"), "health-retries");
  if (bool(o, "no-healthcheck")) {
    if (cmd !== undefined || interval || timeout || startPeriod || retries)
      throw new InvalidArgument("--no-healthcheck conflicts with --health-* options");
    return { Test: ["NONE"] };
  }
  if (
    cmd === undefined &&
    interval === undefined &&
    timeout === undefined &&
    startPeriod === undefined &&
    retries === undefined
  )
    return undefined;
  if (retries !== undefined && retries < 0) throw new InvalidArgument("--health-retries cannot be negative");
  return {
    ...(cmd !== undefined ? { Test: ["CMD-SHELL", cmd] } : {}),
    ...(interval !== undefined ? { Interval: interval } : {}),
    ...(timeout !== undefined ? { Timeout: timeout } : {}),
    ...(startPeriod !== undefined ? { StartPeriod: startPeriod } : {}),
    ...(retries !== undefined ? { Retries: retries } : {}),
  };
}
