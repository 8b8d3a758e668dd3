/**
 * Container commands: docker's names, flags, output and exit codes, each one or a few API calls.
 */
import type { ContainerRecord, CreateBody } from "../../../engine/docker-types.js";
import { InvalidArgument } from "../../../errors.js";
import { humanDuration, humanSize } from "../../../util/human.js";
import { bool, type OptionSpec, type OptionValues, str, strs } from "../../args.js";
import { DaemonError, readAll } from "../client.js";
import { formatList, renderTemplate, table } from "../format.js";
import { CREATE_OPTIONS, createBody, RUN_OPTIONS } from "../run-options.js";
import { runSession } from "../streams.js";
import { type Command, type Context, filtersQuery, forEach } from "./shared.js";

/** The image commands (registry credentials, progress) load only when a run has to pull. */
async function pullImage(...args: Parameters<typeof import("./images.js").pullImage>): Promise<void> {
  await (await import("./images.js")).pullImage(...args);
}

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Labels: Record<string, string>;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts: { Name?: string; Source: string }[];
}

const encode = encodeURIComponent;

/** Creates the container, pulling its image first when it is missing (as docker run does). */
async function create(
  ctx: Context,
  o: OptionValues,
  args: string[],
): Promise<{ id: string; body: CreateBody }> {
  const [image, ...command] = args;
  if (!image) throw new InvalidArgument(`"${ctx.command}" requires at least 1 argument.`);
  const body = createBody(o, image, command);
  const query = { name: str(o, "name"), platform: str(o, "platform") };
  const pull = str(o, "pull") ?? "missing";
  if (pull !== "missing" && pull !== "always" && pull !== "never")
    throw new InvalidArgument(
      `invalid pull option: '${pull}': must be one of "always", "missing" or "never"`,
    );
  if (pull === "always") await pullImage(ctx, image, { quiet: bool(o, "quiet"), stream: process.stderr });
  let created: { Id: string; Warnings?: string[] };
  try {
    created = await ctx.api.call("POST", "/containers/create", { query, body });
  } catch (err) {
    if (
      !(err instanceof DaemonError) ||
      err.status !== 404 ||
      !/No such image/.test(err.message) ||
      pull === "never"
    )
      throw err;
    process.stderr.write(`Unable to find image '${image}' locally\n`);
    await pullImage(ctx, image, { quiet: bool(o, "quiet"), stream: process.stderr });
    created = await ctx.api.call("POST", "/containers/create", { query, body });
  }
  for (const w of created.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return { id: created.Id, body };
}

async function inspectContainer(ctx: Context, id: string): Promise<ContainerRecord> {
  return ctx.api.call<ContainerRecord>("GET", `/containers/${encode(id)}/json`);
}

/** docker's exit code for a failed start: 126 when not executable, 127 when not found, else 125. */
function startFailureCode(message: string): number {
  if (/executable file not found|no such file or directory/.test(message)) return 127;
  if (/permission denied/.test(message)) return 126;
  return 125;
}

/**
 * Asks the daemon to report the container's exit (asked before starting it, so that a quick exit
 * is not missed); resolves with the exit status.
 */
function waitExit(
  ctx: Context,
  id: string,
  condition: "next-exit" | "removed",
): Promise<{ StatusCode: number; Error?: { Message: string } }> {
  return ctx.api
    .stream("POST", `/containers/${id}/wait`, { query: { condition } })
    .then(async (res) => JSON.parse((await readAll(res)).toString()));
}

async function run(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const detach = bool(o, "detach");
  let created: { id: string; body: CreateBody };
  try {
    created = await create(ctx, o, args);
  } catch (err) {
    ctx.failureCode = 125;
    throw err;
  }
  const { id, body: config } = created;
  const wantsAttach = !detach && (config.AttachStdout || config.AttachStderr || config.AttachStdin);
  const autoRemove = bool(o, "rm");
  // Wait before starting, so that a quick exit is not missed; with --rm, until it is removed.
  const waited = detach ? undefined : waitExit(ctx, id, autoRemove ? "removed" : "next-exit");
  const session = wantsAttach
    ? await ctx.api.hijack(`/containers/${id}/attach`, {
        query: {
          stream: 1,
          stdin: config.AttachStdin ? 1 : 0,
          stdout: config.AttachStdout ? 1 : 0,
          stderr: config.AttachStderr ? 1 : 0,
          detachKeys: str(o, "detach-keys"),
        },
      })
    : undefined;
  const pumped = session
    ? runSession(ctx.api, session, {
        tty: config.Tty === true,
        stdin: config.AttachStdin === true,
        resizePath: `/containers/${id}/resize`,
        ...(str(o, "detach-keys") ? { detachKeys: str(o, "detach-keys")! } : {}),
      })
    : undefined;
  try {
    await ctx.api.call("POST", `/containers/${id}/start`);
  } catch (err) {
    session?.socket.destroy();
    if (autoRemove) await waited?.catch(() => undefined);
    ctx.failureCode = startFailureCode((err as Error).message);
    throw err;
  }
  if (detach) {
    process.stdout.write(`${id}\n`);
    return 0;
  }
  // Detached: the container runs on, and the command is done (its exit code, docker's, 0).
  if ((await pumped)?.detached) return 0;
  const result = await waited!;
  if (result.Error?.Message) process.stderr.write(`Error: ${result.Error.Message}\n`);
  return result.StatusCode;
}

async function start(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"start" requires at least 1 argument.');
  if (bool(o, "attach") || bool(o, "interactive")) {
    if (args.length > 1) throw new InvalidArgument("you cannot start and attach multiple containers at once");
    const c = await inspectContainer(ctx, args[0]!);
    const stdin = bool(o, "interactive") && c.Config.OpenStdin;
    const waited = waitExit(ctx, c.Id, "next-exit");
    const session = await ctx.api.hijack(`/containers/${c.Id}/attach`, {
      query: { stream: 1, stdin: stdin ? 1 : 0, stdout: 1, stderr: 1 },
    });
    const pumped = runSession(ctx.api, session, {
      tty: c.Config.Tty,
      stdin,
      resizePath: `/containers/${c.Id}/resize`,
    });
    await ctx.api.call("POST", `/containers/${c.Id}/start`);
    await pumped;
    return (await waited).StatusCode;
  }
  return forEach(args, async (id) => {
    await ctx.api.call("POST", `/containers/${encode(id)}/start`);
    process.stdout.write(`${id}\n`);
  });
}

async function ps(ctx: Context, o: OptionValues): Promise<number> {
  const last = str(o, "last") ? Number(str(o, "last")) : bool(o, "latest") ? 1 : undefined;
  const list = await ctx.api.call<Summary[]>("GET", "/containers/json", {
    query: {
      all: bool(o, "all") || last !== undefined ? 1 : undefined,
      size: bool(o, "size") ? 1 : undefined,
      limit: last,
      ...filtersQuery(strs(o, "filter")),
    },
  });
  const trunc = !bool(o, "no-trunc");
  if (bool(o, "quiet")) {
    process.stdout.write(list.map((c) => `${trunc ? c.Id.slice(0, 12) : c.Id}\n`).join(""));
    return 0;
  }
  const rows = list.map((c) => ({
    ID: trunc ? c.Id.slice(0, 12) : c.Id,
    Image: c.Image,
    Command: JSON.stringify(trunc && c.Command.length > 20 ? `${c.Command.slice(0, 19)}…` : c.Command),
    CreatedAt: new Date(c.Created * 1000)
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, " +0000 UTC"),
    RunningFor: `${humanDuration(Date.now() - c.Created * 1000)} ago`,
    Ports: portsText(c.Ports),
    State: c.State,
    Status: c.Status,
    Size: c.SizeRw !== undefined ? `${humanSize(c.SizeRw)} (virtual ${humanSize(c.SizeRootFs ?? 0)})` : "",
    Names: c.Names.map((n) => n.slice(1)).join(","),
    Labels: Object.entries(c.Labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    Mounts: c.Mounts.map((m) => m.Name ?? m.Source).join(","),
  }));
  const columns: [string, string][] = [
    ["CONTAINER ID", "{{.ID}}"],
    ["IMAGE", "{{.Image}}"],
    ["COMMAND", "{{.Command}}"],
    ["CREATED", "{{.RunningFor}}"],
    ["STATUS", "{{.Status}}"],
    ["PORTS", "{{.Ports}}"],
    ["NAMES", "{{.Names}}"],
  ];
  if (bool(o, "size")) columns.splice(6, 0, ["SIZE", "{{.Size}}"]);
  process.stdout.write(formatList(rows, str(o, "format"), columns));
  return 0;
}

export function portsText(ports: Summary["Ports"]): string {
  return ports
    .map((p) =>
      p.PublicPort
        ? `${p.IP?.includes(":") ? `[${p.IP}]` : (p.IP ?? "0.0.0.0")}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
        : `${p.PrivatePort}/${p.Type}`,
    )
    .join(", ");
}

async function logs(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const [id] = args;
  if (!id || args.length > 1) throw new InvalidArgument('"logs" requires exactly 1 argument.');
  const c = await inspectContainer(ctx, id);
  const res = await ctx.api.stream("GET", `/containers/${encode(id)}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      follow: bool(o, "follow") ? 1 : undefined,
      tail: str(o, "tail"),
      since: str(o, "since"),
      until: str(o, "until"),
      timestamps: bool(o, "timestamps") ? 1 : undefined,
    },
  });
  const { Demuxer } = await import("../streams.js");
  const out = c.Config.Tty ? undefined : new Demuxer(process.stdout, process.stderr);
  await new Promise<void>((resolve, reject) => {
    res.on("data", (chunk: Buffer) => (out ? out.write(chunk) : process.stdout.write(chunk)));
    res.on("end", resolve);
    res.on("error", reject);
  });
  return 0;
}

