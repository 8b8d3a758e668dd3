/**
 * The engine's event stream, in the Docker API's shape (`GET /events`): subscribers get events as
 * they happen; a bounded history answers `--since`.
 */
export type EventType = "container" | "image" | "volume" | "network" | "daemon" | "builder" | "plugin";

export interface DockerEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  /** Deprecated fields that older clients (and `docker events` formatting) still read. */
  status?: string;
  id?: string;
  from?: string;
}

const HISTORY = 1024;

export class EventBus {
  private readonly history: DockerEvent[] = [];
  private readonly listeners = new Set<(e: DockerEvent) => void>();

  /** A container's event, with the attributes docker gives them: image, name and its labels. */
  container(
    record: { Id: string; Name: string; Config: { Image: string; Labels?: Record<string, string> } },
    action: string,
    extra: Record<string, string> = {},
  ): DockerEvent {
    return this.emit("container", action, record.Id, {
      ...record.Config.Labels,
      image: record.Config.Image,
      name: record.Name.slice(1),
      ...extra,
    });
  }

  emit(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): DockerEvent {
    const nanos = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
    const event: DockerEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nanos / 1_000_000_000n),
      timeNano: Number(nanos),
      ...(type === "container" ? { status: action, id, from: attributes["image"] ?? "" } : {}),
    };
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Past events from `sinceNano` on, then live ones until the returned function is called. */
  subscribe(listener: (e: DockerEvent) => void, sinceNano?: number): () => void {
    if (sinceNano !== undefined) for (const e of this.history) if (e.timeNano >= sinceNano) listener(e);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
