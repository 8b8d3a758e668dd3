/**
 * What a node writes about itself: its tasks' states, its description, its overlay endpoints and
 * the addresses it takes for its containers. A manager writes them to the store itself; a worker,
 * whose store login reads but does not write (store-access.ts), hands them to a manager, which
 * writes only what is the worker's own: a task placed on it, its own node record, an endpoint of
 * an address it holds, an address under its own name. A worker that lies about another node's
 * task or endpoint is refused, so one taken-over worker cannot stop, starve or hijack the rest.
 */
import { BerthError, InvalidArgument, NotFound } from "../errors.js";
import { takeFreeAddress } from "./overlays.js";
import { type ItemAnswer, ReportQueue } from "./report-queue.js";
import type { ClusterStore } from "./store.js";
import { KEYS } from "./store.js";
import {
  type EndpointRecord,
  type NodeRecord,
  type OverlayRecord,
  type TaskRecord,
  type TaskState,
  TERMINAL,
} from "./types.js";

/** A worker spoke of what is not its own: nothing was written. */
export class ReportRefused extends BerthError {
  constructor(message: string) {
    super("forbidden", message);
  }
}

/** What a node says of itself (its own description and addresses). */
export type NodeDescription = Pick<NodeRecord, "Description" | "Addr" | "PeerPort">;

export interface NodeReports {
  /** Writes a task's new status if the task is still at the version read; false if it changed. */
  taskStatus(task: TaskRecord): Promise<boolean>;
  describe(nodeId: string, description: NodeDescription): Promise<void>;
  /** Publishes an endpoint of this node, on its lease (it goes with the node). */
  publishEndpoint(e: EndpointRecord, lease: string): Promise<void>;
  withdrawEndpoint(networkId: string, ip: string): Promise<void>;
  /** An address on an overlay for `owner` (`<node>:<container>`): the one asked for, or a free one. */
  allocate(network: OverlayRecord, owner: string, requested?: string): Promise<string>;
  release(networkId: string, ip: string, owner: string): Promise<void>;
}

/** A manager's reports: straight to the store. */
export class StoreReports implements NodeReports {
  constructor(private readonly store: ClusterStore) {}

  taskStatus(task: TaskRecord): Promise<boolean> {
    // With the other task states written meanwhile (this node's, and workers' through it).
    return this.store.updateGrouped("tasks", task);
  }

  async describe(nodeId: string, d: NodeDescription): Promise<void> {
    const me = await this.store.get<NodeRecord>("nodes", nodeId);
    if (!me) throw new NotFound(`node ${nodeId} is not in the swarm`);
    if (
      JSON.stringify(d.Description) === JSON.stringify(me.Description) &&
      me.Addr === d.Addr &&
      me.PeerPort === d.PeerPort
    )
      return;
    await this.store.update("nodes", { ...me, ...d, UpdatedAt: new Date().toISOString() });
  }

  publishEndpoint(e: EndpointRecord, lease: string): Promise<void> {
    return this.store.publishEndpoint(e, lease);
  }

  withdrawEndpoint(networkId: string, ip: string): Promise<void> {
    return this.store.withdrawEndpoint(networkId, ip);
  }

  allocate(network: OverlayRecord, owner: string, requested?: string): Promise<string> {
    return takeFreeAddress(this.store, network, owner, requested);
  }

  release(networkId: string, ip: string, owner: string): Promise<void> {
    return this.store.releaseAddress(networkId, ip, owner);
  }
}

/** How a worker's reports reach a manager: a call of the peer API (mutual TLS). */
export type AskManager = <T>(path: string, body: unknown) => Promise<T>;

/**
 * A worker's reports: checked and written by a manager, those made at about the same time in one
 * call (./report-queue.ts).
 */
export class ManagerReports implements NodeReports {
  private readonly queue: ReportQueue;

  constructor(ask: AskManager) {
    this.queue = new ReportQueue(
      async (reports) => (await ask<{ answers: ItemAnswer[] }>(REPORT_PATHS.batch, { reports })).answers,
    );
  }

