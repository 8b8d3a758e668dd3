/**
 * Ports a service publishes in ingress mode, as swarmd's port allocator keeps them: each one is
 * an allocation key in the store (created once: two services never hold the same port, also
 * when two managers answer at once or one crashes half-way); a port asked for without a number
 * (`--publish target=80`, compose's `- "80"`) gets a free one from the dynamic range
 * 30000-32767, kept across updates of the service, and given back when the service goes or no
 * longer publishes it. What was chosen shows in the service's Endpoint.Ports.
 */
import { Conflict } from "../errors.js";
import type { ClusterStore } from "./store.js";
import type { PortConfig, ServiceRecord } from "./types.js";

/** swarmd's range for ports it chooses (its dynamicPortStart/End). */
export const DYNAMIC_PORTS = { first: 30000, last: 32767 } as const;

const ownerOf = (serviceId: string) => `svc:${serviceId}`;
const keyOf = (p: { Protocol?: string; PublishedPort?: number }) =>
  `${p.Protocol ?? "tcp"}/${p.PublishedPort}`;

/** The first port of the range that `taken` ("tcp/30000") does not hold for `protocol`. */
export function freePort(
  protocol: string,
  taken: ReadonlySet<string>,
  range: { first: number; last: number } = DYNAMIC_PORTS,
): number | undefined {
  for (let port = range.first; port <= range.last; port++) if (!taken.has(`${protocol}/${port}`)) return port;
  return undefined;
}

/**
 * The service's ports as published, with their defaults filled in and a number for each ingress
 * port, every ingress port held in the store for the service. Ports it held before and still
 * publishes keep their number.
 */
export async function publishPorts(store: ClusterStore, service: ServiceRecord): Promise<PortConfig[]> {
  const owner = ownerOf(service.ID);
  const wanted = (service.Spec.EndpointSpec?.Ports ?? []).map((p) => ({
    Protocol: p.Protocol ?? "tcp",
    TargetPort: p.TargetPort,
    ...(p.PublishedPort ? { PublishedPort: p.PublishedPort } : {}),
    PublishMode: p.PublishMode ?? "ingress",
  }));
  const ingress = wanted.filter((p) => p.PublishMode === "ingress");
  const taken = await store.publishedPorts();
  for (const p of ingress.filter((x) => x.PublishedPort)) {
    if (await store.takePort(p.Protocol, p.PublishedPort!, owner)) continue;
    const holder = (await store.publishedPorts()).get(keyOf(p))?.slice("svc:".length);
    const other = holder ? (await store.get<ServiceRecord>("services", holder))?.Spec.Name : undefined;
    throw new Conflict(
      `port '${p.PublishedPort}' is already in use by service '${other ?? holder}' (${holder}) as an ingress port`,
    );
  }
  // Chosen ports the service had: kept for the same target (a deploy must not move them).
  const previous = (service.Endpoint.Ports ?? []).filter(
    (p) => p.PublishMode === "ingress" && taken.get(keyOf(p)) === owner,
  );
  const given = new Set(ingress.filter((p) => p.PublishedPort).map(keyOf));
  for (const p of ingress.filter((x) => !x.PublishedPort)) {
    const kept = previous.find(
      (q) => q.TargetPort === p.TargetPort && q.Protocol === p.Protocol && !given.has(keyOf(q)),
    );
    if (kept) {
      given.add(keyOf(kept));
      Object.assign(p, { PublishedPort: kept.PublishedPort });
      continue;
    }
    Object.assign(p, { PublishedPort: await takeFreePort(store, p.Protocol, owner, given) });
    given.add(keyOf(p));
  }
  // In docker's field order, which inspect shows.
  return wanted.map(({ Protocol, TargetPort, PublishedPort, PublishMode }) => ({
    Protocol,
    TargetPort,
    ...(PublishedPort ? { PublishedPort } : {}),
    PublishMode,
  }));
}

async function takeFreePort(
  store: ClusterStore,
  protocol: string,
  owner: string,
  mine: Set<string>,
): Promise<number> {
  // Another manager may take the port chosen here first: the store says who won; choose again.
  for (let attempt = 0; attempt < 20; attempt++) {
    const taken = new Set([...(await store.publishedPorts()).keys(), ...mine]);
    const port = freePort(protocol, taken);
    if (port === undefined)
      throw new Conflict(
        `no free port to publish: ${DYNAMIC_PORTS.first}-${DYNAMIC_PORTS.last} are all taken for ${protocol}`,
      );
    if (await store.takePort(protocol, port, owner)) return port;
  }
  throw new Conflict("could not take a port to publish: too many at once, try again");
}

/**
 * Gives back the ports the service holds but no longer publishes (all of them when `service`
 * is gone): called once the record that stopped using them is written.
 */
export async function releasePorts(
  store: ClusterStore,
  serviceId: string,
  service?: ServiceRecord,
): Promise<void> {
  const owner = ownerOf(serviceId);
  const kept = new Set((service?.Endpoint.Ports ?? []).filter((p) => p.PublishMode === "ingress").map(keyOf));
  for (const [key, holder] of await store.publishedPorts()) {
    if (holder !== owner || kept.has(key)) continue;
    const [protocol, port] = key.split("/") as [string, string];
    await store.releasePort(protocol, Number(port), owner);
  }
}
