/**
 * The one manager that acts: chosen by an etcd election (the leader key on its lease), it turns
 * services into tasks (the orchestrator: replicas, global placement, restarts, rolling updates,
 * nodes that died or drain) and gives new tasks a node (the scheduler in ./scheduler). Each pass
 * looks at the whole state at one revision (a copy kept by a watch, ./mirror.ts, that holds the
 * leader's own last writes before the next pass) and writes its decisions in transactions that
 * hold only while its leader key stands, so a deposed leader cannot write. Passes run on every
 * change that can alter a decision (./pass-trigger.ts), for the services it concerns; every
 * second a sweep looks at all of them, a few at a pass, so that it never holds up a pass for a
 * change for long. Passes are idempotent.
 */
import { errorText } from "../errors.js";
import type { WatchEvent } from "./etcd.js";
import { newClusterId } from "./ids.js";
import { sealService, serviceIntact, signTask } from "./integrity.js";
import { LeaderView, occupies, type Scope, taskReservations, wanted } from "./leader-view.js";
import type { StoreMirror } from "./mirror.js";
import { taskNetworks } from "./overlays.js";
import { worthAPass } from "./pass-trigger.js";
import {
  ClusterLoad,
  matchesConstraints,
  type PlacementRequest,
  parseConstraints,
  parsePlacementPreference,
  placeMany,
  type SchedNode,
  type Strategy,
} from "./scheduler/index.js";
import { type ClusterStore, KEYS, type Kind, type LeaderGuard } from "./store.js";
import { type Meta, type NodeRecord, type ServiceRecord, type TaskRecord, TERMINAL } from "./types.js";
import {
  activePolicy,
  isJob,
  respec,
  rollingBack,
  type UpdateVerdict,
  updateVerdict,
} from "./update-progress.js";

/** How often this manager asks etcd whether it leads, and the sweep over every service begins. */
const PASS_MS = 1000;
/**
 * About how many tasks one pass of the sweep looks at (whole services). At 30,000 tasks the
 * sweep in one pass took 50–400 ms, and a new service's first task waited behind it.
 */
const SWEEP_TASKS = 2000;
/**
 * How long a pass waits for changes that come with the one that called it. Short: while a pass
 * runs, the changes that arrive wait for the next one anyway, and a pass for a service's changes
 * looks at that service alone; the wait is what a new service's first task waits first.
 */
const COALESCE_MS = 5;
/** etcd refuses a transaction of more operations than this by default (128). */
const TXN_OPS = 100;
const DEFAULT_RESTART_DELAY_NS = 5e9;
export const STRATEGY_LABEL = "berth.strategy";

type Write =
  | { kind: Kind; record: TaskRecord | ServiceRecord; create?: boolean }
  | { kind: Kind; remove: Meta };

export function schedNode(n: NodeRecord, ready: boolean): SchedNode {
  return {
    id: n.ID,
    hostname: n.Description.Hostname,
    role: n.Spec.Role,
    availability: n.Spec.Availability,
    ready,
    labels: n.Spec.Labels ?? {},
    engineLabels: n.Description.Engine.Labels ?? {},
    platform: { os: n.Description.Platform.OS, architecture: n.Description.Platform.Architecture },
    resources: {
      nanoCpus: n.Description.Resources.NanoCPUs,
      memoryBytes: n.Description.Resources.MemoryBytes,
    },
  };
}

const hostPorts = (s: ServiceRecord) =>
  (s.Spec.EndpointSpec?.Ports ?? [])
    .filter((p) => p.PublishMode === "host" && p.PublishedPort)
    .map((p) => p.PublishedPort!);

export function newTask(service: ServiceRecord, slot: number | undefined, nodeId?: string): TaskRecord {
  const now = new Date().toISOString();
  const id = newClusterId();
  return {
    ID: id,
    Version: { Index: 0 },
    CreatedAt: now,
    UpdatedAt: now,
    Labels: {},
    Spec: taskNetworks(service.Spec).length
      ? { ...service.Spec.TaskTemplate, Networks: taskNetworks(service.Spec) }
      : service.Spec.TaskTemplate,
    ServiceID: service.ID,
    ...(slot !== undefined ? { Slot: slot } : {}),
    ...(nodeId ? { NodeID: nodeId } : {}),
    Status: { Timestamp: now, State: "new", Message: "created", PortStatus: {} },
    DesiredState: "running",
    SpecVersion: service.SpecVersion,
  };
}

