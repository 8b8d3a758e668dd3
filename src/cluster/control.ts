/**
 * The manager's verbs on cluster objects — swarm, nodes, services, tasks — as the API exposes
 * them: lookups by id, id prefix or name; validation of specs before anything is written (bad
 * input changes nothing); and the objects in dockerd's shapes, with the live parts (a node's
 * state, its manager status) filled in from the store.
 */
import { canonicalKeys } from "../engine/body-types.js";
import { randomName } from "../engine/names.js";
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import { newClusterId } from "./ids.js";
import { sealRole, sealService } from "./integrity.js";
import { peerAddress } from "./join.js";
import { STRATEGY_LABEL } from "./leader.js";
import { assignVips, releaseVips, resolveServiceNetworks, serviceNetworks } from "./overlays.js";
import { releasePorts } from "./published-ports.js";
import { parseConstraints } from "./scheduler/index.js";
import { resolveReferences } from "./secrets.js";
import { type ClusterStore, OutOfSequence } from "./store.js";
import type { ClusterRecord, NodeRecord, NodeSpec, ServiceRecord, ServiceSpec, TaskRecord } from "./types.js";
import { POLICY_DEFAULTS, respec } from "./update-progress.js";

export async function clusterWithVersion(
  store: ClusterStore,
): Promise<{ record: ClusterRecord; index: number }> {
  const found = await store.clusterAt();
  if (!found) throw new NotFound("the cluster's record is missing from the store");
  return found;
}

// ---- nodes

export function nodeJson(
  n: NodeRecord,
  alive: Set<string>,
  leader: string | undefined,
): Record<string, unknown> {
  const { Addr, MemberID: _member, PeerPort: _port, RoleSeal: _seal, ...rest } = n;
  return {
    ...rest,
    Status: { State: alive.has(n.ID) ? "ready" : "down", Addr },
    ...(n.Spec.Role === "manager"
      ? {
          ManagerStatus: {
            Leader: leader === n.ID,
            Reachability: alive.has(n.ID) ? "reachable" : "unreachable",
            Addr: peerAddress(n),
          },
        }
      : {}),
  };
}

export async function findNode(store: ClusterStore, ref: string): Promise<NodeRecord> {
  const nodes = await store.list<NodeRecord>("nodes");
  const exact = nodes.find((n) => n.ID === ref) ?? nodes.find((n) => n.Spec.Name === ref);
  if (exact) return exact;
  const byHost = nodes.filter((n) => n.Description.Hostname === ref);
  const byPrefix = nodes.filter((n) => n.ID.startsWith(ref));
  const matches = byHost.length ? byHost : byPrefix;
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new Conflict(`node ${ref} is ambiguous (${matches.length} matches found)`);
  throw new NotFound(`node ${ref} not found`);
}

export function checkNodeSpec(spec: Partial<NodeSpec> | undefined): NodeSpec {
  if (!spec || typeof spec !== "object") throw new InvalidArgument("a node update needs a spec");
  const role = spec.Role ?? "worker";
  if (role !== "manager" && role !== "worker") throw new InvalidArgument(`invalid role "${role}"`);
  const availability = spec.Availability ?? "active";
  if (!["active", "pause", "drain"].includes(availability))
    throw new InvalidArgument(`invalid availability "${availability}"`);
  const labels = spec.Labels ?? {};
  for (const [k, v] of Object.entries(labels))
    if (typeof v !== "string") throw new InvalidArgument(`label ${k}: value must be a string`);
  return {
    ...(spec.Name ? { Name: spec.Name } : {}),
    Labels: labels,
    Role: role,
    Availability: availability,
  };
}

export async function updateNode(
  store: ClusterStore,
  caKey: string,
  ref: string,
  version: number,
  spec: NodeSpec,
): Promise<NodeRecord> {
  const node = await findNode(store, ref);
  if (node.Version.Index !== version) throw new OutOfSequence("node");
  if (node.Spec.Role === "manager" && spec.Role === "worker") await checkDemotion(store, node);
  const updated = sealRole(caKey, { ...node, Spec: spec, UpdatedAt: new Date().toISOString() });
  if (!(await store.update("nodes", updated))) throw new OutOfSequence("node");
  return node;
}

