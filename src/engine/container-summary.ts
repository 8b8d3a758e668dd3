/**
 * `GET /containers/json`: Docker's summary of each container, its human Status text
 * ("Up 5 minutes", "Exited (0) 2 hours ago") and the list filters.
 */

import { InvalidArgument } from "../errors.js";
import { humanDuration } from "../util/human.js";
import type { ContainerRecord } from "./docker-types.js";
import { linkNames } from "./links.js";

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.State;
  if (s.Status === "removing") return "Removal In Progress";
  if (s.Dead) return "Dead";
  if (s.Restarting) return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  if (s.Running) {
    const health =
      s.Health && s.Health.Status !== "none"
        ? ` (${s.Health.Status === "starting" ? "health: starting" : s.Health.Status})`
        : "";
    return `Up ${humanDuration(now - Date.parse(s.StartedAt))}${s.Paused ? " (Paused)" : health}`;
  }
  if (s.StartedAt.startsWith("0001")) return "Created";
  return `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
}

export function stateName(c: ContainerRecord): string {
  const s = c.State;
  if (s.Paused) return "paused";
  if (s.Restarting) return "restarting";
  if (s.Running) return "running";
  if (s.Status === "removing") return "removing";
  if (s.Dead) return "dead";
  return s.StartedAt.startsWith("0001") ? "created" : "exited";
}

/** `others`: every container, for the names under which others link to `c`. */
export function summary(
  c: ContainerRecord,
  imageName: (id: string) => string,
  others: ContainerRecord[] = [],
) {
  const ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] = [];
  for (const [key, bindings] of Object.entries(c.NetworkSettings.Ports ?? {})) {
    const [port, type] = key.split("/");
    if (!bindings?.length) ports.push({ PrivatePort: Number(port), Type: type ?? "tcp" });
    for (const b of bindings ?? [])
      ports.push({
        IP: b.HostIp || "0.0.0.0",
        PrivatePort: Number(port),
        PublicPort: Number(b.HostPort),
        Type: type ?? "tcp",
      });
  }
  for (const key of Object.keys(c.Config.ExposedPorts ?? {}))
    if (!(key in (c.NetworkSettings.Ports ?? {}))) {
      const [port, type] = key.split("/");
      ports.push({ PrivatePort: Number(port), Type: type ?? "tcp" });
    }
  return {
    Id: c.Id,
    Names: [c.Name, ...linkNames(c, others)],
    Image: c.Config.Image || imageName(c.Image),
    ImageID: c.Image,
    // dockerd's form: arguments with a space in single quotes, the path as it is.
    Command: [c.Path, ...c.Args.map((a) => (a.includes(" ") ? `'${a}'` : a))].join(" "),
    Created: Math.floor(Date.parse(c.Created) / 1000),
    Ports: ports,
    Labels: c.Config.Labels ?? {},
    State: stateName(c),
    Status: statusText(c),
    HostConfig: { NetworkMode: c.HostConfig.NetworkMode },
    NetworkSettings: { Networks: c.NetworkSettings.Networks },
    Mounts: c.Mounts,
  };
}

const FILTERS = [
  "id",
  "name",
  "label",
  "status",
  "exited",
  "ancestor",
  "before",
  "since",
  "volume",
  "network",
  "health",
  "publish",
  "expose",
  "is-task",
];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

function labelMatches(labels: Record<string, string>, filter: string): boolean {
  const i = filter.indexOf("=");
  if (i < 0) return filter in labels;
  return labels[filter.slice(0, i)] === filter.slice(i + 1);
}

/** Applies `docker ps --filter` (values of one key OR, keys AND), with Docker's errors. */
export function filterContainers(
  all: ContainerRecord[],
  filters: Record<string, string[]>,
  lookup: (nameOrId: string) => ContainerRecord,
  imageMatches: (c: ContainerRecord, ref: string) => boolean,
): ContainerRecord[] {
  for (const k of Object.keys(filters))
    if (!FILTERS.includes(k)) throw new InvalidArgument(`invalid filter '${k}'`);
  for (const s of filters["status"] ?? [])
    if (!STATUSES.includes(s)) throw new InvalidArgument(`invalid filter 'status=${s}'`);
  const before = filters["before"]?.map((b) => lookup(b).Created);
  const since = filters["since"]?.map((b) => lookup(b).Created);
  return all.filter((c) => {
    const any = (key: string, test: (v: string) => boolean) =>
      !filters[key]?.length || filters[key]!.some(test);
    return (
      any("id", (v) => c.Id.startsWith(v)) &&
      any("name", (v) => new RegExp(v.replace(/^\//, "")).test(c.Name.slice(1))) &&
      (filters["label"] ?? []).every((v) => labelMatches(c.Config.Labels ?? {}, v)) &&
      any("status", (v) => stateName(c) === v) &&
      any("exited", (v) => !c.State.Running && stateName(c) === "exited" && c.State.ExitCode === Number(v)) &&
      any("ancestor", (v) => imageMatches(c, v)) &&
      (!before || before.every((t) => c.Created < t)) &&
      (!since || since.every((t) => c.Created > t)) &&
      any("volume", (v) => c.Mounts.some((m) => m.Name === v || m.Destination === v || m.Source === v)) &&
      any(
        "network",
        (v) =>
          Object.entries(c.NetworkSettings.Networks).some(([n, e]) => n === v || e.NetworkID.startsWith(v)) ||
          c.HostConfig.NetworkMode === v,
      ) &&
      any("health", (v) => (c.State.Health?.Status ?? "none") === v) &&
      any("expose", (v) =>
        Object.keys(c.Config.ExposedPorts ?? {}).some((p) => p === v || p === `${v}/tcp`),
      ) &&
      any("publish", (v) =>
        Object.values(c.NetworkSettings.Ports ?? {}).some((b) =>
          b?.some((x) => x.HostPort === v.split("/")[0]),
        ),
      )
    );
  });
}