export class Leader {
  leading = false;
  /** The leader key's revision while this manager leads: every write of a pass holds only while it stands. */
  private guard: LeaderGuard | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The store's revision after the last pass's writes: the next pass looks at no older state. */
  private written = 0;
  private pass: Promise<void> = Promise.resolve();
  private queued = false;
  /** The services the queued pass is for (what changed since the last one), before any of the sweep's. */
  private changes = new Set<string>();
  /** Whether the queued pass begins a sweep. */
  private sweepDue = true;
  /** The services the sweep has yet to look at, in order (a new sweep adds the others at the end). */
  private readonly sweep = new Set<string>();
  /** The campaign under way, if any, and whether another is wanted once it ends. */
  private campaigning: Promise<void> | undefined;
  private campaignAgain = false;
  /** What passes decide on, kept current by the mirror's changes. */
  private readonly view = new LeaderView();
  private stopped = false;

  /** Services already reported as forged (each is logged once). */
  private readonly forged = new Set<string>();
  /**
   * Services whose MAC was checked, by id: the version checked (a record at one etcd revision
   * never changes) and the verdict; forgotten when the CA key changes.
   */
  private intact = new Map<string, { index: number; intact: boolean }>();
  private intactKey = "";

  constructor(
    private readonly store: ClusterStore,
    /** The manager's copy of the store (its changes call changed()). */
    private readonly mirror: StoreMirror<unknown>,
    private readonly nodeId: string,
    private readonly lease: () => string | undefined,
    private readonly log: (message: string) => void,
    /** The CA key: the leader signs the tasks it writes and checks the services it reads. */
    private readonly caKey: () => string,
  ) {}

  start(): void {
    this.stopped = false;
    // A first read that fails is tried again by the passes (a store down at start).
    this.view.reset(this.mirror.entries.values());
    void this.mirror.start().catch(() => {});
    this.timer = setInterval(() => this.recheck(), PASS_MS);
    this.recheck();
  }

  stop(): void {
    this.stopped = true;
    this.leading = false;
    clearInterval(this.timer);
  }

  /**
   * The store changed (the mirror's events): a pass soon for the services concerned, or a campaign
   * if the leader key moved — unless no decision can have changed (./pass-trigger.ts): the sweep
   * takes those.
   */
  changed(events: WatchEvent[] | "reread"): void {
    if (events === "reread") {
      this.view.reset(this.mirror.entries.values());
      this.recheck();
      return;
    }
    const value = (key: string) => this.mirror.entries.get(key)?.value;
    const scope = this.view.apply(events, value);
    if (events.some((e) => e.kv.key === KEYS.leader)) this.recheck();
    else if ((scope === "all" || scope.size) && worthAPass(events, value)) this.kick(scope);
  }

  /**
   * Asks etcd whether this manager leads (a write through raft, so only on the timer and when the
   * leader key changed), then begins a sweep. It runs beside the passes, not before one: a pass
   * that waited for it would hold up a new service's placement by a raft round trip, and a pass
   * under way when leadership moves writes under the guard it began with, which then fails.
   */
  private recheck(): void {
    if (this.stopped) return;
    if (this.campaigning) {
      this.campaignAgain = true;
      return;
    }
    this.campaigning = (async () => {
      do {
        this.campaignAgain = false;
        try {
          await this.campaign();
        } catch (err) {
          this.log(`swarm leader: ${errorText(err)}`);
        }
      } while (this.campaignAgain && !this.stopped);
      this.campaigning = undefined;
      this.kick("all");
    })();
  }

  private async campaign(): Promise<void> {
    const lease = this.lease();
    if (!lease) {
      this.leading = false;
      this.guard = undefined;
      return;
    }
    const guard = await this.store.campaign(this.nodeId, lease);
    if (this.stopped) return; // stop() ended the leading meanwhile
    if (guard && !this.leading) {
      this.log("swarm: this manager leads the cluster now");
      void this.holdServiceNames(guard).catch((err: unknown) =>
        this.log(`swarm leader: holding the services' names: ${errorText(err)}`),
      );
    }
    this.leading = guard !== undefined;
    this.guard = guard;
  }