/**
 * A manager may become a worker only if the managers left still make a quorum of the store:
 * never the last one, never when too few of the others are up (swarmkit's rules).
 */
async function checkDemotion(store: ClusterStore, node: NodeRecord): Promise<void> {
  const [nodes, alive] = await Promise.all([store.list<NodeRecord>("nodes"), store.alive()]);
  const others = nodes.filter((n) => n.Spec.Role === "manager" && n.ID !== node.ID);
  if (!others.length)
    throw new Conflict(
      "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm",
    );
  if (others.filter((n) => alive.has(n.ID)).length <= others.length / 2)
    throw new Conflict(
      "rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a loss of quorum",
    );
}

/** `node rm`: the removed node's id. */
export async function removeNode(store: ClusterStore, ref: string, force: boolean): Promise<string> {
  const node = await findNode(store, ref);
  const alive = await store.alive();
  if (node.Spec.Role === "manager")
    throw new Conflict(
      `rpc error: code = FailedPrecondition desc = node ${node.ID} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`,
    );
  if (alive.has(node.ID) && !force)
    throw new Conflict(
      `rpc error: code = FailedPrecondition desc = node ${node.ID} is not down and can't be removed`,
    );
  await store.remove("nodes", node.ID);
  return node.ID;
}

// ---- services

/** swarmkit's rule for a service name: letters and digits, joined by dashes or underscores. */
const NAME = /^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$/;