async function exec(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const [id, ...cmd] = args;
  if (!id || !cmd.length) throw new InvalidArgument('"exec" requires at least 2 arguments.');
  const detach = bool(o, "detach");
  const tty = bool(o, "tty");
  const stdin = bool(o, "interactive") && !detach;
  const created = await ctx.api.call<{ Id: string }>("POST", `/containers/${encode(id)}/exec`, {
    body: {
      AttachStdin: stdin,
      AttachStdout: !detach,
      AttachStderr: !detach,
      Tty: tty,
      Cmd: cmd,
      Env: strs(o, "env"),
      User: str(o, "user") ?? "",
      WorkingDir: str(o, "workdir") ?? "",
      Privileged: bool(o, "privileged"),
      ...(str(o, "detach-keys") ? { DetachKeys: str(o, "detach-keys") } : {}),
    },
  });
  if (detach) {
    await ctx.api.call("POST", `/exec/${created.Id}/start`, { body: { Detach: true, Tty: tty } });
    return 0;
  }
  const session = await ctx.api.hijack(`/exec/${created.Id}/start`, { body: { Detach: false, Tty: tty } });
  await runSession(ctx.api, session, { tty, stdin, resizePath: `/exec/${created.Id}/resize` });
  const state = await ctx.api.call<{ ExitCode: number | null }>("GET", `/exec/${created.Id}/json`);
  return state.ExitCode ?? 0;
}