  /**
   * Services made before names were held for them (./store.ts createService; by an earlier
   * Berth) get theirs, so that no new service takes one; a forged service gets none. Once per
   * leadership: each create and removal keeps them since.
   */
  private async holdServiceNames(guard: LeaderGuard): Promise<void> {
    await this.mirror.start();
    const held = await this.store.serviceNames();
    const caKey = this.caKey();
    for (const s of this.view.services.values())
      if (!held.has(s.Spec.Name.toLowerCase()) && serviceIntact(caKey, s))
        await this.store.holdServiceName(s, guard);
  }

  /**
   * A pass soon, for `scope`: the services whose changes call for it (a pass looks at them alone),
   * or all of them (a sweep begins). Passes run one at a time; each takes the changed services,
   * then the next few of the sweep, until the sweep is done: a change waits for one pass at most.
   */
  private kick(scope: Scope): void {
    if (this.stopped) return;
    if (scope === "all") this.sweepDue = true;
    else for (const id of scope) this.changes.add(id);
    if (this.queued) return;
    this.queued = true;
    this.pass = this.pass.then(async () => {
      await new Promise((r) => setTimeout(r, COALESCE_MS));
      this.queued = false;
      const ids = this.changes;
      this.changes = new Set();
      const sweepDue = this.sweepDue;
      this.sweepDue = false;
      const guard = this.guard;
      if (!this.leading || !guard) {
        this.sweep.clear();
        return;
      }
      if (sweepDue) this.beginSweep();
      let tasks = 0;
      for (const id of this.sweep) {
        if (tasks >= SWEEP_TASKS) break;
        this.sweep.delete(id);
        ids.add(id);
        tasks += this.view.tasksByService.get(id)?.size ?? 0;
      }
      try {
        await this.reconcile(ids, guard);
      } catch (err) {
        this.log(`swarm leader: ${errorText(err)}`);
      }
      if (this.sweep.size) this.kick(new Set());
    });
  }

  /** Every service, and every service gone whose tasks remain, added to the sweep. */
  private beginSweep(): void {
    for (const id of this.view.services.keys()) this.sweep.add(id);
    for (const id of this.view.tasksByService.keys()) this.sweep.add(id);
    // Services gone are forgotten by the integrity check.
    for (const id of this.intact.keys()) if (!this.view.services.has(id)) this.intact.delete(id);
  }

