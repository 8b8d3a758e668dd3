/**
 * Swarm commands, as docker has them: swarm init/join/leave/join-token, node ls/inspect/update/
 * rm, service create/ls/ps/inspect/scale/update/rollback/rm. Berth's own additions: `swarm init
 * --strategy` and `service create --strategy` (the service label berth.strategy).
 */
import { readFileSync } from "node:fs";
import type {
  FileReference,
  NodeRecord,
  PortConfig,
  ServiceSpec,
  TaskRecord,
} from "../../../cluster/types.js";
import { InvalidArgument } from "../../../errors.js";
import { parseBytes, parseDuration } from "../../../util/units.js";
import { bool, keyValueFlags, type OptionSpec, type OptionValues, str, strs } from "../../args.js";
import { ago, formatList, renderTemplate } from "../format.js";
import { HEALTH_OPTIONS, healthcheck, parseMount } from "../run-options.js";
import { type Command, type Context, filtersQuery, forEach } from "./shared.js";

const encode = encodeURIComponent;

interface ServiceJson {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
  Endpoint?: { Ports?: PortConfig[] };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number };
}

const ns = (o: OptionValues, flag: string) => {
  const v = str(o, flag);
  return v === undefined ? undefined : parseDuration(v, `--${flag}`);
};

const int = (o: OptionValues, flag: string) => {
  const v = str(o, flag);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v))
    throw new InvalidArgument(`invalid argument "${v}" for "--${flag}" flag: not a whole number`);
  return Number(v);
};

const nanoCpus = (o: OptionValues, flag: string) => {
  const v = str(o, flag);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgument(`invalid argument "${v}" for "--${flag}" flag`);
  return Math.round(n * 1e9);
};

const bytes = (o: OptionValues, flag: string) => {
  const v = str(o, flag);
  return v === undefined ? undefined : parseBytes(v, `--${flag}`);
};

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** The update (or rollback) policy flags of `prefix` ("update" or "rollback"). */
function policy(o: OptionValues, prefix: string, base: ServiceSpec["UpdateConfig"] = {}) {
  const order = str(o, `${prefix}-order`);
  if (order !== undefined && order !== "stop-first" && order !== "start-first")
    throw new InvalidArgument(
      `invalid argument "${order}" for "--${prefix}-order" flag: use stop-first or start-first`,
    );
  const action = str(o, `${prefix}-failure-action`);
  return {
    ...base,
    ...defined({
      Parallelism: int(o, `${prefix}-parallelism`),
      Delay: ns(o, `${prefix}-delay`),
      Monitor: ns(o, `${prefix}-monitor`),
      MaxFailureRatio:
        str(o, `${prefix}-max-failure-ratio`) === undefined
          ? undefined
          : Number(str(o, `${prefix}-max-failure-ratio`)),
      Order: order as "stop-first" | "start-first" | undefined,
      FailureAction: action as "pause" | "continue" | "rollback" | undefined,
    }),
  };
}

/** Flags shared by create and update that set one value of the spec. */
function applyFlags(o: OptionValues, spec: ServiceSpec): void {
  const c = spec.TaskTemplate.ContainerSpec;
  const t = spec.TaskTemplate;
  const grace = ns(o, "stop-grace-period");
  if (grace !== undefined) c.StopGracePeriod = grace;
  if (str(o, "workdir") !== undefined) c.Dir = str(o, "workdir")!;
  if (str(o, "user") !== undefined) c.User = str(o, "user")!;
  if (str(o, "hostname") !== undefined) c.Hostname = str(o, "hostname")!;
  const health = healthcheck(o);
  if (health) c.Healthcheck = { ...c.Healthcheck, ...health };
  const limits = defined({
    NanoCPUs: nanoCpus(o, "limit-cpu"),
    MemoryBytes: bytes(o, "limit-memory"),
    Pids: int(o, "limit-pids"),
  });
  const reserves = defined({ NanoCPUs: nanoCpus(o, "reserve-cpu"), MemoryBytes: bytes(o, "reserve-memory") });
  if (Object.keys(limits).length || Object.keys(reserves).length)
    t.Resources = {
      Limits: { ...t.Resources?.Limits, ...limits },
      Reservations: { ...t.Resources?.Reservations, ...reserves },
    };
  const condition = str(o, "restart-condition");
  if (condition !== undefined && !["none", "on-failure", "any"].includes(condition))
    throw new InvalidArgument(
      `invalid argument "${condition}" for "--restart-condition" flag: use none, on-failure or any`,
    );
  const restart = defined({
    Condition: condition as "none" | "on-failure" | "any" | undefined,
    Delay: ns(o, "restart-delay"),
    MaxAttempts: int(o, "restart-max-attempts"),
    Window: ns(o, "restart-window"),
  });
  if (Object.keys(restart).length) t.RestartPolicy = { ...t.RestartPolicy, ...restart };
  const maxPerNode = int(o, "replicas-max-per-node");
  if (maxPerNode !== undefined) t.Placement = { ...t.Placement, MaxReplicas: maxPerNode };
  spec.UpdateConfig = policy(o, "update", spec.UpdateConfig);
  spec.RollbackConfig = policy(o, "rollback", spec.RollbackConfig);
  const strategy = str(o, "strategy");
  if (strategy !== undefined) spec.Labels = { ...spec.Labels, "berth.strategy": strategy };
}

/** `--network NAME` or `--network name=NAME,alias=A,alias=B` (the manager resolves names to ids). */
function networkAttachment(text: string): { Target: string; Aliases?: string[] } {
  if (!text.includes("=")) return { Target: text };
  let target = "";
  const aliases: string[] = [];
  for (const field of text.split(",")) {
    const [key, value = ""] = [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)];
    if (key === "name" || key === "target") target = value;
    else if (key === "alias") aliases.push(value);
    else throw new InvalidArgument(`invalid field key ${key} in --network ${text}: use name= and alias=`);
  }
  if (!target) throw new InvalidArgument(`--network ${text} names no network`);
  return { Target: target, ...(aliases.length ? { Aliases: aliases } : {}) };
}

/**
 * `--publish [8080:]80[/udp]` or `--publish [published=8080,]target=80,protocol=udp,mode=host`;
 * without a published port, the managers choose one (from 30000).
 */
