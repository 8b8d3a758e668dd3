/**
 * The node agent: the tasks the scheduler gave this node become containers of the node's runtime
 * (./engine-runtime.ts: the same engine single-host users have, driven in-process; or a hollow
 * node's stand-in, ./hollow.ts), and what happens to those containers goes back into the tasks'
 * status. It reconciles on changes of its own tasks (./node-tasks.ts) and at intervals, so a
 * daemon restart, a missed event or a store outage only delays it.
 */
import { errorText } from "../errors.js";
import type { TaskContainer, TaskRuntime } from "./engine-runtime.js";
import { taskSigned } from "./integrity.js";
import type { NodeReports } from "./node-reports.js";
import type { NodeTaskFeed } from "./node-tasks.js";
import type { ClusterStore } from "./store.js";
import { type ServiceRecord, type TaskRecord, type TaskState, TERMINAL } from "./types.js";

export { containerBody, TASK_LABEL } from "./engine-runtime.js";

const RESYNC_MS = 2000;
const COALESCE_MS = 20;

export class NodeAgent {
  private stopFeed: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Tasks being started or stopped now: a reconcile leaves them to the call in progress. */
  private readonly working = new Set<string>();
  private pass: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;
  /** Services being read for tasks being launched: a service's tasks that come together read it once. */
  private readonly services = new Map<string, Promise<ServiceRecord | undefined>>();

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly store: ClusterStore,
    /** Where its tasks' states go: the store, or a manager (a worker's). */
    private readonly reports: NodeReports,
    /** The tasks of each node, kept from a watch (shared by the agents of one process). */
    private readonly feed: NodeTaskFeed,
    private readonly nodeId: string,
    private readonly log: (message: string) => void,
    /** The cluster's CA certificate: a task runs only if the leader's signature checks against it. */
    private readonly caCert: () => string,
    /** A task's container starts or stops serving (its overlay endpoints behind its VIPs). */
    private readonly serving: (containerId: string, serving: boolean) => void = () => {},
  ) {}

  async start(): Promise<void> {
    this.stopped = false;
    // Changes of its own tasks (a removal too: its container goes).
    const stopFeed = await this.feed.subscribe(this.nodeId, () => this.kick());
    if (this.stopped) return stopFeed();
    this.stopFeed = stopFeed;
    this.timer = setInterval(() => this.kick(), RESYNC_MS);
    // A task's container that stops on its own (or by a user's hand) ends the task.
    this.unsubscribe = this.runtime.subscribe(() => this.kick());
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopFeed?.();
    this.stopFeed = undefined;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.pass;
  }

  /** A pass soon; changes that come together (a service's tasks) are taken in one pass. */
  private kick(): void {
    if (this.stopped) return;
    if (this.again) return;
    this.again = true;
    this.pass = this.pass.then(async () => {
      await new Promise((r) => setTimeout(r, COALESCE_MS));
      this.again = false;
      try {
        await this.reconcile();
      } catch (err) {
        this.log(`swarm agent: ${errorText(err)}`);
      }
    });
  }

  async reconcile(): Promise<void> {
    const tasks = await this.feed.tasksOf(this.nodeId);
    const containers = this.runtime.containers();
    const known = new Set(tasks.map((t) => t.ID));
    for (const task of tasks) {
      // "ready": the task it replaces is still stopping; the leader says when to start.
      if (this.working.has(task.ID) || task.DesiredState === "ready") continue;
      const container = containers.get(task.ID);
      if (task.DesiredState === "running" && !TERMINAL.has(task.Status.State)) {
        if (!container) {
          if (["assigned", "accepted", "preparing", "starting"].includes(task.Status.State))
            this.launch(task);
          else if (task.Status.State === "running")
            await this.report(task, "failed", "task: container is gone", -1);
        } else if (!container.running) {
          const code = container.exitCode;
          await this.report(
            task,
            code === 0 ? "complete" : "failed",
            code === 0 ? "finished" : `task: non-zero exit (${code})`,
            code,
          );
        } else if (task.Status.State !== "running" && healthy(container)) {
          await this.setStatus(task, "running", "started", {
            ContainerID: container.id,
            PID: container.pid,
            ExitCode: 0,
          });
        } else if (container.health === "unhealthy") {
          this.halt(task, container, "failed", "task: container is unhealthy");
        }
      } else if (task.DesiredState !== "running" && container?.running) {
        this.halt(task, container, "shutdown", "shutdown");
      } else if (task.DesiredState !== "running" && !TERMINAL.has(task.Status.State)) {
        await this.setStatus(task, "shutdown", "shutdown");
      }
    }
    // What tasks whose container is gone still hold (a crash between its removal and theirs).
    await this.runtime.collect(new Set([...containers.keys(), ...this.working]));
    // Containers of tasks the store no longer has (history trimmed, service removed): gone.
    for (const [taskId, c] of containers)
      if (!known.has(taskId) && !this.working.has(taskId)) await this.remove(c);
  }

  private launch(task: TaskRecord): void {
    this.working.add(task.ID);
    void (async () => {
      try {
        const service =
          this.feed.service(task.ServiceID, task.SpecVersion) ?? (await this.service(task.ServiceID));
        if (!service) return;
        if (!taskSigned(this.caCert(), task))
          throw new Error(
            "the task's signature does not check against the cluster's CA: not written by its leader",
          );
        const image = task.Spec.ContainerSpec.Image;
        let latest: TaskRecord | undefined = task;
        if (!this.runtime.hasImage(image)) {
          await this.setStatus(task, "preparing", "preparing");
          await this.runtime.pull(image);
          // A pull takes long: the task may have been stopped or moved meanwhile.
          latest = await this.store.get<TaskRecord>("tasks", task.ID);
        }
        if (latest?.DesiredState !== "running") return;
        // Any node's certificate can write the store: only what the leader signed runs here
        // (the task read again after a pull is checked again).
        if ((latest !== task && !taskSigned(this.caCert(), latest)) || latest.NodeID !== this.nodeId)
          throw new Error(
            "the task's signature does not check against the cluster's CA: not written by its leader",
          );
        // Not waited for: the container starts while the state goes to a manager (a worker's
        // round trip, behind its other reports). Whether it was written changes nothing here;
        // "running" below is written from the task read after it, or by the next pass.
        const starting = this.setStatus(latest, "starting", "starting").catch((err) =>
          this.log(`swarm agent: task ${task.ID}: ${errorText(err)}`),
        );
        const c = await this.runtime.run(latest, service);
        await starting;
        await this.reportStarted(task.ID, c);
      } catch (err) {
        const now = await this.store.get<TaskRecord>("tasks", task.ID).catch(() => undefined);
        if (now) await this.setStatus(now, "rejected", "error", undefined, errorText(err)).catch(() => {});
      } finally {
        this.working.delete(task.ID);
        this.kick();
      }
    })();
  }

  /**
   * The task's container runs: its state said so. A failure to say it (a store or manager slow
   * to answer under load) is not the task's: the next pass reports it running. Rejecting it
   * instead had the leader replace a task whose container still ran — one task more than desired
   * until this node saw the replacement (1,763 of 30,000 tasks at 3,000 hollow nodes).
   */
  private async reportStarted(taskId: string, c: TaskContainer): Promise<void> {
    try {
      const now = await this.store.get<TaskRecord>("tasks", taskId);
      if (now && healthy(c))
        await this.setStatus(now, "running", "started", { ContainerID: c.id, PID: c.pid, ExitCode: 0 });
    } catch (err) {
      this.log(`swarm agent: task ${taskId} runs; its state is said at the next pass: ${errorText(err)}`);
    }
  }

  /** A service, read once for the launches that ask for it at the same time. */
  private service(id: string): Promise<ServiceRecord | undefined> {
    let reading = this.services.get(id);
    if (!reading) {
      reading = this.store.get<ServiceRecord>("services", id).finally(() => this.services.delete(id));
      this.services.set(id, reading);
    }
    return reading;
  }

  private halt(task: TaskRecord, c: TaskContainer, state: TaskState, message: string): void {
    this.working.add(task.ID);
    void (async () => {
      try {
        const grace = task.Spec.ContainerSpec.StopGracePeriod;
        const stopped = await this.runtime.stop(c, grace !== undefined ? Math.round(grace / 1e9) : 10);
        const now = await this.store.get<TaskRecord>("tasks", task.ID);
        if (now)
          await this.setStatus(now, state, message, {
            ContainerID: c.id,
            PID: 0,
            ExitCode: stopped.exitCode,
          });
        this.working.delete(task.ID);
        this.kick();
      } catch (err) {
        // Tried again at the next resync, not at once: a stop that fails (a full disk) would
        // otherwise be retried as fast as the loop turns, flooding the log.
        this.working.delete(task.ID);
        this.log(`swarm agent: stopping task ${task.ID}: ${errorText(err)}`);
      }
    })();
  }

  private async remove(c: TaskContainer): Promise<void> {
    await this.runtime
      .remove(c)
      .catch((err) => this.log(`swarm agent: removing ${c.name}: ${errorText(err)}`));
  }

  private async report(task: TaskRecord, state: TaskState, message: string, exitCode: number): Promise<void> {
    await this.setStatus(
      task,
      state,
      message,
      { ...task.Status.ContainerStatus!, PID: 0, ExitCode: exitCode },
      state === "failed" ? message : undefined,
    );
  }

  /** Writes a task's status if the task did not change meanwhile (the next pass tries again). */
  private async setStatus(
    task: TaskRecord,
    state: TaskState,
    message: string,
    containerStatus?: TaskRecord["Status"]["ContainerStatus"],
    err?: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    const updated: TaskRecord = {
      ...task,
      UpdatedAt: now,
      ...(state === "running" && !task.RunningSince ? { RunningSince: now } : {}),
      Status: {
        ...task.Status,
        Timestamp: now,
        State: state,
        Message: message,
        ...(containerStatus ? { ContainerStatus: containerStatus } : {}),
      },
    };
    if (err) updated.Status.Err = err;
    else delete updated.Status.Err;
    await this.reports.taskStatus(updated);
    const container = updated.Status.ContainerStatus?.ContainerID;
    if (container) this.serving(container, state === "running");
  }

  /** `swarm leave`: every task container of this node goes. */
  async removeAll(): Promise<void> {
    await this.stop();
    for (const c of this.runtime.containers().values()) await this.remove(c);
  }
}

function healthy(c: TaskContainer): boolean {
  return !c.health || c.health === "healthy";
}
