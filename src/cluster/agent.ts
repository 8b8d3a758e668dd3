/**
 * The node agent: the tasks the scheduler gave this node become containers of the local engine
 * (the same engine single-host users have, driven in-process), and what happens to those
 * containers goes back into the tasks' status. It reconciles from a watch and at intervals, so
 * a daemon restart, a missed event or a store outage only delays it.
 */
import { join } from "node:path";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import { startContainer } from "../engine/container-start.js";
import { stopContainer } from "../engine/container-stop.js";
import type { ContainerRecord, CreateBody, HostConfig } from "../engine/docker-types.js";
import type { Engine } from "../engine/engine.js";
import { errorText } from "../errors.js";
import { isClusterId } from "./ids.js";
import { taskSigned } from "./integrity.js";
import type { NodeReports } from "./node-reports.js";
import { leftovers, materialize, release, type TaskFile } from "./secrets.js";
import type { ClusterStore } from "./store.js";
import { type PortConfig, type ServiceRecord, type TaskRecord, type TaskState, TERMINAL } from "./types.js";

export const TASK_LABEL = "com.docker.swarm.task.id";
const RESYNC_MS = 2000;
const COALESCE_MS = 20;

/** The container a task runs as: docker's name (service.slot.task) and labels. */
export function containerBody(
  task: TaskRecord,
  serviceName: string,
  ports: PortConfig[] = [],
): { name: string; body: CreateBody } {
  const c = task.Spec.ContainerSpec;
  // Ports published in host mode: on the node that runs the task, as `run -p` would.
  const hostPorts = ports.filter((p) => p.PublishMode === "host");
  const portKey = (p: PortConfig) => `${p.TargetPort}/${p.Protocol ?? "tcp"}`;
  const networks = task.Spec.Networks ?? [];
  const limits = task.Spec.Resources?.Limits ?? {};
  const slot = task.Slot ?? task.NodeID;
  const hostConfig: Partial<HostConfig> = {
    ...(limits.MemoryBytes ? { Memory: limits.MemoryBytes } : {}),
    ...(limits.NanoCPUs ? { NanoCpus: limits.NanoCPUs } : {}),
    ...(limits.Pids ? { PidsLimit: limits.Pids } : {}),
    ...(c.Init !== undefined ? { Init: c.Init } : {}),
    ...(c.ReadOnly ? { ReadonlyRootfs: true } : {}),
    Mounts: (c.Mounts ?? []).map((m) => ({
      Type: m.Type,
      Source: m.Source ?? "",
      Target: m.Target,
      ReadOnly: m.ReadOnly ?? false,
    })) as HostConfig["Mounts"],
  };
  return {
    name: `${serviceName}.${slot}.${task.ID}`,
    body: {
      Image: c.Image,
      ...(c.Command?.length ? { Entrypoint: c.Command } : {}),
      ...(c.Args?.length ? { Cmd: c.Args } : {}),
      Env: c.Env ?? [],
      ...(c.Dir ? { WorkingDir: c.Dir } : {}),
      ...(c.User ? { User: c.User } : {}),
      ...(c.Hostname ? { Hostname: c.Hostname } : {}),
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
      ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
      Tty: c.TTY ?? false,
      OpenStdin: c.OpenStdin ?? false,
      Labels: {
        ...(c.Labels ?? {}),
        "com.docker.swarm.service.id": task.ServiceID,
        "com.docker.swarm.service.name": serviceName,
        "com.docker.swarm.task": "",
        [TASK_LABEL]: task.ID,
        "com.docker.swarm.task.name": `${serviceName}.${slot}.${task.ID}`,
        "com.docker.swarm.node.id": task.NodeID ?? "",
      },
      ...(hostPorts.length
        ? { ExposedPorts: Object.fromEntries(hostPorts.map((p) => [portKey(p), {}])) }
        : {}),
      HostConfig: {
        ...hostConfig,
        ...(networks.length ? { NetworkMode: networks[0]!.Target } : {}),
        ...(hostPorts.length
          ? {
              PortBindings: Object.fromEntries(
                hostPorts.map((p) => [
                  portKey(p),
                  [{ HostIp: "", HostPort: p.PublishedPort ? String(p.PublishedPort) : "" }],
                ]),
              ),
            }
          : {}),
      },
      ...(networks.length
        ? {
            NetworkingConfig: {
              EndpointsConfig: Object.fromEntries(
                networks.map((n) => [n.Target, { Aliases: [...(n.Aliases ?? [])] }]),
              ),
            },
          }
        : {}),
    },
  };
}