function publishedPort(text: string): PortConfig {
  const short = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(text);
  const fields: Record<string, string> = short
    ? { ...(short[1] ? { published: short[1] } : {}), target: short[2]!, protocol: short[3] ?? "tcp" }
    : Object.fromEntries(
        text.split(",").map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]),
      );
  const port = (v: string | undefined) =>
    v && /^\d+$/.test(v) && Number(v) > 0 && Number(v) < 65536 ? Number(v) : undefined;
  const target = port(fields["target"]);
  const mode = fields["mode"] ?? "ingress";
  const protocol = fields["protocol"] ?? "tcp";
  const known = ["published", "target", "protocol", "mode"];
  if (
    !target ||
    (fields["published"] !== undefined && !port(fields["published"])) ||
    !["ingress", "host"].includes(mode) ||
    !["tcp", "udp"].includes(protocol) ||
    Object.keys(fields).some((k) => !known.includes(k))
  )
    throw new InvalidArgument(
      `invalid argument "${text}" for "--publish" flag: use [PUBLISHED:]TARGET[/udp] or published=,target=,protocol=,mode=`,
    );
  return {
    Protocol: protocol as "tcp" | "udp",
    TargetPort: target,
    ...(port(fields["published"]) ? { PublishedPort: port(fields["published"])! } : {}),
    PublishMode: mode as "ingress" | "host",
  };
}

function endpointMode(mode: string): "vip" | "dnsrr" {
  if (mode !== "vip" && mode !== "dnsrr")
    throw new InvalidArgument(`invalid argument "${mode}" for "--endpoint-mode" flag: use vip or dnsrr`);
  return mode;
}

function preferences(items: string[]) {
  return items.map((p) => {
    const m = /^spread=(.+)$/.exec(p);
    if (!m)
      throw new InvalidArgument(`invalid argument "${p}" for "--placement-pref" flag: use spread=LABEL`);
    return { Spread: { SpreadDescriptor: m[1]! } };
  });
}

async function create(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"service create" requires at least 1 argument.');
  const [image, ...command] = args;
  const mode = str(o, "mode") ?? "replicated";
  if (mode !== "replicated" && mode !== "global")
    throw new InvalidArgument(`invalid argument "${mode}" for "--mode" flag: use replicated or global`);
  const replicas = int(o, "replicas");
  if (mode === "global" && replicas !== undefined)
    throw new InvalidArgument("replicas can only be used with replicated mode");
  const spec: ServiceSpec = {
    Name: str(o, "name") ?? "",
    Labels: keyValueFlags(strs(o, "label"), "label"),
    TaskTemplate: {
      ContainerSpec: {
        Image: image!,
        ...(command.length ? { Args: command } : {}),
        ...(str(o, "entrypoint") ? { Command: [str(o, "entrypoint")!] } : {}),
        Env: strs(o, "env"),
        Labels: keyValueFlags(strs(o, "container-label"), "container-label"),
        Mounts: strs(o, "mount").map((m) => {
          const p = parseMount(m);
          return {
            Type: p.Type as "bind" | "volume" | "tmpfs",
            ...(p.Source ? { Source: p.Source } : {}),
            Target: p.Target,
            ReadOnly: p.ReadOnly ?? false,
          };
        }),
        ...(bool(o, "init") ? { Init: true } : {}),
        ...(bool(o, "read-only") ? { ReadOnly: true } : {}),
        Secrets: strs(o, "secret").map((x) => parseFileReference("secret", x)),
        Configs: strs(o, "config").map((x) => parseFileReference("config", x)),
      },
      Placement: {
        Constraints: strs(o, "constraint"),
        Preferences: preferences(strs(o, "placement-pref")),
      },
      ...(strs(o, "network").length ? { Networks: strs(o, "network").map(networkAttachment) } : {}),
    },
    Mode: mode === "global" ? { Global: {} } : { Replicated: { Replicas: replicas ?? 1 } },
    ...(str(o, "endpoint-mode") || strs(o, "publish").length
      ? {
          EndpointSpec: {
            ...(str(o, "endpoint-mode") ? { Mode: endpointMode(str(o, "endpoint-mode")!) } : {}),
            ...(strs(o, "publish").length ? { Ports: strs(o, "publish").map(publishedPort) } : {}),
          },
        }
      : {}),
  };
  applyFlags(o, spec);
  const r = await ctx.api.call<{ ID: string }>("POST", "/services/create", { body: spec });
  process.stdout.write(`${r.ID}\n`);
  if (!bool(o, "detach")) await converge(ctx, r.ID);
  return 0;
}