/** A spec checked and given docker's defaults; a bad one is refused before anything is written. */
export function checkServiceSpec(given: Partial<ServiceSpec> | undefined): ServiceSpec {
  if (!given || typeof given !== "object") throw new InvalidArgument("a service needs a spec");
  canonicalSpec(given);
  const name = given.Name || generatedName();
  if (!NAME.test(name) || name.length > 63)
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = name must be valid as a DNS name component: "${name}"`,
    );
  const template = given.TaskTemplate;
  const image = template?.ContainerSpec?.Image;
  if (!template || typeof image !== "string" || !image)
    throw new InvalidArgument(
      "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided",
    );
  const mode = canonicalMode(given.Mode);
  if (mode.Replicated) {
    const n = mode.Replicated.Replicas;
    if (!Number.isInteger(n) || n! < 0) throw new InvalidArgument(`invalid replicas value "${n}"`);
  }
  const placement = template.Placement ?? {};
  parseConstraints(placement.Constraints ?? []);
  // swarmkit takes any descriptor, and spreads over node and engine labels only.
  for (const p of placement.Preferences ?? [])
    if (!p.Spread?.SpreadDescriptor)
      throw new InvalidArgument("a placement preference names what to spread over");
  const strategy = given.Labels?.[STRATEGY_LABEL];
  if (strategy !== undefined && !["spread", "binpack", "random"].includes(strategy))
    throw new InvalidArgument(`unknown placement strategy "${strategy}": use spread, binpack or random`);
  const restart = template.RestartPolicy ?? {};
  if (restart.Condition && !["none", "on-failure", "any"].includes(restart.Condition))
    throw new InvalidArgument(`invalid restart condition "${restart.Condition}"`);
  for (const cfg of [given.UpdateConfig, given.RollbackConfig]) {
    if (cfg?.Order && !["stop-first", "start-first"].includes(cfg.Order))
      throw new InvalidArgument(`invalid update order "${cfg.Order}"`);
    if (cfg?.Parallelism !== undefined && (!Number.isInteger(cfg.Parallelism) || cfg.Parallelism < 0))
      throw new InvalidArgument("update parallelism must be a whole number, 0 or more");
  }
  for (const m of template.ContainerSpec.Mounts ?? [])
    if (!["bind", "volume", "tmpfs"].includes(m.Type) || !m.Target?.startsWith("/"))
      throw new InvalidArgument(`invalid mount: type ${m.Type}, target "${m.Target}"`);
  return {
    Name: name,
    Labels: given.Labels ?? {},
    TaskTemplate: {
      ...template,
      ContainerSpec: { ...template.ContainerSpec },
      ForceUpdate: template.ForceUpdate ?? 0,
      Runtime: template.Runtime ?? "container",
    },
    Mode: mode,
    ...(given.UpdateConfig ? { UpdateConfig: given.UpdateConfig } : {}),
    ...(given.RollbackConfig ? { RollbackConfig: given.RollbackConfig } : {}),
    EndpointSpec: { Mode: "vip", ...given.EndpointSpec },
    ...(given.Networks?.length ? { Networks: given.Networks } : {}),
  };
}

/** Every field name of a service spec, as swarm spells them. */
const SPEC_FIELDS =
  `Name Labels TaskTemplate Mode UpdateConfig RollbackConfig EndpointSpec Networks ContainerSpec
  PluginSpec NetworkAttachmentSpec Resources RestartPolicy Placement ForceUpdate Runtime LogDriver Image Command Args
  Hostname Env Dir User Groups Privileges TTY OpenStdin ReadOnly Mounts StopSignal StopGracePeriod Healthcheck Hosts
  DNSConfig Secrets Configs Isolation Init Sysctls CapabilityAdd CapabilityDrop Ulimits Limits Reservations NanoCPUs
  MemoryBytes Pids GenericResources Condition Delay MaxAttempts Window Constraints Preferences MaxReplicas Platforms
  Spread SpreadDescriptor Architecture OS Parallelism FailureAction Monitor MaxFailureRatio Order Ports Protocol
  TargetPort PublishedPort PublishMode Target Aliases DriverOpts Replicated Global Replicas ReplicatedJob GlobalJob
  MaxConcurrent TotalCompletions File UID GID Mode SecretID SecretName ConfigID ConfigName Type Source Consistency
  BindOptions VolumeOptions TmpfsOptions Test Interval Timeout Retries StartPeriod StartInterval Nameservers Search
  Options Driver NoCopy DriverConfig Propagation SizeBytes Soft Hard`.split(/\s+/);

/** Fields whose keys are the user's (label names, options): never renamed. */
const MAPS = new Set(["Labels", "Options", "DriverOpts", "Sysctls"]);

/**
 * The spec with its keys as swarm spells them, whatever their case: Go's decoder matches them
 * so (docker-py sends {"order": "start-first"} from some of its helpers).
 */
export function canonicalSpec(value: unknown): void {
  if (Array.isArray(value)) {
    for (const v of value) canonicalSpec(v);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  canonicalKeys(value, SPEC_FIELDS);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!MAPS.has(k)) canonicalSpec(v);
}

/** The update and rollback policies docker fills in for `inspect --insertDefaults`. */
export function withDefaults(spec: ServiceSpec): ServiceSpec {
  return {
    ...spec,
    UpdateConfig: { ...POLICY_DEFAULTS, ...spec.UpdateConfig },
    RollbackConfig: { ...POLICY_DEFAULTS, ...spec.RollbackConfig },
    TaskTemplate: {
      ...spec.TaskTemplate,
      RestartPolicy: { Condition: "any", Delay: 5e9, MaxAttempts: 0, ...spec.TaskTemplate.RestartPolicy },
    },
  };
}

/**
 * The mode, with its keys as docker spells them whatever the case (Go's decoder matches keys in
 * any case: docker-py sends {"global": {}}); none given is one replica.
 */
function canonicalMode(given: unknown): ServiceSpec["Mode"] {
  if (given === undefined || given === null) return { Replicated: { Replicas: 1 } };
  if (typeof given !== "object") throw new InvalidArgument("a service's mode is an object");
  const m = given as ServiceSpec["Mode"];
  const kinds = Object.keys(m);
  if (kinds.length !== 1 || !["Replicated", "Global", "ReplicatedJob", "GlobalJob"].includes(kinds[0]!))
    throw new InvalidArgument(
      `a service's mode is one of Replicated, Global, ReplicatedJob or GlobalJob (given: ${kinds.join(", ") || "none"})`,
    );
  if (m.Replicated) return { Replicated: { Replicas: m.Replicated.Replicas ?? 1 } };
  if (m.ReplicatedJob) {
    const max = m.ReplicatedJob.MaxConcurrent ?? 1;
    const total = m.ReplicatedJob.TotalCompletions ?? max;
    for (const n of [max, total])
      if (!Number.isInteger(n) || n < 0)
        throw new InvalidArgument(`invalid job value "${n}": a whole number, 0 or more`);
    return { ReplicatedJob: { MaxConcurrent: max, TotalCompletions: total } };
  }
  return m.Global ? { Global: {} } : { GlobalJob: {} };
}