  private async commit(decided: Write[], guard: LeaderGuard): Promise<void> {
    // etcd refuses a transaction that names a key twice, and a pass that always fails stops the
    // swarm: a record's first decision in a pass stands, a later one waits for the next pass
    // (a stop-first task waiting in a slot that a scale-down removed is stopped, then found
    // free to start: it stays stopped).
    const seen = new Set<string>();
    const given = decided.filter((w) => {
      const key = `${w.kind}/${"remove" in w ? w.remove.ID : w.record.ID}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    // What the leader writes is signed: a task's placement and spec, a service's specs.
    const key = this.caKey();
    const writes = given.map((w): Write => {
      if ("remove" in w) return w;
      if (w.kind === "tasks" && (w.record as TaskRecord).NodeID)
        return { ...w, record: signTask(key, w.record as TaskRecord) };
      if (w.kind === "services") return { ...w, record: sealService(key, w.record as ServiceRecord) };
      return w;
    });
    const note = (r: { succeeded: boolean; revision: number }) => {
      this.written = Math.max(this.written, r.revision);
      return r.succeeded;
    };
    for (let i = 0; i < writes.length; i += TXN_OPS) {
      // A chunk fails whole when one write lost a race (a task's status moved): the others are
      // made one by one, and the lost one waits for the next pass to decide again.
      const chunk = writes.slice(i, i + TXN_OPS);
      if (!note(await this.store.batch(chunk, guard)) && chunk.length > 1)
        for (const w of chunk) note(await this.store.batch([w], guard));
    }
  }

  /**
   * One pass: the tasks of the services in `ids` made to match their specs, then their new tasks
   * placed (against every node's load), written under `guard`. The others had no change that
   * could alter a decision of theirs; the sweep looks at them anyway.
   */
  private async reconcile(ids: ReadonlySet<string>, guard: LeaderGuard): Promise<void> {
    // The state to decide on: the view, once the mirror holds this leader's last writes.
    await this.mirror.start();
    await this.mirror.catchUp(this.written);
    const view = this.view;
    const caKey = this.caKey();
    // A service whose MAC fails was not written by a manager: it makes no task.
    if (this.intactKey !== caKey) this.intact = new Map();
    this.intactKey = caKey;
    const considered = [...ids].flatMap((id) => view.services.get(id) ?? []);
    const intactServices = considered.filter((s) => {
      const known = this.intact.get(s.ID);
      const intact =
        known?.index === s.Version.Index && s.Version.Index > 0 ? known.intact : serviceIntact(caKey, s);
      this.intact.set(s.ID, { index: s.Version.Index, intact });
      if (intact) return true;
      if (!this.forged.has(s.ID))
        this.log(`swarm leader: service ${s.ID} fails its integrity check: ignored`);
      this.forged.add(s.ID);
      return false;
    });
    const cluster = view.cluster;
    const nodes = view.nodes;
    const nodeList = [...nodes.values()];
    const alive = view.alive;
    const ready = (id: string | undefined) => !!id && nodes.has(id) && alive.has(id);
    const services = new Map(intactServices.map((s) => [s.ID, s]));
    const tasksOf = (id: string) => [...(view.tasksByService.get(id)?.values() ?? [])];
    const writes: Write[] = [];
    const fresh: TaskRecord[] = [];
    const now = Date.now();
    const historyLimit = cluster?.Spec.Orchestration.TaskHistoryRetentionLimit ?? 5;
    /** service → how many replicas (or nodes) it runs: what an update's failure ratio is of */
    const slots = new Map<string, number>();

    for (const serviceId of ids) {
      if (services.has(serviceId)) continue;
      // A removed service: its tasks stop, and go once stopped (or once their node is gone).
      for (const t of tasksOf(serviceId)) {
        if (wanted(t)) writes.push({ kind: "tasks", record: { ...t, DesiredState: "remove" } });
        else if (TERMINAL.has(t.Status.State) || !ready(t.NodeID) || !t.NodeID)
          writes.push({ kind: "tasks", remove: t });
      }
    }

    const byService = new Map<string, TaskRecord[]>();
    for (const service of intactServices) {
      const tasks = tasksOf(service.ID);
      byService.set(service.ID, tasks);
      const shutdown = (t: TaskRecord) => {
        writes.push({
          kind: "tasks",
          record: { ...t, DesiredState: "shutdown", UpdatedAt: new Date().toISOString() },
        });
      };
      if (service.Spec.Mode.ReplicatedJob || service.Spec.Mode.GlobalJob) {
        this.orchestrateJob(service, tasks, nodeList, alive, fresh, shutdown);
        continue;
      }
      const policy = service.Spec.TaskTemplate.RestartPolicy ?? {};
      const condition = policy.Condition ?? "any";
      const delayMs = (policy.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6;
      const constraints = safeConstraints(service);
      const global = service.Spec.Mode.Global !== undefined;
      // key: slot (replicated) or node (global) → the live task there
      const live = new Map<string, TaskRecord[]>();
      const retired = new Map<string, TaskRecord[]>();
      const keyOf = (t: TaskRecord) => (global ? (t.NodeID ?? "") : String(t.Slot));
      for (const t of tasks) {
        const k = keyOf(t);
        if (!wanted(t)) {
          addTo(retired, k, t);
          continue;
        }
        const node = t.NodeID ? nodes.get(t.NodeID) : undefined;
        const lost = t.NodeID !== undefined && (!node || !alive.has(t.NodeID));
        const drained = node?.Spec.Availability === "drain";
        const offConstraint = global && node && !matchesConstraints(schedNode(node, true), constraints);
        if (lost || drained || offConstraint) {
          shutdown(t);
          addTo(retired, k, t);
          continue;
        }
        if (TERMINAL.has(t.Status.State) && t.DesiredState === "running") {
          // Ended on its own: the restart policy says whether a new one takes its place.
          const failed = t.Status.State !== "complete";
          const attempts =
            (retired.get(k) ?? []).filter((r) => r.SpecVersion === service.SpecVersion).length + 1;
          const again =
            condition === "any" || (condition === "on-failure" && failed)
              ? !policy.MaxAttempts || attempts < policy.MaxAttempts
              : false;
          if (!again) {
            // stays: a replica that completed (or gave up) is not made again
            addTo(live, k, t);
            continue;
          }
          if (now - Date.parse(t.Status.Timestamp) < delayMs) {
            addTo(live, k, t);
            continue;
          }
          shutdown(t);
          addTo(retired, k, t);
          continue;
        }
        addTo(live, k, t);
      }

      if (global) {
        for (const n of nodeList) {
          const eligible =
            alive.has(n.ID) &&
            n.Spec.Availability === "active" &&
            matchesConstraints(schedNode(n, true), constraints);
          if (eligible && !live.has(n.ID)) {
            const t = newTask(service, undefined, n.ID);
            t.Status = { ...t.Status, State: "assigned", Message: "scheduler assigned task to node" };
            fresh.push(t);
            live.set(n.ID, [t]);
          }
        }
      } else {
        const replicas = service.Spec.Mode.Replicated?.Replicas ?? 1;
        for (let slot = 1; slot <= replicas; slot++) {
          if (!live.has(String(slot))) {
            const t = newTask(service, slot);
            fresh.push(t);
            live.set(String(slot), [t]);
          }
        }
        for (const [k, list] of live)
          if (Number(k) > replicas) for (const t of list) if (wanted(t)) shutdown(t);
      }

      slots.set(service.ID, live.size);
      // Rolling update: out-of-date tasks replaced a batch at a time.
      this.rollingUpdate(service, tasks, live, fresh, shutdown, now);

      // Stop-first: a waiting task starts once what ran in its place has stopped.
      for (const [k, list] of live) {
        const waiting = list.find((t) => t.DesiredState === "ready" && !fresh.includes(t));
        if (!waiting) continue;
        const others = list.filter((t) => t !== waiting && t.DesiredState === "running");
        const stopping = (retired.get(k) ?? []).filter(
          (t) => !TERMINAL.has(t.Status.State) && ready(t.NodeID),
        );
        if (!others.length && !stopping.length)
          writes.push({ kind: "tasks", record: { ...waiting, DesiredState: "running" } });
      }

      // History: the newest few ended tasks per slot stay for `service ps`, older ones go.
      for (const list of retired.values()) {
        const ended = list
          .filter((t) => TERMINAL.has(t.Status.State) || !ready(t.NodeID))
          .sort((a, b) => Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt));
        for (const t of ended.slice(historyLimit)) writes.push({ kind: "tasks", remove: t });
      }
    }

    this.schedule(
      nodeList,
      alive,
      byService,
      services,
      fresh,
      cluster?.Strategy as Strategy | undefined,
      writes,
    );
    for (const t of fresh) writes.push({ kind: "tasks", record: t, create: true });
    // Services whose update finished, failed or must roll back say so.
    for (const service of intactServices) {
      const state = service.UpdateStatus?.State;
      if ((state !== "updating" && state !== "rollback_started") || isJob(service.Spec)) continue;
      const verdict = updateVerdict(
        service,
        byService.get(service.ID) ?? [],
        slots.get(service.ID) ?? 0,
        fresh.some((t) => t.ServiceID === service.ID),
        now,
      );
      const next = settleUpdate(service, verdict);
      if (next) writes.push({ kind: "services", record: next });
    }
    await this.commit(writes, guard);
  }

  /**
   * A job: tasks run to completion. A replicated job makes TotalCompletions of them, at most
   * MaxConcurrent at a time; a global job one on each eligible node. A failed task is made
   * again; a completed one is not; an update runs the job again.
   */
  private orchestrateJob(
    service: ServiceRecord,
    tasks: TaskRecord[],
    nodes: NodeRecord[],
    alive: Set<string>,
    fresh: TaskRecord[],
    shutdown: (t: TaskRecord) => void,
  ): void {
    const current: TaskRecord[] = [];
    for (const t of tasks) {
      if (!wanted(t)) continue;
      const failed = TERMINAL.has(t.Status.State) && t.Status.State !== "complete";
      const lost = t.NodeID !== undefined && !alive.has(t.NodeID) && !TERMINAL.has(t.Status.State);
      if (t.SpecVersion !== service.SpecVersion || failed || lost) shutdown(t);
      else current.push(t);
    }
    const running = current.filter((t) => !TERMINAL.has(t.Status.State));
    const job = service.Spec.Mode.ReplicatedJob;
    if (job) {
      const done = current.length - running.length;
      let slot = Math.max(0, ...tasks.map((t) => t.Slot ?? 0)) + 1;
      for (
        let n = running.length;
        done + n < (job.TotalCompletions ?? 1) && n < (job.MaxConcurrent ?? 1);
        n++
      )
        fresh.push(newTask(service, slot++));
      return;
    }
    const constraints = safeConstraints(service);
    for (const n of nodes) {
      const eligible =
        alive.has(n.ID) &&
        n.Spec.Availability === "active" &&
        matchesConstraints(schedNode(n, true), constraints);
      if (eligible && !current.some((t) => t.NodeID === n.ID)) {
        const t = newTask(service, undefined, n.ID);
        t.Status = { ...t.Status, State: "assigned", Message: "scheduler assigned task to node" };
        fresh.push(t);
      }
    }
  }

  private rollingUpdate(
    service: ServiceRecord,
    tasks: TaskRecord[],
    live: Map<string, TaskRecord[]>,
    fresh: TaskRecord[],
    shutdown: (t: TaskRecord) => void,
    now: number,
  ): void {
    const state = service.UpdateStatus?.State;
    // A paused update replaces nothing more until the next `service update`.
    if (state === "paused" || state === "rollback_paused") return;
    const config = activePolicy(service);
    const parallelism = config.Parallelism ?? 1;
    const startFirst = config.Order === "start-first";
    let inFlight = 0;
    const outdated: Array<[string, TaskRecord]> = [];
    for (const [k, list] of live) {
      const current = list.find((t) => t.SpecVersion === service.SpecVersion && wanted(t));
      const old = list.filter((t) => t.SpecVersion !== service.SpecVersion && t.DesiredState === "running");
      if (current && current.Status.State !== "running" && old.length) inFlight++;
      else if (
        current &&
        current.Status.State !== "running" &&
        service.UpdateStatus?.State === "updating" &&
        !fresh.includes(current)
      )
        inFlight++;
      if (current && current.Status.State === "running")
        for (const t of old) shutdown(t); // start-first: the new one runs
      else if (!current) for (const t of old) outdated.push([k, t]);
    }
    if (!outdated.length) return;
    const delayMs = (config.Delay ?? 0) / 1e6;
    // The last batch began when the newest task of this spec was made: read from the store, so
    // that a new leader keeps the delay.
    const last = Math.max(
      0,
      ...tasks.filter((t) => t.SpecVersion === service.SpecVersion).map((t) => Date.parse(t.CreatedAt)),
    );
    if (inFlight > 0 || now - last < delayMs) return;
    const batch = parallelism === 0 ? outdated : outdated.slice(0, parallelism);
    for (const [k, old] of batch) {
      if (!startFirst) shutdown(old);
      const t = newTask(
        service,
        service.Spec.Mode.Global ? undefined : old.Slot,
        service.Spec.Mode.Global ? old.NodeID : undefined,
      );
      if (service.Spec.Mode.Global)
        t.Status = { ...t.Status, State: "assigned", Message: "scheduler assigned task to node" };
      if (!startFirst) t.DesiredState = "ready";
      fresh.push(t);
      addTo(live, k, t);
    }
  }

  /**
   * Gives each new replicated task of the services in `byService` a node (or the reason it has
   * none), service by service, against the load of every node: the view's counts, the host-mode
   * ports of every service's tasks, and this pass's new tasks.
   */
  private schedule(
    nodeRecords: NodeRecord[],
    alive: Set<string>,
    byService: Map<string, TaskRecord[]>,
    services: Map<string, ServiceRecord>,
    fresh: TaskRecord[],
    clusterStrategy: Strategy | undefined,
    writes: Write[],
  ): void {
    const ports = new Map<string, Set<number>>();
    for (const s of this.view.services.values()) {
      const published = hostPorts(s);
      if (!published.length) continue;
      for (const t of this.view.tasksByService.get(s.ID)?.values() ?? []) {
        if (!occupies(t)) continue;
        const held = ports.get(t.NodeID) ?? new Set<number>();
        for (const p of published) held.add(p);
        ports.set(t.NodeID, held);
      }
    }
    const load = ClusterLoad.fromHoldings(
      nodeRecords.map((n) => schedNode(n, alive.has(n.ID))),
      this.view.holdings,
      ports,
    );
    for (const t of fresh) {
      const s = services.get(t.ServiceID);
      if (occupies(t))
        load.add(t.NodeID, {
          serviceId: t.ServiceID,
          reservations: taskReservations(t),
          hostPorts: s ? hostPorts(s) : [],
        });
    }
    const waiting: TaskRecord[] = [];
    for (const tasks of byService.values())
      for (const t of tasks) if (!t.NodeID && wanted(t) && !TERMINAL.has(t.Status.State)) waiting.push(t);
    for (const t of fresh) if (!t.NodeID) waiting.push(t);
    // Where each new task is in `fresh` (a bulk of services makes tens of thousands at once).
    const freshAt = new Map(fresh.map((t, i) => [t, i]));
    const groups = new Map<string, TaskRecord[]>();
    for (const t of waiting) addTo(groups, t.ServiceID, t);
    for (const [serviceId, list] of groups) {
      const service = services.get(serviceId);
      if (!service) continue;
      const request = placementRequest(service, clusterStrategy);
      const at = new Date().toISOString();
      const results = "reason" in request ? list.map(() => request) : placeMany(request, list.length, load);
      list.forEach((t, i) => {
        const r = results[i]!;
        const record: TaskRecord =
          "nodeId" in r
            ? {
                ...t,
                NodeID: r.nodeId,
                Status: {
                  ...t.Status,
                  Timestamp: at,
                  State: "assigned",
                  Message: "scheduler assigned task to node",
                },
              }
            : {
                ...t,
                Status: {
                  ...t.Status,
                  Timestamp: at,
                  State: "pending",
                  Message: "pending task scheduling",
                  Err: r.reason,
                },
              };
        if ("nodeId" in r) delete record.Status.Err;
        const index = freshAt.get(t);
        if (index !== undefined) fresh[index] = record;
        else if (
          record.Status.State !== t.Status.State ||
          record.Status.Err !== t.Status.Err ||
          record.NodeID
        )
          writes.push({ kind: "tasks", record });
      });
    }
  }
}

/** The service record an update's verdict leads to, if it changes. */
function settleUpdate(service: ServiceRecord, verdict: UpdateVerdict): ServiceRecord | undefined {
  const status = service.UpdateStatus!;
  const back = rollingBack(service);
  if (verdict.kind === "going") return undefined;
  if (verdict.kind === "completed") {
    return {
      ...service,
      UpdateStatus: {
        ...status,
        State: back ? "rollback_completed" : "completed",
        CompletedAt: new Date().toISOString(),
        Message: back ? "rollback completed" : "update completed",
      },
    };
  }
  const cause = `due to failure or early termination of task ${verdict.taskId}`;
  if (verdict.action === "rollback" && !back && service.PreviousSpec)
    return respec(service, service.PreviousSpec, true, `update rolled back ${cause}`);
  return {
    ...service,
    UpdateStatus: {
      ...status,
      State: back ? "rollback_paused" : "paused",
      Message: `${back ? "rollback" : "update"} paused ${cause}`,
    },
  };
}

/** Adds `item` to the list at `key` (in place: a list grown by copies costs its length squared). */
function addTo<K, V>(lists: Map<K, V[]>, key: K, item: V): void {
  const list = lists.get(key);
  if (list) list.push(item);
  else lists.set(key, [item]);
}

function safeConstraints(service: ServiceRecord) {
  try {
    return parseConstraints(service.Spec.TaskTemplate.Placement?.Constraints ?? []);
  } catch {
    return [];
  }
}

/** What the scheduler needs of a service; a service whose placement cannot parse gets a reason. */
export function placementRequest(
  service: ServiceRecord,
  clusterStrategy?: Strategy,
): PlacementRequest | { reason: string } {
  const p = service.Spec.TaskTemplate.Placement ?? {};
  try {
    const label = service.Spec.Labels?.[STRATEGY_LABEL];
    return {
      serviceId: service.ID,
      constraints: parseConstraints(p.Constraints ?? []),
      spreadPreferences: (p.Preferences ?? [])
        .map((x) => x.Spread?.SpreadDescriptor)
        .filter((d): d is string => !!d && /^(node|engine)\.labels\./i.test(d))
        .map((d) => parsePlacementPreference(`spread=${d}`)),
      maxReplicasPerNode: p.MaxReplicas ?? 0,
      reservations: taskReservations({ Spec: service.Spec.TaskTemplate }),
      hostPorts: hostPorts(service),
      strategy: ((label as Strategy) || clusterStrategy || "spread") as Strategy,
    };
  } catch (err) {
    return { reason: errorText(err) };
  }
}