/** Waits until the service's tasks run as its spec asks (docker's progress, without the bars). */
async function converge(ctx: Context, id: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [service] = await ctx.api.call<ServiceJson[]>("GET", "/services", {
      query: { status: true, filters: JSON.stringify({ id: [id] }) },
    });
    if (!service) throw new InvalidArgument(`service ${id} was removed meanwhile`);
    const tasks = await ctx.api.call<TaskRecord[]>("GET", "/tasks", {
      query: {
        filters: JSON.stringify({ service: [id], "_up-to-date": ["true"], "desired-state": ["running"] }),
      },
    });
    const running = tasks.filter((t) => t.Status.State === "running").length;
    const desired = service.ServiceStatus?.DesiredTasks ?? 0;
    if (running === desired && (service.Spec.Mode.Global ? desired > 0 || tasks.length === 0 : true)) {
      process.stdout.write(`verify: Service ${id} converged\n`);
      return;
    }
    const failed = tasks.find((t) => t.Status.Err);
    if (Date.now() > deadline)
      throw new InvalidArgument(
        `service ${id}: ${running} of ${desired} tasks running after ${timeoutMs / 1000} s${failed ? `: ${failed.Status.Err}` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function update(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length !== 1) throw new InvalidArgument('"service update" requires exactly 1 argument.');
  const service = await ctx.api.call<ServiceJson>("GET", `/services/${encode(args[0]!)}`);
  if (bool(o, "rollback")) {
    await ctx.api.call("POST", `/services/${service.ID}/update`, {
      query: { version: service.Version.Index, rollback: "previous" },
      body: service.Spec,
    });
  } else {
    const spec = service.Spec;
    const c = spec.TaskTemplate.ContainerSpec;
    if (str(o, "image")) c.Image = str(o, "image")!;
    const replicas = int(o, "replicas");
    if (replicas !== undefined) {
      if (!spec.Mode.Replicated) throw new InvalidArgument("replicas can only be used with replicated mode");
      spec.Mode.Replicated.Replicas = replicas;
    }
    const envRemoved = new Set(strs(o, "env-rm"));
    const added = strs(o, "env-add");
    const addedKeys = new Set(added.map((e) => e.split("=")[0]));
    c.Env = [
      ...(c.Env ?? []).filter((e) => !envRemoved.has(e.split("=")[0]!) && !addedKeys.has(e.split("=")[0])),
      ...added,
    ];
    const labels = { ...spec.Labels, ...keyValueFlags(strs(o, "label-add"), "label-add") };
    for (const k of strs(o, "label-rm")) delete labels[k];
    spec.Labels = labels;
    const placement = spec.TaskTemplate.Placement ?? {};
    const removed = new Set(strs(o, "constraint-rm"));
    placement.Constraints = [
      ...(placement.Constraints ?? []).filter((x) => !removed.has(x)),
      ...strs(o, "constraint-add"),
    ];
    spec.TaskTemplate.Placement = placement;
    if (args.length && bool(o, "force"))
      spec.TaskTemplate.ForceUpdate = (spec.TaskTemplate.ForceUpdate ?? 0) + 1;
    applyFlags(o, spec);
    await ctx.api.call("POST", `/services/${service.ID}/update`, {
      query: { version: service.Version.Index },
      body: spec,
    });
  }
  process.stdout.write(`${args[0]}\n`);
  if (!bool(o, "detach")) await converge(ctx, service.ID);
  return 0;
}

export async function serviceLs(ctx: Context, o: OptionValues): Promise<number> {
  const list = await ctx.api.call<ServiceJson[]>("GET", "/services", {
    query: { status: true, ...filtersQuery(strs(o, "filter")) },
  });
  list.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
  if (bool(o, "quiet")) {
    process.stdout.write(list.map((s) => `${s.ID}\n`).join(""));
    return 0;
  }
  const rows = list.map((s) => ({
    ...s,
    ID: s.ID.slice(0, 12),
    Name: s.Spec.Name,
    Mode: s.Spec.Mode.Global ? "global" : "replicated",
    Replicas: `${s.ServiceStatus?.RunningTasks ?? 0}/${s.ServiceStatus?.DesiredTasks ?? 0}`,
    Image: s.Spec.TaskTemplate.ContainerSpec.Image,
    Ports: (s.Endpoint?.Ports ?? [])
      .filter((p) => p.PublishMode === "ingress" && p.PublishedPort)
      .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? "tcp"}`)
      .join(", "),
  }));
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["ID", "{{.ID}}"],
      ["NAME", "{{.Name}}"],
      ["MODE", "{{.Mode}}"],
      ["REPLICAS", "{{.Replicas}}"],
      ["IMAGE", "{{.Image}}"],
      ["PORTS", "{{.Ports}}"],
    ]),
  );
  return 0;
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** `service ps` and `node ps`: tasks with docker's columns, newest first within a slot. */
export async function printTasks(
  ctx: Context,
  o: OptionValues,
  filters: Record<string, string[]>,
): Promise<void> {
  const extra = JSON.parse(filtersQuery(strs(o, "filter")).filters ?? "{}") as Record<string, string[]>;
  const tasks = await ctx.api.call<Array<TaskRecord & { Name?: string }>>("GET", "/tasks", {
    query: { filters: JSON.stringify({ ...extra, ...filters }) },
  });
  const nodes = await ctx.api.call<NodeRecord[]>("GET", "/nodes");
  const hostOf = new Map(nodes.map((n) => [n.ID, n.Description.Hostname]));
  tasks.sort(
    (a, b) => (a.Name ?? "").localeCompare(b.Name ?? "") || Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt),
  );
  const trunc = !bool(o, "no-trunc");
  if (bool(o, "quiet")) {
    process.stdout.write(tasks.map((t) => `${trunc ? t.ID.slice(0, 12) : t.ID}\n`).join(""));
    return;
  }
  let previous = "";
  const rows = tasks.map((t) => {
    const first = t.Name !== previous;
    previous = t.Name ?? "";
    const err = t.Status.Err ?? "";
    return {
      ...t,
      ID: trunc ? t.ID.slice(0, 12) : t.ID,
      Name: first ? (t.Name ?? "") : ` \\_ ${t.Name ?? ""}`,
      Image: t.Spec.ContainerSpec.Image,
      Node: t.NodeID ? (hostOf.get(t.NodeID) ?? t.NodeID) : "",
      DesiredState: capital(t.DesiredState),
      CurrentState: `${capital(t.Status.State)} ${ago(Date.parse(t.Status.Timestamp) / 1000)}`,
      Error: trunc && err.length > 30 ? `"${err.slice(0, 29)}…"` : err ? `"${err}"` : "",
      Ports: "",
    };
  });
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["ID", "{{.ID}}"],
      ["NAME", "{{.Name}}"],
      ["IMAGE", "{{.Image}}"],
      ["NODE", "{{.Node}}"],
      ["DESIRED STATE", "{{.DesiredState}}"],
      ["CURRENT STATE", "{{.CurrentState}}"],
      ["ERROR", "{{.Error}}"],
      ["PORTS", "{{.Ports}}"],
    ]),
  );
}