async function attach(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const [id] = args;
  if (!id || args.length > 1) throw new InvalidArgument('"attach" requires exactly 1 argument.');
  const c = await inspectContainer(ctx, id);
  if (!c.State.Running) throw new InvalidArgument("You cannot attach to a stopped container, start it first");
  const stdin = !bool(o, "no-stdin") && c.Config.OpenStdin;
  const waited = waitExit(ctx, c.Id, "next-exit");
  const session = await ctx.api.hijack(`/containers/${c.Id}/attach`, {
    query: { stream: 1, stdin: stdin ? 1 : 0, stdout: 1, stderr: 1, detachKeys: str(o, "detach-keys") },
  });
  await runSession(ctx.api, session, { tty: c.Config.Tty, stdin, resizePath: `/containers/${c.Id}/resize` });
  const now = await inspectContainer(ctx, c.Id);
  if (now.State.Running) return 0; // detached
  return (await waited).StatusCode;
}

async function inspect(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"inspect" requires at least 1 argument.');
  const type = str(o, "type");
  const found: unknown[] = [];
  let failed = 0;
  for (const name of args) {
    const paths =
      type === "container"
        ? [`/containers/${encode(name)}/json`]
        : type === "image"
          ? [`/images/${encode(name)}/json`]
          : type === "volume"
            ? [`/volumes/${encode(name)}`]
            : [
                `/containers/${encode(name)}/json`,
                `/images/${encode(name)}/json`,
                `/volumes/${encode(name)}`,
              ];
    let got: unknown;
    for (const path of paths) {
      try {
        got = await ctx.api.call("GET", path, {
          query: path.startsWith("/containers") ? { size: bool(o, "size") ? 1 : undefined } : {},
        });
        break;
      } catch (err) {
        if (!(err instanceof DaemonError) || err.status !== 404) throw err;
      }
    }
    if (got === undefined) {
      process.stderr.write(`Error: No such ${type ?? "object"}: ${name}\n`);
      failed++;
    } else found.push(got);
  }
  const format = str(o, "format");
  if (format) process.stdout.write(found.map((x) => `${renderTemplate(format, x)}\n`).join(""));
  else process.stdout.write(`${JSON.stringify(found, null, 4)}\n`);
  return failed ? 1 : 0;
}

