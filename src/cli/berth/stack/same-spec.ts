/**
 * Whether a service already runs the spec a deploy wants, so that a second `stack deploy` of a
 * changed file updates only the services whose spec changed. The manager stores the spec as given
 * with a few defaults filled in; both sides are put in one form before they are compared:
 * absent, empty and false fields dropped, the defaults the manager fills in dropped, keys sorted.
 */
import type { ServiceSpec } from "../../../cluster/types.js";

function canonical(value: unknown, key = ""): unknown {
  if (Array.isArray(value)) {
    const list = value.map((v) => canonical(v)).filter((v) => v !== undefined);
    return list.length ? list : undefined;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => [k, canonical(v, k)] as const)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    // An empty mode ({Global: {}}) says something; other empty objects say nothing.
    if (!entries.length) return key === "Global" || key === "GlobalJob" ? {} : undefined;
    return Object.fromEntries(entries);
  }
  if (value === null || value === false || value === "") return undefined;
  return value;
}

/** The spec without what the manager adds on its own: ForceUpdate, the default runtime and mode. */
function comparable(spec: ServiceSpec): unknown {
  const { ForceUpdate: _f, Runtime, ...template } = spec.TaskTemplate;
  return canonical({
    ...spec,
    TaskTemplate: { ...template, ...(Runtime && Runtime !== "container" ? { Runtime } : {}) },
    EndpointSpec: { ...spec.EndpointSpec, Mode: spec.EndpointSpec?.Mode ?? "vip" },
  });
}

export function sameServiceSpec(current: ServiceSpec, wanted: ServiceSpec): boolean {
  return JSON.stringify(comparable(current)) === JSON.stringify(comparable(wanted));
}