async function nodeLs(ctx: Context, o: OptionValues): Promise<number> {
  const info = await ctx.api.call<{ Swarm: { NodeID: string } }>("GET", "/info");
  const list = await ctx.api.call<
    Array<
      NodeRecord & { Status: { State: string }; ManagerStatus?: { Leader: boolean; Reachability: string } }
    >
  >("GET", "/nodes", { query: filtersQuery(strs(o, "filter")) });
  list.sort((a, b) => a.Description.Hostname.localeCompare(b.Description.Hostname));
  if (bool(o, "quiet")) {
    process.stdout.write(list.map((n) => `${n.ID}\n`).join(""));
    return 0;
  }
  const rows = list.map((n) => ({
    ...n,
    ID: `${n.ID}${n.ID === info.Swarm.NodeID ? " *" : ""}`,
    Hostname: n.Description.Hostname,
    Status: capital(n.Status.State),
    Availability: capital(n.Spec.Availability),
    ManagerStatus: n.ManagerStatus
      ? n.ManagerStatus.Leader
        ? "Leader"
        : capital(n.ManagerStatus.Reachability)
      : "",
    EngineVersion: n.Description.Engine.EngineVersion,
  }));
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["ID", "{{.ID}}"],
      ["HOSTNAME", "{{.Hostname}}"],
      ["STATUS", "{{.Status}}"],
      ["AVAILABILITY", "{{.Availability}}"],
      ["MANAGER STATUS", "{{.ManagerStatus}}"],
      ["ENGINE VERSION", "{{.EngineVersion}}"],
    ]),
  );
  return 0;
}

/** "self" names the node the daemon runs on, as docker's CLI resolves it. */
const AUTOLOCK: OptionSpec = {
  name: "autolock",
  type: "boolean",
  description: "Enable manager autolocking (requiring an unlock key to start a stopped manager)",
};

/** A swarm update that changes nothing but makes a new token or unlock key (`rotate…` query). */
async function rotateSwarmSecret(
  ctx: Context,
  query: string,
  check: (spec: Record<string, unknown>) => void = () => {},
): Promise<void> {
  const swarm = await ctx.api.call<{ Version: { Index: number }; Spec: Record<string, unknown> }>(
    "GET",
    "/swarm",
  );
  check(swarm.Spec);
  await ctx.api.call("POST", "/swarm/update", {
    query: { version: swarm.Version.Index, [query]: true },
    body: swarm.Spec,
  });
}

/** The unlock key, as docker prints it (or alone, `quiet`). */
async function printUnlockKey(ctx: Context, quiet: boolean): Promise<void> {
  const { UnlockKey } = await ctx.api.call<{ UnlockKey: string }>("GET", "/swarm/unlockkey");
  if (!UnlockKey) throw new InvalidArgument("no unlock key is set");
  process.stdout.write(
    quiet
      ? `${UnlockKey}\n`
      : `To unlock a swarm manager after it restarts, run the \`berth swarm unlock\`\ncommand and provide the following key:\n\n    ${UnlockKey}\n\nPlease remember to store this key in a password manager, since without it you\nwill not be able to restart the manager.\n`,
  );
}

/** `node promote`/`demote`: the role set in each node's spec, with docker's words. */
function changeRoles(ctx: Context, refs: string[], role: "manager" | "worker"): Promise<number> {
  if (!refs.length)
    throw new InvalidArgument(
      `"node ${role === "manager" ? "promote" : "demote"}" requires at least 1 argument.`,
    );
  return forEach(refs, async (ref) => {
    const node = await ctx.api.call<NodeRecord>("GET", `/nodes/${encode(await nodeRef(ctx, ref))}`);
    if (node.Spec.Role === role) {
      process.stdout.write(`Node ${node.ID} is already a ${role}.\n`);
      return;
    }
    await ctx.api.call("POST", `/nodes/${node.ID}/update`, {
      query: { version: node.Version.Index },
      body: { ...node.Spec, Role: role },
    });
    process.stdout.write(
      role === "manager"
        ? `Node ${ref} promoted to a manager in the swarm.\n`
        : `Manager ${ref} demoted in the swarm.\n`,
    );
  });
}

async function nodeRef(ctx: Context, ref: string): Promise<string> {
  if (ref !== "self") return ref;
  return (await ctx.api.call<{ Swarm: { NodeID: string } }>("GET", "/info")).Swarm.NodeID;
}

function inspectAll(kind: string): Command["action"] {
  return async (ctx, o, args) => {
    if (!args.length) throw new InvalidArgument(`"${kind} inspect" requires at least 1 argument.`);
    const found: unknown[] = [];
    const code = await forEach(args, async (ref) => {
      const id = kind === "node" ? await nodeRef(ctx, ref) : ref;
      found.push(await ctx.api.call("GET", `/${kind}s/${encode(id)}`));
    });
    const format = str(o, "format");
    process.stdout.write(
      format
        ? found.map((x) => `${renderTemplate(format, x)}\n`).join("")
        : `${JSON.stringify(found, null, 4)}\n`,
    );
    return code;
  };
}