async function wait(ctx: Context, _o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"wait" requires at least 1 argument.');
  return forEach(args, async (id) => {
    const r = await ctx.api.call<{ StatusCode: number }>("POST", `/containers/${encode(id)}/wait`);
    process.stdout.write(`${r.StatusCode}\n`);
  });
}

async function top(ctx: Context, _o: OptionValues, args: string[]): Promise<number> {
  const [id, ...psArgs] = args;
  if (!id) throw new InvalidArgument('"top" requires at least 1 argument.');
  const r = await ctx.api.call<{ Titles: string[]; Processes: string[][] }>(
    "GET",
    `/containers/${encode(id)}/top`,
    {
      query: psArgs.length ? { ps_args: psArgs.join(" ") } : {},
    },
  );
  process.stdout.write(table([r.Titles, ...r.Processes]));
  return 0;
}

async function port(ctx: Context, _o: OptionValues, args: string[]): Promise<number> {
  const [id, filter] = args;
  if (!id) throw new InvalidArgument('"port" requires at least 1 argument.');
  const c = await inspectContainer(ctx, id);
  const ports = (c.NetworkSettings?.Ports ?? {}) as Record<
    string,
    { HostIp: string; HostPort: string }[] | null
  >;
  const want = filter && !filter.includes("/") ? `${filter}/tcp` : filter;
  const lines: string[] = [];
  for (const [key, bindings] of Object.entries(ports)) {
    if (want && key !== want) continue;
    for (const b of bindings ?? [])
      lines.push(`${want ? "" : `${key} -> `}${b.HostIp || "0.0.0.0"}:${b.HostPort}`);
  }
  if (want && !lines.length) throw new InvalidArgument(`No public port '${want}' published for ${id}`);
  process.stdout.write(lines.map((l) => `${l}\n`).join(""));
  return 0;
}

async function stats(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const columns: [string, string][] = [
    ["CONTAINER ID", "{{.ID}}"],
    ["NAME", "{{.Name}}"],
    ["CPU %", "{{.CPUPerc}}"],
    ["MEM USAGE / LIMIT", "{{.MemUsage}}"],
    ["MEM %", "{{.MemPerc}}"],
    ["NET I/O", "{{.NetIO}}"],
    ["BLOCK I/O", "{{.BlockIO}}"],
    ["PIDS", "{{.PIDs}}"],
  ];
  const snapshot = async () => {
    const ids = args.length
      ? args
      : (
          await ctx.api.call<Summary[]>("GET", "/containers/json", {
            query: { all: bool(o, "all") ? 1 : undefined },
          })
        ).map((c) => c.Id);
    const rows = await Promise.all(
      ids.map(async (id) =>
        statsRow(
          await ctx.api.call<StatsJson>("GET", `/containers/${encode(id)}/stats`, { query: { stream: 0 } }),
        ),
      ),
    );
    return formatList(rows, str(o, "format"), columns);
  };
  if (bool(o, "no-stream")) {
    process.stdout.write(await snapshot());
    return 0;
  }
  // Live: redraw about once a second (each sample spans a second of CPU time) until interrupted.
  for (;;) {
    const text = await snapshot();
    process.stdout.write(process.stdout.isTTY ? `\x1b[2J\x1b[H${text}` : `${text}\n`);
  }
}