  async taskStatus(task: TaskRecord): Promise<boolean> {
    const { ID, Version, Status, UpdatedAt, RunningSince } = task;
    const body: StatusReport = { ID, Version, Status, UpdatedAt, ...(RunningSince ? { RunningSince } : {}) };
    // A later status of the task replaces one still waiting, unless it is older (see ReportQueue).
    const supersede = {
      key: ID,
      order: Version.Index * STATE_RANKS + stateRank(Status.State),
      displaced: { written: false },
    };
    return (await this.queue.report<{ written: boolean }>(REPORT_PATHS.status, body, supersede)).written;
  }

  async describe(_nodeId: string, d: NodeDescription): Promise<void> {
    await this.queue.report(REPORT_PATHS.describe, d);
  }

  async publishEndpoint(e: EndpointRecord): Promise<void> {
    await this.queue.report(REPORT_PATHS.publish, e);
  }

  async withdrawEndpoint(networkId: string, ip: string): Promise<void> {
    await this.queue.report(REPORT_PATHS.withdraw, { networkId, ip });
  }

  async allocate(network: OverlayRecord, owner: string, requested?: string): Promise<string> {
    const body = { networkId: network.ID, owner, ...(requested ? { requested } : {}) };
    return (await this.queue.report<{ ip: string }>(REPORT_PATHS.allocate, body)).ip;
  }

  async release(networkId: string, ip: string, owner: string): Promise<void> {
    await this.queue.report(REPORT_PATHS.release, { networkId, ip, owner });
  }
}

/** The peer API's paths for reports. */
export const REPORT_PATHS = {
  status: "/reports/task-status",
  describe: "/reports/describe",
  publish: "/reports/endpoint",
  withdraw: "/reports/endpoint-withdrawn",
  allocate: "/reports/address",
  release: "/reports/address-released",
  /** Many of the above in one call (./report-batch.ts). */
  batch: "/reports/batch",
} as const;

/** What of a task a worker may change: its status, nothing the leader signed or decided. */
type StatusReport = Pick<TaskRecord, "ID" | "Version" | "Status" | "UpdatedAt" | "RunningSince">;

const STATES: ReadonlySet<string> = new Set<TaskState>([
  "assigned",
  "accepted",
  "preparing",
  "starting",
  "running",
  "complete",
  "shutdown",
  "failed",
  "rejected",
]);

/** A task's life, in order; every state that ends it comes after all of these. */
const LIFE: readonly TaskState[] = [
  "new",
  "pending",
  "assigned",
  "accepted",
  "preparing",
  "starting",
  "running",
];
const STATE_RANKS = LIFE.length + 1;

/** How far on a state is in a task's life (the states that end it are all last). */
function stateRank(state: TaskState): number {
  return TERMINAL.has(state) ? LIFE.length : Math.max(0, LIFE.indexOf(state));
}

/**
 * A task's status as a worker reports it, checked against the task as the store has it: the
 * record to write, or undefined when there is nothing to write (the task is gone, or the report
 * would take it back to an earlier state: it is late). Refused if the task is not the caller's.
 */
export function checkedStatus(
  task: TaskRecord | undefined,
  caller: string,
  b: Record<string, unknown>,
): TaskRecord | undefined {
  if (!task) return undefined;
  if (task.NodeID !== caller) throw new ReportRefused(`task ${task.ID} is not on node ${caller}`);
  const status = b.Status as TaskRecord["Status"] | undefined;
  if (!status || typeof status !== "object" || !STATES.has(status.State))
    throw new InvalidArgument("a task status report names a task state");
  const version = (b.Version as { Index?: unknown } | undefined)?.Index;
  if (typeof version !== "number") throw new InvalidArgument("a task status report names the version read");
  const updated: TaskRecord = {
    ...task,
    Version: { Index: version },
    UpdatedAt: text(b.UpdatedAt, "UpdatedAt"),
    Status: {
      Timestamp: text(status.Timestamp, "Status.Timestamp"),
      State: status.State,
      Message: typeof status.Message === "string" ? status.Message : "",
      ...(typeof status.Err === "string" ? { Err: status.Err } : {}),
      ...(status.ContainerStatus ? { ContainerStatus: containerStatus(status.ContainerStatus) } : {}),
      PortStatus: task.Status.PortStatus,
    },
  };
  if (typeof b.RunningSince === "string") updated.RunningSince = b.RunningSince;
  if (stateRank(status.State) < stateRank(task.Status.State)) return undefined;
  return updated;
}

/** The task a status report names (checked before anything is read). */
export function reportedTask(b: Record<string, unknown>): string {
  return text(b.ID, "ID");
}