/** A name for a service created without one: docker's generator, as a DNS label. */
function generatedName(): string {
  return randomName(() => false)
    .slice(1)
    .replace("_", "-");
}

export async function findService(store: ClusterStore, ref: string): Promise<ServiceRecord> {
  const services = await store.list<ServiceRecord>("services");
  const exact = services.find((s) => s.ID === ref) ?? services.find((s) => s.Spec.Name === ref);
  if (exact) return exact;
  const matches = services.filter((s) => s.ID.startsWith(ref));
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw new Conflict(`service ${ref} is ambiguous (${matches.length} matches found)`);
  throw new NotFound(`service ${ref} not found`);
}

export async function createService(
  store: ClusterStore,
  caKey: string,
  given: Partial<ServiceSpec> | undefined,
): Promise<string> {
  const spec = checkServiceSpec(given);
  await resolveReferences(store, spec.TaskTemplate);
  await resolveServiceNetworks(store, spec);
  // A name already held fails before an address or a port is taken for it (the create's
  // transaction is what makes a name sure; this only spares the taking and giving back).
  if (
    (spec.EndpointSpec?.Ports?.length || serviceNetworks(spec).length) &&
    (await store.serviceNameHeld(spec.Name))
  )
    throw nameConflict(spec.Name);
  const now = new Date().toISOString();
  const record: ServiceRecord = {
    ID: newClusterId(),
    Version: { Index: 0 },
    CreatedAt: now,
    UpdatedAt: now,
    Spec: spec,
    Endpoint: { Spec: { Mode: spec.EndpointSpec?.Mode ?? "vip" } },
    SpecVersion: 1,
  };
  const withVips = sealService(caKey, await assignVips(store, record));
  if (!(await store.createService(withVips))) {
    await releaseVips(store, withVips);
    throw nameConflict(spec.Name);
  }
  return record.ID;
}

const nameConflict = (name: string) =>
  new Conflict(
    `rpc error: code = AlreadyExists desc = name conflicts with an existing object: service ${name} already exists`,
  );

/** A service gone, and the addresses it held on its networks given back. */
export async function removeService(store: ClusterStore, ref: string): Promise<void> {
  const service = await findService(store, ref);
  await store.removeService(service);
  await releaseVips(store, service);
}

export async function updateService(
  store: ClusterStore,
  caKey: string,
  ref: string,
  version: number,
  given: Partial<ServiceSpec> | undefined,
  rollback: boolean,
): Promise<void> {
  const service = await findService(store, ref);
  if (service.Version.Index !== version) throw new OutOfSequence("service");
  let spec: ServiceSpec;
  if (rollback) {
    if (!service.PreviousSpec)
      throw new InvalidArgument(`service ${service.Spec.Name} does not have a previous spec`);
    spec = service.PreviousSpec;
  } else {
    spec = checkServiceSpec(given);
    if (spec.Name !== service.Spec.Name) throw new InvalidArgument("renaming services is not supported");
    await resolveReferences(store, spec.TaskTemplate);
    await resolveServiceNetworks(store, spec);
  }
  if (Object.keys(spec.Mode)[0] !== Object.keys(service.Spec.Mode)[0])
    throw new InvalidArgument("service mode change is not allowed");
  const updated = sealService(
    caKey,
    await assignVips(
      store,
      respec(service, spec, rollback, rollback ? "manually requested rollback" : "update in progress"),
    ),
  );
  if (!(await store.update("services", updated))) throw new OutOfSequence("service");
  // Ports it no longer publishes are given back only now, once no record shows them.
  await releasePorts(store, updated.ID, updated);
}

/** A service as the API shows it; with its tasks (`mine`: the service's own), its ServiceStatus too. */
export function serviceJson(
  s: ServiceRecord,
  mine?: TaskRecord[],
  nodesUp?: number,
): Record<string, unknown> {
  const { SpecVersion: _v, Integrity: _i, ...rest } = s;
  const out: Record<string, unknown> = { ...rest };
  if (mine) {
    out["ServiceStatus"] = {
      RunningTasks: mine.filter((t) => t.Status.State === "running" && t.DesiredState === "running").length,
      DesiredTasks:
        s.Spec.Mode.Global || s.Spec.Mode.GlobalJob
          ? (nodesUp ?? 0)
          : (s.Spec.Mode.Replicated?.Replicas ?? s.Spec.Mode.ReplicatedJob?.MaxConcurrent ?? 0),
      CompletedTasks: mine.filter((t) => t.Status.State === "complete").length,
    };
  }
  return out;
}