interface StatsJson {
  id: string;
  name: string;
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  pids_stats: { current?: number };
}

/** docker stats' columns, computed as the docker CLI does (cache is not counted as used). */
function statsRow(s: StatsJson): Record<string, string> {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * (s.cpu_stats.online_cpus ?? 1) * 100 : 0;
  const cache = s.memory_stats.stats?.["total_inactive_file"] ?? s.memory_stats.stats?.["inactive_file"] ?? 0;
  const used = Math.max(0, (s.memory_stats.usage ?? 0) - cache);
  const limit = s.memory_stats.limit ?? 0;
  const io = s.blkio_stats.io_service_bytes_recursive ?? [];
  const sum = (op: string) => io.filter((e) => e.op.toLowerCase() === op).reduce((a, e) => a + e.value, 0);
  const nets = Object.values(s.networks ?? {});
  const bin = (n: number) => {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let v = n;
    let i = 0;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${Number(v.toPrecision(4))}${units[i]}`;
  };
  return {
    ID: s.id.slice(0, 12),
    Container: s.id.slice(0, 12),
    Name: s.name.replace(/^\//, ""),
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bin(used)} / ${bin(limit)}`,
    MemPerc: `${limit ? ((used / limit) * 100).toFixed(2) : "0.00"}%`,
    NetIO: `${humanSize(nets.reduce((a, n) => a + n.rx_bytes, 0))} / ${humanSize(nets.reduce((a, n) => a + n.tx_bytes, 0))}`,
    BlockIO: `${humanSize(sum("read"))} / ${humanSize(sum("write"))}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

async function update(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"update" requires at least 1 argument.');
  const body = createBody(o, "-", []).HostConfig!;
  const given = (flag: string) => o[flag] !== undefined;
  const resources: Record<string, unknown> = {};
  const map: [string, string][] = [
    ["memory", "Memory"],
    ["memory-swap", "MemorySwap"],
    ["memory-reservation", "MemoryReservation"],
    ["cpus", "NanoCpus"],
    ["cpu-shares", "CpuShares"],
    ["cpu-period", "CpuPeriod"],
    ["cpu-quota", "CpuQuota"],
    ["cpuset-cpus", "CpusetCpus"],
    ["cpuset-mems", "CpusetMems"],
    ["pids-limit", "PidsLimit"],
    ["blkio-weight", "BlkioWeight"],
    ["restart", "RestartPolicy"],
  ];
  for (const [flag, key] of map)
    if (given(flag)) resources[key] = (body as unknown as Record<string, unknown>)[key];
  if (!Object.keys(resources).length)
    throw new InvalidArgument("you must provide one or more flags when using this command");
  return forEach(args, async (id) => {
    const r = await ctx.api.call<{ Warnings?: string[] }>("POST", `/containers/${encode(id)}/update`, {
      body: resources,
    });
    for (const w of r?.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
    process.stdout.write(`${id}\n`);
  });
}

async function prune(ctx: Context, o: OptionValues): Promise<number> {
  if (!bool(o, "force"))
    throw new InvalidArgument("container prune removes all stopped containers: confirm with --force");
  const r = await ctx.api.call<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
    "POST",
    "/containers/prune",
    {
      query: filtersQuery(strs(o, "filter")),
    },
  );
  if (r.ContainersDeleted?.length)
    process.stdout.write(`Deleted Containers:\n${r.ContainersDeleted.join("\n")}\n\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
  return 0;
}

/** Commands that act on each named container with one call and echo the name. */
function each(
  method: string,
  path: string,
  query: (o: OptionValues) => Record<string, string | number | undefined> = () => ({}),
) {
  return (ctx: Context, o: OptionValues, args: string[]) => {
    if (!args.length) throw new InvalidArgument(`"${ctx.command}" requires at least 1 argument.`);
    return forEach(args, async (id) => {
      await ctx.api.call(method, path.replace("{id}", encode(id)), { query: query(o) });
      process.stdout.write(`${id}\n`);
    });
  };
}

const stopOptions: OptionSpec[] = [
  { name: "time", short: "t", type: "string", description: "Seconds to wait before killing the container" },
  { name: "signal", short: "s", type: "string", description: "Signal to send to the container" },
];
const stopQuery = (o: OptionValues) => ({ t: str(o, "time"), signal: str(o, "signal") });

export const containerCommands: Record<string, Command> = {
  run: {
    usage: "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    description: "Create and run a new container from an image",
    options: RUN_OPTIONS,
    action: run,
  },
  create: {
    usage: "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    description: "Create a new container",
    options: CREATE_OPTIONS,
    action: async (ctx, o, args) => {
      process.stdout.write(`${(await create(ctx, o, args)).id}\n`);
      return 0;
    },
  },
  start: {
    usage: "berth start [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Start one or more stopped containers",
    options: [
      {
        name: "attach",
        short: "a",
        type: "boolean",
        description: "Attach STDOUT/STDERR and forward signals",
      },
      { name: "interactive", short: "i", type: "boolean", description: "Attach container's STDIN" },
    ],
    action: start,
  },
  stop: {
    usage: "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Stop one or more running containers",
    options: stopOptions,
    action: each("POST", "/containers/{id}/stop", stopQuery),
  },
  restart: {
    usage: "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Restart one or more containers",
    options: stopOptions,
    action: each("POST", "/containers/{id}/restart", stopQuery),
  },
  kill: {
    usage: "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Kill one or more running containers",
    options: [
      {
        name: "signal",
        short: "s",
        type: "string",
        description: 'Signal to send to the container (default "KILL")',
      },
    ],
    action: each("POST", "/containers/{id}/kill", (o) => ({ signal: str(o, "signal") })),
  },
  rm: {
    usage: "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Remove one or more containers",
    options: [
      {
        name: "force",
        short: "f",
        type: "boolean",
        description: "Force the removal of a running container (uses SIGKILL)",
      },
      {
        name: "volumes",
        short: "v",
        type: "boolean",
        description: "Remove anonymous volumes associated with the container",
      },
      { name: "link", short: "l", type: "boolean", description: "Remove the specified link" },
    ],
    action: each("DELETE", "/containers/{id}", (o) => ({
      force: bool(o, "force") ? 1 : undefined,
      v: bool(o, "volumes") ? 1 : undefined,
      link: bool(o, "link") ? 1 : undefined,
    })),
  },
  pause: {
    usage: "berth pause CONTAINER [CONTAINER...]",
    description: "Pause all processes within one or more containers",
    options: [],
    action: each("POST", "/containers/{id}/pause"),
  },
  unpause: {
    usage: "berth unpause CONTAINER [CONTAINER...]",
    description: "Unpause all processes within one or more containers",
    options: [],
    action: each("POST", "/containers/{id}/unpause"),
  },
  wait: {
    usage: "berth wait CONTAINER [CONTAINER...]",
    description: "Block until one or more containers stop, then print their exit codes",
    options: [],
    action: wait,
  },
  rename: {
    usage: "berth rename CONTAINER NEW_NAME",
    description: "Rename a container",
    options: [],
    action: async (ctx, _o, args) => {
      if (args.length !== 2) throw new InvalidArgument('"rename" requires exactly 2 arguments.');
      await ctx.api.call("POST", `/containers/${encode(args[0]!)}/rename`, { query: { name: args[1] } });
      return 0;
    },
  },
  ps: {
    usage: "berth ps [OPTIONS]",
    description: "List containers",
    options: [
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Show all containers (default shows just running)",
      },
      { name: "quiet", short: "q", type: "boolean", description: "Only display container IDs" },
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
      {
        name: "last",
        short: "n",
        type: "string",
        description: "Show n last created containers (includes all states)",
      },
      {
        name: "latest",
        short: "l",
        type: "boolean",
        description: "Show the latest created container (includes all states)",
      },
      { name: "no-trunc", type: "boolean", description: "Don't truncate output" },
      { name: "size", short: "s", type: "boolean", description: "Display total file sizes" },
    ],
    action: ps,
  },
  logs: {
    usage: "berth logs [OPTIONS] CONTAINER",
    description: "Fetch the logs of a container",
    options: [
      { name: "follow", short: "f", type: "boolean", description: "Follow log output" },
      {
        name: "tail",
        short: "n",
        type: "string",
        description: 'Number of lines to show from the end of the logs (default "all")',
      },
      { name: "since", type: "string", description: "Show logs since timestamp or relative (e.g. 42m)" },
      { name: "until", type: "string", description: "Show logs before a timestamp or relative (e.g. 42m)" },
      { name: "timestamps", short: "t", type: "boolean", description: "Show timestamps" },
      { name: "details", type: "boolean", description: "Show extra details provided to logs" },
    ],
    action: logs,
  },
  exec: {
    usage: "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
    description: "Execute a command in a running container",
    options: [
      {
        name: "interactive",
        short: "i",
        type: "boolean",
        description: "Keep STDIN open even if not attached",
      },
      { name: "tty", short: "t", type: "boolean", description: "Allocate a pseudo-TTY" },
      {
        name: "detach",
        short: "d",
        type: "boolean",
        description: "Detached mode: run command in the background",
      },
      { name: "env", short: "e", type: "strings", description: "Set environment variables" },
      {
        name: "user",
        short: "u",
        type: "string",
        description: "Username or UID (format: <name|uid>[:<group|gid>])",
      },
      { name: "workdir", short: "w", type: "string", description: "Working directory inside the container" },
      { name: "privileged", type: "boolean", description: "Give extended privileges to the command" },
      {
        name: "detach-keys",
        type: "string",
        description: "Override the key sequence for detaching a container",
      },
    ],
    action: exec,
  },
  attach: {
    usage: "berth attach [OPTIONS] CONTAINER",
    description: "Attach local standard input, output, and error streams to a running container",
    options: [
      { name: "no-stdin", type: "boolean", description: "Do not attach STDIN" },
      {
        name: "detach-keys",
        type: "string",
        description: "Override the key sequence for detaching a container",
      },
    ],
    action: attach,
  },
  inspect: {
    usage: "berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
    description: "Return low-level information on Berth objects",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
      { name: "type", type: "string", description: "Return JSON for specified type" },
      {
        name: "size",
        short: "s",
        type: "boolean",
        description: "Display total file sizes if the type is container",
      },
    ],
    action: inspect,
  },
  top: {
    usage: "berth top CONTAINER [ps OPTIONS]",
    description: "Display the running processes of a container",
    options: [],
    action: top,
  },
  port: {
    usage: "berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
    description: "List port mappings for the container",
    options: [],
    action: port,
  },
  stats: {
    usage: "berth stats [OPTIONS] [CONTAINER...]",
    description: "Display a snapshot of containers' resource usage statistics",
    options: [
      {
        name: "no-stream",
        type: "boolean",
        description: "Disable streaming stats and only pull the first result",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Show all containers (default shows just running)",
      },
    ],
    action: stats,
  },
  update: {
    usage: "berth update [OPTIONS] CONTAINER [CONTAINER...]",
    description: "Update configuration of one or more containers",
    options: CREATE_OPTIONS.filter((s) =>
      [
        "memory",
        "memory-swap",
        "memory-reservation",
        "cpus",
        "cpu-shares",
        "cpu-period",
        "cpu-quota",
        "cpuset-cpus",
        "cpuset-mems",
        "pids-limit",
        "blkio-weight",
        "restart",
      ].includes(s.name),
    ),
    action: update,
  },
  "container prune": {
    usage: "berth container prune [OPTIONS]",
    description: "Remove all stopped containers",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" },
      { name: "filter", type: "strings", description: "Provide filter values (e.g. 'until=<timestamp>')" },
    ],
    action: prune,
  },
};
