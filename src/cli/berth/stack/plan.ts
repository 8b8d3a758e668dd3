/**
 * A compose project → what a stack is made of in the engine, as `docker stack deploy` makes it:
 * the overlay networks the services use (NAMESPACE_default for those that name none), the
 * secrets and configs with their content read from their files, and each service's spec, every
 * object labelled com.docker.stack.namespace=NAMESPACE. Pure but for reading the files named;
 * nothing here talks to the daemon, so a bad file is refused before anything is made.
 */
import type { ServiceSpec } from "../../../cluster/types.js";
import { InvalidArgument } from "../../../errors.js";
import type { ComposeProject } from "./compose-file.js";
import { type ConvertContext, convertService, NAMESPACE_LABEL, scope } from "./convert-service.js";
import type { Lookup } from "./interpolate.js";

export interface NetworkPlan {
  /** The network's name in the engine. */
  name: string;
  external: boolean;
  /** The body of POST /networks/create, for a network the stack makes. */
  create?: {
    Name: string;
    Driver: string;
    Options: Record<string, string>;
    Internal: boolean;
    Attachable: boolean;
    Labels: Record<string, string>;
    IPAM?: { Driver: string; Config: Array<{ Subnet: string }> };
  };
}

export interface FileObjectPlan {
  name: string;
  external: boolean;
  labels: Record<string, string>;
  data?: Buffer;
  templating?: { Name: string };
}

export interface StackPlan {
  namespace: string;
  networks: NetworkPlan[];
  secrets: FileObjectPlan[];
  configs: FileObjectPlan[];
  /** External named volumes the services mount (they must exist). */
  services: ServiceSpec[];
  warnings: string[];
}

export interface PlanIO {
  lookup: Lookup;
  /** The content of a file the compose file names: a regular file only; `field` names it in errors. */
  readFile(path: string, field: string): Buffer;
}

/** A stack's name becomes every object's prefix: what a service name may hold. */
export function checkNamespace(namespace: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(namespace) || namespace.length > 50)
    throw new InvalidArgument(
      `invalid stack name "${namespace}": use letters, digits, _ . - (starting with a letter or digit), at most 50`,
    );
}

export function planStack(project: ComposeProject, namespace: string, io: PlanIO): StackPlan {
  checkNamespace(namespace);
  const ctx: ConvertContext = {
    namespace,
    project,
    lookup: io.lookup,
    readText: (path, field) => io.readFile(path, field).toString("utf8"),
  };
  const warnings = [...project.warnings];
  const services = Object.entries(project.services)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, svc]) => {
      const r = convertService(name, svc, ctx);
      warnings.push(...r.warnings);
      return r.spec;
    });
  const used = new Set(services.flatMap((s) => (s.TaskTemplate.Networks ?? []).map((n) => n.Target)));
  const networks: NetworkPlan[] = [];
  const keyOf = (engineName: string) =>
    Object.entries(project.networks).find(([k, d]) => (d.name ?? scope(namespace, k)) === engineName)?.[0] ??
    engineName.slice(namespace.length + 1);
  for (const name of [...used].sort()) {
    const def = project.networks[keyOf(name)];
    if (def?.external) {
      networks.push({ name, external: true });
      continue;
    }
    networks.push({
      name,
      external: false,
      create: {
        Name: name,
        Driver: def?.driver ?? "overlay",
        Options: def?.driverOpts ?? {},
        Internal: def?.internal ?? false,
        Attachable: def?.attachable ?? false,
        Labels: { ...def?.labels, [NAMESPACE_LABEL]: namespace },
        ...(def?.subnets.length
          ? { IPAM: { Driver: "default", Config: def.subnets.map((Subnet) => ({ Subnet })) } }
          : {}),
      },
    });
  }
  const files = (kind: "secrets" | "configs"): FileObjectPlan[] =>
    Object.entries(project[kind])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, def]) => {
        const name = def.name ?? scope(namespace, key);
        if (def.external) return { name, external: true, labels: {} };
        return {
          name,
          external: false,
          labels: { ...def.labels, [NAMESPACE_LABEL]: namespace },
          data: io.readFile(def.file!, `${kind}.${key}.file`),
          ...(def.templateDriver ? { templating: { Name: def.templateDriver } } : {}),
        };
      });
  return { namespace, networks, secrets: files("secrets"), configs: files("configs"), services, warnings };
}