export function taskJson(t: TaskRecord, serviceName: string | undefined): Record<string, unknown> {
  const { SpecVersion: _v, RunningSince: _r, Signature: _s, ...rest } = t;
  return { ...rest, ...(serviceName ? { Name: `${serviceName}.${t.Slot ?? t.NodeID}` } : {}) };
}

/** Tasks as `GET /tasks` filters them (the CLI's private `_up-to-date` too). */
export function filterTasks(
  tasks: TaskRecord[],
  filters: Record<string, string[]>,
  services: ServiceRecord[],
  nodes: NodeRecord[],
): TaskRecord[] {
  const any = (key: string, test: (v: string) => boolean) =>
    !filters[key]?.length || filters[key]!.some(test);
  const svc = new Map(services.map((s) => [s.ID, s]));
  return tasks.filter((t) => {
    const service = svc.get(t.ServiceID);
    return (
      any("id", (v) => t.ID.startsWith(v)) &&
      any("service", (v) => t.ServiceID === v || service?.Spec.Name === v || t.ServiceID.startsWith(v)) &&
      any("node", (v) => {
        const n = nodes.find((x) => x.ID === v || x.Description.Hostname === v || x.Spec.Name === v);
        return t.NodeID === (n?.ID ?? v);
      }) &&
      any(
        "desired-state",
        (v) => t.DesiredState === v || (v === "accepted" && t.DesiredState === "running"),
      ) &&
      any("name", (v) => `${service?.Spec.Name}.${t.Slot ?? t.NodeID}`.startsWith(v)) &&
      any(
        "_up-to-date",
        (v) => (v === "true" || v === "1") === (!service || t.SpecVersion === service.SpecVersion),
      ) &&
      // A task's labels are its service's, as swarmkit matches them (stack ps filters so).
      (filters["label"] ?? []).every((l) => {
        const labels = { ...(service?.Spec.Labels ?? {}), ...t.Labels };
        return l.includes("=") ? labels[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1) : l in labels;
      })
    );
  });
}

export function filterServices(
  services: ServiceRecord[],
  filters: Record<string, string[]>,
): ServiceRecord[] {
  const any = (key: string, test: (v: string) => boolean) =>
    !filters[key]?.length || filters[key]!.some(test);
  return services.filter(
    (s) =>
      any("id", (v) => s.ID.startsWith(v)) &&
      any("name", (v) => s.Spec.Name.startsWith(v)) &&
      any("mode", (v) =>
        v === "global" ? !!s.Spec.Mode.Global : v === "replicated" ? !!s.Spec.Mode.Replicated : false,
      ) &&
      (filters["label"] ?? []).every((l) =>
        l.includes("=")
          ? s.Spec.Labels?.[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1)
          : l in (s.Spec.Labels ?? {}),
      ),
  );
}

export function filterNodes(
  nodes: NodeRecord[],
  filters: Record<string, string[]>,
  alive: Set<string>,
  leader: string | undefined,
): NodeRecord[] {
  const any = (key: string, test: (v: string) => boolean) =>
    !filters[key]?.length || filters[key]!.some(test);
  return nodes.filter(
    (n) =>
      any("id", (v) => n.ID.startsWith(v)) &&
      any("name", (v) => (n.Spec.Name ?? n.Description.Hostname).startsWith(v)) &&
      any("role", (v) => n.Spec.Role === v) &&
      any("membership", (v) => v === "accepted") &&
      any("node.label", (v) =>
        v.includes("=")
          ? n.Spec.Labels[v.split("=")[0]!] === v.slice(v.indexOf("=") + 1)
          : v in n.Spec.Labels,
      ) &&
      any("label", (v) =>
        v.includes("=")
          ? n.Description.Engine.Labels[v.split("=")[0]!] === v.slice(v.indexOf("=") + 1)
          : v in n.Description.Engine.Labels,
      ) &&
      any("leader", (v) => (v === "true" || v === "1") === (leader === n.ID)) &&
      any("status", (v) => v === (alive.has(n.ID) ? "ready" : "down")),
  );
}