/** `service logs`: every task's lines, as `NAME.SLOT.TASK@NODE | line` (docker's prefix). */
async function serviceLogs(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length !== 1) throw new InvalidArgument('"service logs" requires exactly 1 argument.');
  const service = await ctx.api.call<ServiceJson>("GET", `/services/${encode(args[0]!)}`);
  const nodes = await ctx.api.call<NodeRecord[]>("GET", "/nodes");
  const hostOf = new Map(nodes.map((n) => [n.ID, n.Description.Hostname]));
  const slots = new Map<string, string>();
  const nameOf = async (taskId: string) => {
    let name = slots.get(taskId);
    if (!name) {
      const task = await ctx.api.call<TaskRecord>("GET", `/tasks/${taskId}`).catch(() => undefined);
      name = `${service.Spec.Name}.${task?.Slot ?? task?.NodeID ?? "?"}.${taskId.slice(0, 12)}`;
      slots.set(taskId, name);
    }
    return name;
  };
  const res = await ctx.api.stream("GET", `/services/${service.ID}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      details: 1,
      follow: bool(o, "follow") ? 1 : undefined,
      tail: str(o, "tail"),
      since: str(o, "since"),
      timestamps: bool(o, "timestamps") ? 1 : undefined,
    },
  });
  // Lines arrive whole, one per frame, as "[TIME ]CONTEXT LINE": the context names the task.
  let order = Promise.resolve();
  const prefixed = (out: NodeJS.WritableStream) =>
    ({
      write: (data: Buffer) => {
        const text = data.toString();
        const time = bool(o, "timestamps") ? text.slice(0, text.indexOf(" ") + 1) : "";
        const rest = text.slice(time.length);
        const space = rest.indexOf(" ");
        const context = Object.fromEntries(
          rest
            .slice(0, space)
            .split(",")
            .map((kv) => kv.split("=") as [string, string]),
        );
        const line = rest.slice(space + 1);
        order = order.then(async () => {
          const host = hostOf.get(context["com.docker.swarm.node.id"] ?? "") ?? "";
          out.write(`${time}${await nameOf(context["com.docker.swarm.task.id"] ?? "")}@${host}    | ${line}`);
        });
        return true;
      },
    }) as unknown as NodeJS.WritableStream;
  const { Demuxer } = await import("../streams.js");
  const demux = new Demuxer(prefixed(process.stdout), prefixed(process.stderr));
  await new Promise<void>((resolve, reject) => {
    res.on("data", (chunk: Buffer) => demux.write(chunk));
    res.on("end", resolve);
    res.on("error", reject);
  });
  await order;
  return 0;
}

/** `--secret NAME` or `--secret source=NAME,target=PATH,uid=U,gid=G,mode=0400` (and --config). */
export function parseFileReference(kind: "secret" | "config", text: string): FileReference {
  const fields: Record<string, string> = {};
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0 && !text.includes("=")) fields["source"] = part;
    else if (eq < 0) throw new InvalidArgument(`invalid field '${part}' must be a key=value pair`);
    else fields[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1);
  }
  const source = fields["source"] ?? fields["src"];
  if (!source) throw new InvalidArgument(`invalid --${kind} "${text}": source is required`);
  for (const key of Object.keys(fields))
    if (!["source", "src", "target", "uid", "gid", "mode"].includes(key))
      throw new InvalidArgument(`invalid field key ${key} in --${kind} "${text}"`);
  const mode = fields["mode"] === undefined ? 0o444 : Number.parseInt(fields["mode"], 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
    throw new InvalidArgument(`invalid mode in --${kind} "${text}"`);
  const file = {
    Name: fields["target"] ?? source,
    UID: fields["uid"] ?? "0",
    GID: fields["gid"] ?? "0",
    Mode: mode,
  };
  return kind === "secret" ? { File: file, SecretName: source } : { File: file, ConfigName: source };
}

function fileCommands(kind: "secret" | "config"): Record<string, Command> {
  const plural = `${kind}s`;
  return {
    [`${kind} create`]: {
      usage: `berth ${kind} create [OPTIONS] ${kind.toUpperCase()} file|-`,
      description: `Create a ${kind} from a file or STDIN as content`,
      options: [
        { name: "label", short: "l", type: "strings", description: `${kind} labels` },
        { name: "template-driver", type: "string", description: "Template driver (golang)" },
      ],
      action: async (ctx, o, args) => {
        if (args.length !== 2) throw new InvalidArgument(`"${kind} create" requires exactly 2 arguments.`);
        const data = args[1] === "-" ? readFileSync(0) : readFileSync(args[1]!);
        const driver = str(o, "template-driver");
        const r = await ctx.api.call<{ ID: string }>("POST", `/${plural}/create`, {
          body: {
            Name: args[0],
            Labels: keyValueFlags(strs(o, "label"), "label"),
            Data: data.toString("base64"),
            ...(driver ? { Templating: { Name: driver } } : {}),
          },
        });
        process.stdout.write(`${r.ID}\n`);
        return 0;
      },
    },
    [`${kind} ls`]: {
      usage: `berth ${kind} ls [OPTIONS]`,
      description: `List ${plural}`,
      options: [
        QUIET,
        FILTER,
        { name: "format", type: "string", description: "Format output using a custom template" },
      ],
      action: async (ctx, o) => {
        const list = await ctx.api.call<
          Array<{ ID: string; CreatedAt: string; UpdatedAt: string; Spec: { Name: string } }>
        >("GET", `/${plural}`, { query: filtersQuery(strs(o, "filter")) });
        list.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name));
        if (bool(o, "quiet")) {
          process.stdout.write(list.map((x) => `${x.ID}\n`).join(""));
          return 0;
        }
        const rows = list.map((x) => ({
          ...x,
          Name: x.Spec.Name,
          CreatedAt: `${ago(Date.parse(x.CreatedAt) / 1000)}`,
          UpdatedAt: `${ago(Date.parse(x.UpdatedAt) / 1000)}`,
        }));
        process.stdout.write(
          formatList(rows, str(o, "format"), [
            ["ID", "{{.ID}}"],
            ["NAME", "{{.Name}}"],
            ["CREATED", "{{.CreatedAt}}"],
            ["UPDATED", "{{.UpdatedAt}}"],
          ]),
        );
        return 0;
      },
    },
    [`${kind} inspect`]: {
      usage: `berth ${kind} inspect [OPTIONS] ${kind.toUpperCase()} [${kind.toUpperCase()}...]`,
      description: `Display detailed information on one or more ${plural}`,
      options: [FORMAT],
      action: inspectAll(kind),
    },
    [`${kind} rm`]: {
      usage: `berth ${kind} rm ${kind.toUpperCase()} [${kind.toUpperCase()}...]`,
      description: `Remove one or more ${plural}`,
      options: [],
      action: async (ctx, _o, args) => {
        if (!args.length) throw new InvalidArgument(`"${kind} rm" requires at least 1 argument.`);
        return forEach(args, async (ref) => {
          await ctx.api.call("DELETE", `/${plural}/${encode(ref)}`);
          process.stdout.write(`${ref}\n`);
        });
      },
    },
  };
}

const FORMAT: OptionSpec = {
  name: "format",
  short: "f",
  type: "string",
  description: "Format output using a custom template",
};
const QUIET: OptionSpec = { name: "quiet", short: "q", type: "boolean", description: "Only display IDs" };
export const FILTER: OptionSpec = {
  name: "filter",
  short: "f",
  type: "strings",
  description: "Filter output based on conditions provided",
};
const DETACH: OptionSpec = {
  name: "detach",
  short: "d",
  type: "boolean",
  description: "Exit immediately instead of waiting for the service to converge",
};

const POLICY = (prefix: string): OptionSpec[] => [
  {
    name: `${prefix}-parallelism`,
    type: "string",
    description: `Maximum number of tasks ${prefix}d simultaneously (0 to ${prefix} all at once)`,
  },
  { name: `${prefix}-delay`, type: "string", description: `Delay between ${prefix}s (ns|us|ms|s|m|h)` },
  {
    name: `${prefix}-monitor`,
    type: "string",
    description: `Duration after each task ${prefix} to monitor for failure`,
  },
  {
    name: `${prefix}-max-failure-ratio`,
    type: "string",
    description: `Failure rate to tolerate during an ${prefix}`,
  },
  { name: `${prefix}-order`, type: "string", description: `${prefix} order ("start-first"|"stop-first")` },
  { name: `${prefix}-failure-action`, type: "string", description: `Action on ${prefix} failure` },
];

const SPEC_FLAGS: OptionSpec[] = [
  { name: "replicas", type: "string", description: "Number of tasks" },
  {
    name: "stop-grace-period",
    type: "string",
    description: "Time to wait before force killing a container (ns|us|ms|s|m|h)",
  },
  { name: "workdir", short: "w", type: "string", description: "Working directory inside the container" },
  {
    name: "user",
    short: "u",
    type: "string",
    description: "Username or UID (format: <name|uid>[:<group|gid>])",
  },
  { name: "hostname", type: "string", description: "Container hostname" },
  { name: "limit-cpu", type: "string", description: "Limit CPUs" },
  { name: "limit-memory", type: "string", description: "Limit Memory" },
  { name: "limit-pids", type: "string", description: "Limit maximum number of processes" },
  { name: "reserve-cpu", type: "string", description: "Reserve CPUs" },
  { name: "reserve-memory", type: "string", description: "Reserve Memory" },
  {
    name: "restart-condition",
    type: "string",
    description: 'Restart when condition is met ("none"|"on-failure"|"any")',
  },
  { name: "restart-delay", type: "string", description: "Delay between restart attempts (ns|us|ms|s|m|h)" },
  {
    name: "restart-max-attempts",
    type: "string",
    description: "Maximum number of restarts before giving up",
  },
  { name: "restart-window", type: "string", description: "Window used to evaluate the restart policy" },
  {
    name: "replicas-max-per-node",
    type: "string",
    description: "Maximum number of tasks per node (0 = unlimited)",
  },
  { name: "strategy", type: "string", description: "Berth: placement strategy (spread|binpack|random)" },
  ...HEALTH_OPTIONS,
  ...POLICY("update"),
  ...POLICY("rollback"),
  DETACH,
];

export const swarmCommands: Record<string, Command> = {
  ...fileCommands("secret"),
  ...fileCommands("config"),
  "swarm init": {
    usage: "berth swarm init [OPTIONS]",
    description: "Initialize a swarm (an embedded etcd member holds its state)",
    options: [
      {
        name: "advertise-addr",
        type: "string",
        description: "Advertised address (format: <ip|interface>[:port])",
      },
      { name: "listen-addr", type: "string", description: 'Listen address (default "0.0.0.0:2377")' },
      {
        name: "strategy",
        type: "string",
        description: "Berth: default placement strategy (spread|binpack|random)",
      },
      { name: "task-history-limit", type: "string", description: "Task history retention limit (default 5)" },
      AUTOLOCK,
    ],
    action: async (ctx, o) => {
      const limit = int(o, "task-history-limit");
      const nodeId = await ctx.api.call<string>("POST", "/swarm/init", {
        body: defined({
          AdvertiseAddr: str(o, "advertise-addr"),
          ListenAddr: str(o, "listen-addr"),
          Strategy: str(o, "strategy"),
          Spec: {
            ...(limit === undefined ? {} : { Orchestration: { TaskHistoryRetentionLimit: limit } }),
            ...(bool(o, "autolock") ? { EncryptionConfig: { AutoLockManagers: true } } : {}),
          },
        }),
      });
      const swarm = await ctx.api.call<{ JoinTokens: { Worker: string } }>("GET", "/swarm");
      const info = await ctx.api.call<{ Swarm: { RemoteManagers: Array<{ Addr: string }> } }>("GET", "/info");
      process.stdout.write(
        `Swarm initialized: current node (${nodeId}) is now a manager.\n\nTo add a worker to this swarm, run the following command:\n\n    berth swarm join --token ${swarm.JoinTokens.Worker} ${info.Swarm.RemoteManagers[0]?.Addr ?? ""}\n\nTo add a manager to this swarm, run 'berth swarm join-token manager' and follow the instructions.\n\n`,
      );
      if (bool(o, "autolock")) await printUnlockKey(ctx, false);
      return 0;
    },
  },
  "swarm join": {
    usage: "berth swarm join [OPTIONS] HOST:PORT",
    description: "Join a swarm as a node and/or manager",
    options: [
      { name: "token", type: "string", description: "Token for entry into the swarm" },
      {
        name: "advertise-addr",
        type: "string",
        description: "Advertised address (format: <ip|interface>[:port])",
      },
      { name: "listen-addr", type: "string", description: 'Listen address (default "0.0.0.0:2377")' },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"swarm join" requires exactly 1 argument.');
      await ctx.api.call("POST", "/swarm/join", {
        body: defined({
          RemoteAddrs: args,
          JoinToken: str(o, "token") ?? "",
          AdvertiseAddr: str(o, "advertise-addr"),
          ListenAddr: str(o, "listen-addr"),
        }),
      });
      const info = await ctx.api.call<{ Swarm: { ControlAvailable: boolean } }>("GET", "/info");
      process.stdout.write(
        `This node joined a swarm as a ${info.Swarm.ControlAvailable ? "manager" : "worker"}.\n`,
      );
      return 0;
    },
  },
  "swarm leave": {
    usage: "berth swarm leave [OPTIONS]",
    description: "Leave the swarm",
    options: [
      {
        name: "force",
        short: "f",
        type: "boolean",
        description: "Force this node to leave the swarm, ignoring warnings",
      },
    ],
    action: async (ctx, o) => {
      await ctx.api.call("POST", "/swarm/leave", { query: { force: bool(o, "force") } });
      process.stdout.write("Node left the swarm.\n");
      return 0;
    },
  },
  "swarm update": {
    usage: "berth swarm update [OPTIONS]",
    description: "Update the swarm",
    options: [
      { ...AUTOLOCK, type: "string", description: "Change manager autolocking setting (true|false)" },
      { name: "task-history-limit", type: "string", description: "Task history retention limit" },
    ],
    action: async (ctx, o) => {
      const autolock = str(o, "autolock");
      if (autolock !== undefined && autolock !== "true" && autolock !== "false")
        throw new InvalidArgument(`invalid argument "${autolock}" for "--autolock" flag: use true or false`);
      const limit = int(o, "task-history-limit");
      const swarm = await ctx.api.call<{ Version: { Index: number }; Spec: Record<string, object> }>(
        "GET",
        "/swarm",
      );
      const spec = { ...swarm.Spec };
      if (autolock !== undefined) spec["EncryptionConfig"] = { AutoLockManagers: autolock === "true" };
      if (limit !== undefined)
        spec["Orchestration"] = { ...spec["Orchestration"], TaskHistoryRetentionLimit: limit };
      await ctx.api.call("POST", "/swarm/update", { query: { version: swarm.Version.Index }, body: spec });
      process.stdout.write("Swarm updated.\n");
      if (autolock === "true") await printUnlockKey(ctx, false);
      return 0;
    },
  },
  "swarm unlock": {
    usage: "berth swarm unlock",
    description: "Unlock swarm (the key is read from standard input)",
    options: [],
    action: async (ctx) => {
      if (process.stdin.isTTY) process.stderr.write("Enter unlock key: ");
      const key = readFileSync(0, "utf8").split("\n")[0]!.trim();
      await ctx.api.call("POST", "/swarm/unlock", { body: { UnlockKey: key } });
      return 0;
    },
  },
  "swarm unlock-key": {
    usage: "berth swarm unlock-key [OPTIONS]",
    description: "Manage the unlock key",
    options: [
      { name: "quiet", short: "q", type: "boolean", description: "Only display token" },
      { name: "rotate", type: "boolean", description: "Rotate unlock key" },
    ],
    action: async (ctx, o) => {
      if (bool(o, "rotate")) {
        await rotateSwarmSecret(ctx, "rotateManagerUnlockKey", (spec) => {
          if (!(spec["EncryptionConfig"] as { AutoLockManagers?: boolean }).AutoLockManagers)
            throw new InvalidArgument("cannot rotate because autolock is not turned on");
        });
        if (!bool(o, "quiet")) process.stdout.write("Successfully rotated manager unlock key.\n\n");
      }
      await printUnlockKey(ctx, bool(o, "quiet"));
      return 0;
    },
  },
  "swarm join-token": {
    usage: "berth swarm join-token [OPTIONS] (worker|manager)",
    description: "Manage join tokens",
    options: [
      { name: "quiet", short: "q", type: "boolean", description: "Only display token" },
      { name: "rotate", type: "boolean", description: "Rotate join token" },
    ],
    action: async (ctx, o, args) => {
      const role = args[0];
      if (args.length !== 1 || (role !== "worker" && role !== "manager"))
        throw new InvalidArgument('"swarm join-token" requires exactly 1 argument: worker or manager');
      const key = role === "worker" ? "Worker" : "Manager";
      if (bool(o, "rotate")) await rotateSwarmSecret(ctx, `rotate${key}Token`);
      const swarm = await ctx.api.call<{ JoinTokens: Record<string, string> }>("GET", "/swarm");
      const token = swarm.JoinTokens[key]!;
      if (bool(o, "quiet")) {
        process.stdout.write(`${token}\n`);
        return 0;
      }
      const info = await ctx.api.call<{ Swarm: { NodeAddr: string } }>("GET", "/info");
      process.stdout.write(
        `To add a ${role} to this swarm, run the following command:\n\n    berth swarm join --token ${token} ${info.Swarm.NodeAddr}:2377\n\n`,
      );
      return 0;
    },
  },
  "node ls": {
    usage: "berth node ls [OPTIONS]",
    description: "List nodes in the swarm",
    options: [
      QUIET,
      FILTER,
      { name: "format", type: "string", description: "Format output using a custom template" },
    ],
    action: nodeLs,
  },
  "node inspect": {
    usage: "berth node inspect [OPTIONS] self|NODE [NODE...]",
    description: "Display detailed information on one or more nodes",
    options: [FORMAT],
    action: inspectAll("node"),
  },
  "node update": {
    usage: "berth node update [OPTIONS] NODE",
    description: "Update a node",
    options: [
      {
        name: "availability",
        type: "string",
        description: 'Availability of the node ("active"|"pause"|"drain")',
      },
      { name: "label-add", type: "strings", description: "Add or update a node label (key=value)" },
      { name: "label-rm", type: "strings", description: "Remove a node label if exists" },
      { name: "role", type: "string", description: 'Role of the node ("worker"|"manager")' },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"node update" requires exactly 1 argument.');
      const node = await ctx.api.call<NodeRecord>("GET", `/nodes/${encode(await nodeRef(ctx, args[0]!))}`);
      const labels = { ...node.Spec.Labels, ...keyValueFlags(strs(o, "label-add"), "label-add") };
      for (const k of strs(o, "label-rm")) delete labels[k];
      await ctx.api.call("POST", `/nodes/${node.ID}/update`, {
        query: { version: node.Version.Index },
        body: {
          ...node.Spec,
          Labels: labels,
          ...defined({ Availability: str(o, "availability"), Role: str(o, "role") }),
        },
      });
      process.stdout.write(`${args[0]}\n`);
      return 0;
    },
  },
  "node promote": {
    usage: "berth node promote NODE [NODE...]",
    description: "Promote one or more nodes to manager in the swarm",
    options: [],
    action: (ctx, _o, args) => changeRoles(ctx, args, "manager"),
  },
  "node demote": {
    usage: "berth node demote NODE [NODE...]",
    description: "Demote one or more nodes from manager in the swarm",
    options: [],
    action: (ctx, _o, args) => changeRoles(ctx, args, "worker"),
  },
  "node ps": {
    usage: "berth node ps [OPTIONS] [NODE...]",
    description: "List tasks running on one or more nodes, defaults to current node",
    options: [
      QUIET,
      FILTER,
      { name: "format", type: "string", description: "Pretty-print tasks using a Go template" },
      { name: "no-trunc", type: "boolean", description: "Do not truncate output" },
    ],
    action: async (ctx, o, args) => {
      const ids = await Promise.all((args.length ? args : ["self"]).map((a) => nodeRef(ctx, a)));
      await printTasks(ctx, o, { node: ids });
      return 0;
    },
  },
  "node rm": {
    usage: "berth node rm [OPTIONS] NODE [NODE...]",
    description: "Remove one or more nodes from the swarm",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Force remove a node from the swarm" },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"node rm" requires at least 1 argument.');
      return forEach(args, async (ref) => {
        await ctx.api.call("DELETE", `/nodes/${encode(ref)}`, { query: { force: bool(o, "force") } });
        process.stdout.write(`${ref}\n`);
      });
    },
  },
  "service create": {
    usage: "berth service create [OPTIONS] IMAGE [COMMAND] [ARG...]",
    description: "Create a new service",
    interspersed: false,
    options: [
      { name: "name", type: "string", description: "Service name" },
      { name: "mode", type: "string", description: 'Service mode ("replicated"|"global")' },
      { name: "env", short: "e", type: "strings", description: "Set environment variables" },
      { name: "label", short: "l", type: "strings", description: "Service labels" },
      { name: "container-label", type: "strings", description: "Container labels" },
      { name: "constraint", type: "strings", description: "Placement constraints" },
      { name: "placement-pref", type: "strings", description: "Add a placement preference (spread=LABEL)" },
      { name: "mount", type: "strings", description: "Attach a filesystem mount to the service" },
      { name: "entrypoint", type: "string", description: "Overwrite the default ENTRYPOINT of the image" },
      { name: "init", type: "boolean", description: "Use an init inside each service container" },
      {
        name: "read-only",
        type: "boolean",
        description: "Mount the container's root filesystem as read only",
      },
      { name: "secret", type: "strings", description: "Specify secrets to expose to the service" },
      { name: "config", type: "strings", description: "Specify configurations to expose to the service" },
      { name: "network", type: "strings", description: "Network attachments (an overlay's name)" },
      { name: "publish", short: "p", type: "strings", description: "Publish a port as a node port" },
      { name: "endpoint-mode", type: "string", description: 'Endpoint mode ("vip"|"dnsrr") (default "vip")' },
      ...SPEC_FLAGS,
    ],
    action: create,
  },
  "service ls": {
    usage: "berth service ls [OPTIONS]",
    description: "List services",
    options: [
      QUIET,
      FILTER,
      { name: "format", type: "string", description: "Format output using a custom template" },
    ],
    action: serviceLs,
  },
  "service ps": {
    usage: "berth service ps [OPTIONS] SERVICE [SERVICE...]",
    description: "List the tasks of one or more services",
    options: [
      QUIET,
      FILTER,
      { name: "format", type: "string", description: "Pretty-print tasks using a Go template" },
      { name: "no-trunc", type: "boolean", description: "Do not truncate output" },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"service ps" requires at least 1 argument.');
      const ids = await Promise.all(
        args.map(async (a) => (await ctx.api.call<ServiceJson>("GET", `/services/${encode(a)}`)).ID),
      );
      await printTasks(ctx, o, { service: ids });
      return 0;
    },
  },
  "service inspect": {
    usage: "berth service inspect [OPTIONS] SERVICE [SERVICE...]",
    description: "Display detailed information on one or more services",
    options: [FORMAT],
    action: inspectAll("service"),
  },
  "service update": {
    usage: "berth service update [OPTIONS] SERVICE",
    description: "Update a service",
    options: [
      { name: "image", type: "string", description: "Service image tag" },
      { name: "env-add", type: "strings", description: "Add or update an environment variable" },
      { name: "env-rm", type: "strings", description: "Remove an environment variable" },
      { name: "label-add", type: "strings", description: "Add or update a service label" },
      { name: "label-rm", type: "strings", description: "Remove a label by its key" },
      { name: "constraint-add", type: "strings", description: "Add or update a placement constraint" },
      { name: "constraint-rm", type: "strings", description: "Remove a constraint" },
      { name: "force", type: "boolean", description: "Force update even if no changes require it" },
      { name: "rollback", type: "boolean", description: "Rollback to previous specification" },
      ...SPEC_FLAGS,
    ],
    action: update,
  },
  "service rollback": {
    usage: "berth service rollback [OPTIONS] SERVICE",
    description: "Revert changes to a service's configuration",
    options: [DETACH],
    action: (ctx, o, args) => update(ctx, { ...o, rollback: true }, args),
  },
  "service scale": {
    usage: "berth service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]",
    description: "Scale one or multiple replicated services",
    options: [DETACH],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"service scale" requires at least 1 argument.');
      return forEach(args, async (pair) => {
        const m = /^([^=]+)=(\d+)$/.exec(pair);
        if (!m) throw new InvalidArgument(`invalid scale specifier '${pair}': use SERVICE=REPLICAS`);
        await update(ctx, { replicas: m[2]!, detach: bool(o, "detach") }, [m[1]!]);
      });
    },
  },
  "service logs": {
    usage: "berth service logs [OPTIONS] SERVICE",
    description: "Fetch the logs of a service's tasks, from every node that ran them",
    options: [
      { name: "follow", short: "f", type: "boolean", description: "Follow log output" },
      {
        name: "tail",
        short: "n",
        type: "string",
        description: 'Number of lines to show from the end of the logs (default "all")',
      },
      { name: "since", type: "string", description: "Show logs since timestamp or relative (e.g. 42m)" },
      { name: "timestamps", short: "t", type: "boolean", description: "Show timestamps" },
    ],
    action: serviceLogs,
  },
  "service rm": {
    usage: "berth service rm SERVICE [SERVICE...]",
    description: "Remove one or more services",
    options: [],
    action: async (ctx, _o, args) => {
      if (!args.length) throw new InvalidArgument('"service rm" requires at least 1 argument.');
      return forEach(args, async (ref) => {
        await ctx.api.call("DELETE", `/services/${encode(ref)}`);
        process.stdout.write(`${ref}\n`);
      });
    },
  },
};