export class NodeAgent {
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Tasks being started or stopped now: a reconcile leaves them to the call in progress. */
  private readonly working = new Set<string>();
  private readonly pulls = new Map<string, Promise<unknown>>();
  private pass: Promise<void> = Promise.resolve();
  private again = false;
  private stopped = false;

  /** Where tasks' secrets and configs are mounted (a tmpfs each). */
  private readonly filesRoot: string;

  constructor(
    private readonly engine: Engine,
    private readonly store: ClusterStore,
    /** Where its tasks' states go: the store, or a manager (a worker's). */
    private readonly reports: NodeReports,
    private readonly nodeId: string,
    private readonly log: (message: string) => void,
    /** A task's secrets and configs, from a manager. */
    private readonly fetchFiles: (taskId: string) => Promise<TaskFile[]>,
    /** The cluster's CA certificate: a task runs only if the leader's signature checks against it. */
    private readonly caCert: () => string,
    /** A task's container starts or stops serving (its overlay endpoints behind its VIPs). */
    private readonly serving: (containerId: string, serving: boolean) => void = () => {},
  ) {
    this.filesRoot = join(engine.options.runRoot, "swarm-files");
  }

  start(): void {
    this.stopped = false;
    // Its own tasks' changes, and removals (which may be of one).
    this.stopWatch = this.store.watchTasks((changes) => {
      if (changes.some((c) => c.removed || !c.task || c.task.NodeID === this.nodeId)) this.kick();
    });
    this.timer = setInterval(() => this.kick(), RESYNC_MS);
    // A task's container that stops on its own (or by a user's hand) ends the task.
    this.unsubscribe = this.engine.events.subscribe((e) => {
      if (e.Type === "container" && e.Action === "die" && e.Actor.Attributes[TASK_LABEL]) this.kick();
      if (e.Type === "container" && e.Action.startsWith("health_status") && e.Actor.Attributes[TASK_LABEL])
        this.kick();
    });
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopWatch?.();
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

  private taskContainers(): Map<string, ContainerRecord> {
    const out = new Map<string, ContainerRecord>();
    for (const c of this.engine.store.all()) {
      const task = c.Config.Labels?.[TASK_LABEL];
      if (isClusterId(task)) out.set(task, c);
    }
    return out;
  }

  async reconcile(): Promise<void> {
    const tasks = (await this.store.list<TaskRecord>("tasks")).filter((t) => t.NodeID === this.nodeId);
    const containers = this.taskContainers();
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
        } else if (!container.State.Running) {
          const code = container.State.ExitCode;
          await this.report(
            task,
            code === 0 ? "complete" : "failed",
            code === 0 ? "finished" : `task: non-zero exit (${code})`,
            code,
          );
        } else if (task.Status.State !== "running" && this.healthy(container)) {
          await this.setStatus(task, "running", "started", {
            ContainerID: container.Id,
            PID: container.State.Pid,
            ExitCode: 0,
          });
        } else if (container.State.Health?.Status === "unhealthy") {
          this.halt(task, container, "failed", "task: container is unhealthy");
        }
      } else if (task.DesiredState !== "running" && container?.State.Running) {
        this.halt(task, container, "shutdown", "shutdown");
      } else if (task.DesiredState !== "running" && !TERMINAL.has(task.Status.State)) {
        await this.setStatus(task, "shutdown", "shutdown");
      }
    }
    // Secrets of tasks whose container is gone (a crash between its removal and theirs).
    for (const taskId of leftovers(this.filesRoot, new Set([...containers.keys(), ...this.working])))
      await release(this.filesRoot, taskId).catch(() => {});
    // Containers of tasks the store no longer has (history trimmed, service removed): gone.
    for (const [taskId, c] of containers)
      if (!known.has(taskId) && !this.working.has(taskId)) await this.remove(c);
  }

  private healthy(c: ContainerRecord): boolean {
    return !c.State.Health || c.State.Health.Status === "healthy";
  }

  private launch(task: TaskRecord): void {
    this.working.add(task.ID);
    void (async () => {
      try {
        const service = await this.store.get<ServiceRecord>("services", task.ServiceID);
        if (!service) return;
        if (!taskSigned(this.caCert(), task))
          throw new Error(
            "the task's signature does not check against the cluster's CA: not written by its leader",
          );
        const image = task.Spec.ContainerSpec.Image;
        if (!this.hasImage(image)) {
          await this.setStatus(task, "preparing", "preparing");
          await this.pull(image);
        }
        const latest = await this.store.get<TaskRecord>("tasks", task.ID);
        if (latest?.DesiredState !== "running") return;
        // Any node's certificate can write the store: only what the leader signed runs here.
        if (!taskSigned(this.caCert(), latest) || latest.NodeID !== this.nodeId)
          throw new Error(
            "the task's signature does not check against the cluster's CA: not written by its leader",
          );
        await this.setStatus(latest, "starting", "starting");
        const { name, body } = containerBody(latest, service.Spec.Name, service.Spec.EndpointSpec?.Ports);
        const refs = [
          ...(latest.Spec.ContainerSpec.Secrets ?? []),
          ...(latest.Spec.ContainerSpec.Configs ?? []),
        ];
        if (refs.length) {
          const binds = await materialize(this.filesRoot, latest.ID, await this.fetchFiles(latest.ID));
          body.HostConfig = { ...body.HostConfig, Mounts: [...(body.HostConfig?.Mounts ?? []), ...binds] };
        }
        const { Id } = await createContainer(this.engine, body, name).catch(async (err) => {
          await release(this.filesRoot, latest.ID);
          throw err;
        });
        const record = this.engine.store.get(Id);
        await this.engine.lock(Id, () => startContainer(this.engine, record));
        const now = await this.store.get<TaskRecord>("tasks", task.ID);
        if (now && this.healthy(record))
          await this.setStatus(now, "running", "started", {
            ContainerID: Id,
            PID: record.State.Pid,
            ExitCode: 0,
          });
      } catch (err) {
        const now = await this.store.get<TaskRecord>("tasks", task.ID).catch(() => undefined);
        if (now) await this.setStatus(now, "rejected", "error", undefined, errorText(err)).catch(() => {});
      } finally {
        this.working.delete(task.ID);
        this.kick();
      }
    })();
  }

  private hasImage(image: string): boolean {
    try {
      this.engine.images.resolve(image);
      return true;
    } catch {
      return false;
    }
  }

  /** One pull per image at a time: the node's tasks of a service all wait for the same one. */
  private pull(image: string): Promise<unknown> {
    let pulling = this.pulls.get(image);
    if (!pulling) {
      pulling = this.engine.images.pull(image).finally(() => this.pulls.delete(image));
      this.pulls.set(image, pulling);
    }
    return pulling;
  }

  private halt(task: TaskRecord, c: ContainerRecord, state: TaskState, message: string): void {
    this.working.add(task.ID);
    void (async () => {
      try {
        const grace = task.Spec.ContainerSpec.StopGracePeriod;
        await this.engine.lock(c.Id, () =>
          stopContainer(this.engine, c, grace !== undefined ? Math.round(grace / 1e9) : 10),
        );
        const now = await this.store.get<TaskRecord>("tasks", task.ID);
        if (now)
          await this.setStatus(now, state, message, {
            ContainerID: c.Id,
            PID: 0,
            ExitCode: c.State.ExitCode,
          });
      } catch (err) {
        this.log(`swarm agent: stopping task ${task.ID}: ${errorText(err)}`);
      } finally {
        this.working.delete(task.ID);
        this.kick();
      }
    })();
  }

  private async remove(c: ContainerRecord): Promise<void> {
    await this.engine
      .lock(c.Id, () => removeContainer(this.engine, c, { force: true, volumes: true }))
      .then(() => release(this.filesRoot, c.Config.Labels![TASK_LABEL]!))
      .catch((err) => this.log(`swarm agent: removing ${c.Name}: ${errorText(err)}`));
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
    for (const c of this.taskContainers().values()) await this.remove(c);
  }
}