/**
 * A manager's side of a worker's report: checked against what the store says is the worker's,
 * then written. `caller` is the node its certificate names. Returns the answer to send.
 */
export async function acceptReport(
  store: ClusterStore,
  caller: string,
  path: string,
  body: unknown,
): Promise<unknown> {
  const direct = new StoreReports(store);
  const b = (body ?? {}) as Record<string, unknown>;
  switch (path) {
    case REPORT_PATHS.status: {
      const updated = checkedStatus(await store.get<TaskRecord>("tasks", reportedTask(b)), caller, b);
      return { written: updated ? await direct.taskStatus(updated) : false };
    }
    case REPORT_PATHS.describe: {
      const d = b as unknown as NodeDescription;
      if (!d.Description || typeof d.Description !== "object" || typeof d.Addr !== "string")
        throw new InvalidArgument("a node description names the node's description and address");
      await direct.describe(caller, {
        Description: d.Description,
        Addr: d.Addr,
        ...(typeof d.PeerPort === "string" ? { PeerPort: d.PeerPort } : {}),
      });
      return {};
    }
    case REPORT_PATHS.publish: {
      const e = b as unknown as EndpointRecord;
      const networkId = text(e.NetworkID, "NetworkID");
      const ip = text(e.IP, "IP");
      if (e.NodeID !== caller)
        throw new ReportRefused(`an endpoint of node ${caller} names node ${e.NodeID}`);
      await mustHold(store, caller, networkId, ip);
      // On the worker's own lease: its endpoints go when it does.
      const lease = (await store.etcd.get(KEYS.alive + caller))?.lease;
      if (!lease || lease === "0") throw new ReportRefused(`node ${caller} is not alive`);
      const node = await store.get<NodeRecord>("nodes", caller);
      await direct.publishEndpoint({ ...e, NodeAddr: node?.Addr ?? e.NodeAddr }, lease);
      return {};
    }
    case REPORT_PATHS.withdraw: {
      const networkId = text(b.networkId, "networkId");
      const ip = text(b.ip, "ip");
      const current = await store.endpoint(networkId, ip);
      if (current && current.NodeID !== caller)
        throw new ReportRefused(`the endpoint ${ip} is node ${current.NodeID}'s, not node ${caller}'s`);
      if (current) await direct.withdrawEndpoint(networkId, ip);
      return {};
    }
    case REPORT_PATHS.allocate: {
      const owner = ownOwner(caller, b.owner);
      const network = await store.get<OverlayRecord>("networks", text(b.networkId, "networkId"));
      if (!network) throw new NotFound(`network ${String(b.networkId)} is not in the swarm any more`);
      const requested = b.requested === undefined ? undefined : text(b.requested, "requested");
      return { ip: await direct.allocate(network, owner, requested) };
    }
    case REPORT_PATHS.release: {
      await direct.release(text(b.networkId, "networkId"), text(b.ip, "ip"), ownOwner(caller, b.owner));
      return {};
    }
    default:
      throw new NotFound(`${path}: no such report`);
  }
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || !value || value.length > 1024)
    throw new InvalidArgument(`a report's ${field} must be a non-empty string`);
  return value;
}

function containerStatus(c: unknown): { ContainerID: string; PID: number; ExitCode: number } {
  const s = c as { ContainerID?: unknown; PID?: unknown; ExitCode?: unknown };
  return {
    ContainerID: text(s.ContainerID, "ContainerStatus.ContainerID"),
    PID: typeof s.PID === "number" ? s.PID : 0,
    ExitCode: typeof s.ExitCode === "number" ? s.ExitCode : 0,
  };
}

/** An address owner a worker may name: one of its own containers. */
function ownOwner(caller: string, owner: unknown): string {
  const o = text(owner, "owner");
  if (!o.startsWith(`${caller}:`))
    throw new ReportRefused(`node ${caller} may take addresses only for itself`);
  return o;
}

/** The worker holds the address it publishes an endpoint for. */
async function mustHold(store: ClusterStore, caller: string, networkId: string, ip: string): Promise<void> {
  const owner = await store.addressOwner(networkId, ip);
  if (!owner?.startsWith(`${caller}:`))
    throw new ReportRefused(`node ${caller} does not hold address ${ip} on network ${networkId}`);
}
