/**
 * The swarm, as dockersamples/visualizer draws it: a column per node, a box per task coloured by
 * its service, so that tasks visibly move when a node dies, drains or a service scales. The
 * daemon's event stream carries no swarm events, so this view reads nodes, services and tasks
 * again every POLL_MS while it is open. Services can be scaled and given a new image; nodes
 * drained and made active again.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, call, getJson } from "./api.js";

const POLL_MS = 1500;

interface SwarmNode {
  ID: string;
  Version: { Index: number };
  Spec: { Role: string; Availability: string; Labels?: Record<string, string>; Name?: string };
  Description?: { Hostname?: string };
  Status: { State: string };
  ManagerStatus?: { Leader?: boolean };
}

interface Service {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Mode: { Replicated?: { Replicas: number }; Global?: object };
    TaskTemplate: { ContainerSpec: { Image: string } };
  };
}

interface Task {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  DesiredState: string;
  Status: { State: string };
}

/** A colour per service that stays the same across reloads: a hue from its id. */
export function serviceColour(id: string): string {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 65% 45%)`;
}

interface Swarm {
  nodes: SwarmNode[];
  services: Service[];
  tasks: Task[];
}

function useSwarm(): { swarm: Swarm | undefined; error: string | undefined; reload: () => void } {
  const [swarm, setSwarm] = useState<Swarm | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    const load = async () => {
      try {
        const [nodes, services, tasks] = await Promise.all([
          getJson<SwarmNode[]>("/nodes"),
          getJson<Service[]>("/services"),
          getJson<Task[]>(
            `/tasks?filters=${encodeURIComponent(JSON.stringify({ "desired-state": ["running"] }))}`,
          ),
        ]);
        if (live) {
          setSwarm({ nodes, services, tasks });
          setError(undefined);
        }
      } catch (err) {
        if (live)
          setError(
            err instanceof ApiFailure && err.status === 503
              ? "This daemon is not a swarm manager: the cluster view needs one (berth swarm init)."
              : (err as Error).message,
          );
      }
    };
    void load();
    const timer = setInterval(load, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [tick]);
  return { swarm, error, reload: () => setTick((t) => t + 1) };
}

function hostname(n: SwarmNode): string {
  return n.Description?.Hostname ?? n.ID.slice(0, 12);
}

export function ClusterView() {
  const { swarm, error, reload } = useSwarm();
  const [failure, setFailure] = useState<string | undefined>(undefined);
  const act = (run: () => Promise<unknown>) =>
    run().then(
      () => {
        setFailure(undefined);
        reload();
      },
      (err: Error) => setFailure(err.message),
    );
  if (error) return <p class="error">{error}</p>;
  if (!swarm) return <p>loading…</p>;
  const names = new Map(swarm.services.map((s) => [s.ID, s.Spec.Name]));
  const nodes = [...swarm.nodes].sort((a, b) => hostname(a).localeCompare(hostname(b)));
  const setAvailability = (n: SwarmNode, availability: string) =>
    act(() =>
      call("POST", `/nodes/${n.ID}/update?version=${n.Version.Index}`, {
        ...n.Spec,
        Availability: availability,
      }),
    );
  return (
    <section>
      {failure && <p class="error">{failure}</p>}
      <div class="nodes" data-testid="cluster">
        {nodes.map((n) => {
          const tasks = swarm.tasks
            .filter((t) => t.NodeID === n.ID)
            .sort(
              (a, b) =>
                (names.get(a.ServiceID) ?? "").localeCompare(names.get(b.ServiceID) ?? "") ||
                (a.Slot ?? 0) - (b.Slot ?? 0),
            );
          return (
            <div
              key={n.ID}
              class={`node ${n.Status.State}`}
              data-node={hostname(n)}
              data-state={n.Status.State}
            >
              <header>
                <strong>{hostname(n)}</strong>
                <span class="muted">
                  {" "}
                  {n.Spec.Role}
                  {n.ManagerStatus?.Leader ? " (leader)" : ""} · {n.Status.State} · {n.Spec.Availability}
                </span>
                <div>
                  {n.Spec.Availability === "active" ? (
                    <button type="button" onClick={() => setAvailability(n, "drain")}>
                      Drain
                    </button>
                  ) : (
                    <button type="button" onClick={() => setAvailability(n, "active")}>
                      Activate
                    </button>
                  )}
                </div>
              </header>
              {tasks.map((t) => (
                <div
                  key={t.ID}
                  class="task"
                  data-service={names.get(t.ServiceID)}
                  style={{ background: serviceColour(t.ServiceID) }}
                  title={t.ID}
                >
                  {names.get(t.ServiceID) ?? t.ServiceID.slice(0, 8)}
                  {t.Slot ? `.${t.Slot}` : ""} <span class="task-state">{t.Status.State}</span>
                </div>
              ))}
            </div>
          );
        })}
      </div>
      <h3>Services</h3>
      <table class="list" data-testid="services">
        <thead>
          <tr>
            <th>Service</th>
            <th>Replicas</th>
            <th class="wide">Image</th>
          </tr>
        </thead>
        <tbody>
          {swarm.services.map((s) => (
            <ServiceRow
              key={s.ID}
              service={s}
              running={swarm.tasks.filter((t) => t.ServiceID === s.ID && t.Status.State === "running").length}
              act={act}
            />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ServiceRow({
  service: s,
  running,
  act,
}: {
  service: Service;
  running: number;
  act: (run: () => Promise<unknown>) => void;
}) {
  const replicated = s.Spec.Mode.Replicated;
  const update = (change: (spec: Service["Spec"]) => Service["Spec"]) =>
    act(() =>
      call("POST", `/services/${s.ID}/update?version=${s.Version.Index}`, change(structuredClone(s.Spec))),
    );
  const submitScale = (e: Event) => {
    e.preventDefault();
    const n = Number(new FormData(e.currentTarget as HTMLFormElement).get("replicas"));
    update((spec) => ({ ...spec, Mode: { Replicated: { Replicas: n } } }));
  };
  const submitImage = (e: Event) => {
    e.preventDefault();
    const image = String(new FormData(e.currentTarget as HTMLFormElement).get("image") ?? "").trim();
    if (image)
      update((spec) => ({
        ...spec,
        TaskTemplate: {
          ...spec.TaskTemplate,
          ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, Image: image },
        },
      }));
  };
  return (
    <tr data-service={s.Spec.Name}>
      <td>
        <span class="swatch" style={{ background: serviceColour(s.ID) }} /> {s.Spec.Name}
      </td>
      <td>
        {running}/{replicated ? replicated.Replicas : "global"}
        {replicated && (
          <form class="inline" onSubmit={submitScale}>
            <input name="replicas" type="number" min="0" max="1000" required value={replicated.Replicas} />
            <button type="submit">Scale</button>
          </form>
        )}
      </td>
      <td class="wide">
        <form class="inline" onSubmit={submitImage}>
          <input name="image" value={s.Spec.TaskTemplate.ContainerSpec.Image} />
          <button type="submit">Update</button>
        </form>
      </td>
    </tr>
  );
}
