/**
 * What a node agent asks of the node it runs on, behind one interface: a real node's engine
 * (this module: containers made, started, stopped and removed in-process, secrets on a tmpfs)
 * or a hollow node's stand-in (./hollow.ts), which keeps the same agent code up to this seam.
 */
import { join } from "node:path";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import { startContainer } from "../engine/container-start.js";
import { stopContainer } from "../engine/container-stop.js";
import type { ContainerRecord, CreateBody, HostConfig } from "../engine/docker-types.js";
import type { Engine } from "../engine/engine.js";
import { isClusterId } from "./ids.js";
import { leftovers, materialize, release, type TaskFile } from "./secrets.js";
import type { PortConfig, ServiceRecord, TaskRecord } from "./types.js";

export const TASK_LABEL = "com.docker.swarm.task.id";

/** A task's container as the agent sees it. */
export interface TaskContainer {
  id: string;
  name: string;
  taskId: string;
  running: boolean;
  exitCode: number;
  pid: number;
  /** The healthcheck's verdict, when the image or service has one. */
  health?: string | undefined;
}

export interface TaskRuntime {
  /** The containers of tasks on this node, by task id. */
  containers(): Map<string, TaskContainer>;
  hasImage(image: string): boolean;
  /** Pulls an image (one pull per image at a time). */
  pull(image: string): Promise<unknown>;
  /** Creates and starts a task's container, its secrets and configs mounted. */
  run(task: TaskRecord, service: ServiceRecord): Promise<TaskContainer>;
  /** Stops a task's container (its stop signal, then SIGKILL after `graceSeconds`). */
  stop(c: TaskContainer, graceSeconds: number): Promise<TaskContainer>;
  /** Removes a task's container and what it held (its secrets' tmpfs). */
  remove(c: TaskContainer): Promise<void>;
  /** Releases what tasks without a container still hold (a crash between two removals). */
  collect(keep: Set<string>): Promise<void>;
  /** Calls `onChange` when a task's container dies or its health changes. */
  subscribe(onChange: () => void): () => void;
}

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

/** The real node's runtime: the local engine, driven in-process. */
export class EngineRuntime implements TaskRuntime {
  private readonly pulls = new Map<string, Promise<unknown>>();
  /** Where tasks' secrets and configs are mounted (a tmpfs each). */
  private readonly filesRoot: string;

  constructor(
    private readonly engine: Engine,
    /** A task's secrets and configs, from a manager. */
    private readonly fetchFiles: (taskId: string) => Promise<TaskFile[]>,
  ) {
    this.filesRoot = join(engine.options.runRoot, "swarm-files");
  }

  containers(): Map<string, TaskContainer> {
    const out = new Map<string, TaskContainer>();
    for (const c of this.engine.store.all()) {
      const task = c.Config.Labels?.[TASK_LABEL];
      if (isClusterId(task)) out.set(task, view(c, task));
    }
    return out;
  }

  hasImage(image: string): boolean {
    try {
      this.engine.images.resolve(image);
      return true;
    } catch {
      return false;
    }
  }

  pull(image: string): Promise<unknown> {
    let pulling = this.pulls.get(image);
    if (!pulling) {
      pulling = this.engine.images.pull(image).finally(() => this.pulls.delete(image));
      this.pulls.set(image, pulling);
    }
    return pulling;
  }

  async run(task: TaskRecord, service: ServiceRecord): Promise<TaskContainer> {
    const { name, body } = containerBody(task, service.Spec.Name, service.Spec.EndpointSpec?.Ports);
    const refs = [...(task.Spec.ContainerSpec.Secrets ?? []), ...(task.Spec.ContainerSpec.Configs ?? [])];
    if (refs.length) {
      const binds = await materialize(this.filesRoot, task.ID, await this.fetchFiles(task.ID));
      body.HostConfig = { ...body.HostConfig, Mounts: [...(body.HostConfig?.Mounts ?? []), ...binds] };
    }
    const { Id } = await createContainer(this.engine, body, name).catch(async (err) => {
      await release(this.filesRoot, task.ID);
      throw err;
    });
    const record = this.engine.store.get(Id);
    await this.engine.lock(Id, () => startContainer(this.engine, record));
    return view(record, task.ID);
  }

  async stop(c: TaskContainer, graceSeconds: number): Promise<TaskContainer> {
    const record = this.engine.store.get(c.id);
    await this.engine.lock(c.id, () => stopContainer(this.engine, record, graceSeconds));
    return view(record, c.taskId);
  }

  async remove(c: TaskContainer): Promise<void> {
    await this.engine.lock(c.id, () =>
      removeContainer(this.engine, this.engine.store.get(c.id), { force: true, volumes: true }),
    );
    await release(this.filesRoot, c.taskId);
  }

  async collect(keep: Set<string>): Promise<void> {
    for (const taskId of leftovers(this.filesRoot, keep))
      await release(this.filesRoot, taskId).catch(() => {});
  }

  subscribe(onChange: () => void): () => void {
    return this.engine.events.subscribe((e) => {
      if (
        e.Type === "container" &&
        (e.Action === "die" || e.Action.startsWith("health_status")) &&
        e.Actor.Attributes[TASK_LABEL]
      )
        onChange();
    });
  }
}

function view(c: ContainerRecord, taskId: string): TaskContainer {
  return {
    id: c.Id,
    name: c.Name,
    taskId,
    running: c.State.Running,
    exitCode: c.State.ExitCode,
    pid: c.State.Pid,
    health: c.State.Health?.Status,
  };
}
