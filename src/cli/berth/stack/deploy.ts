/**
 * `stack deploy`'s executor: a StackPlan (plan.ts) made real through the daemon's API, in
 * docker's order — everything the plan needs from outside is checked first (a manager, the
 * external networks, secrets and configs), then with --prune the services no longer in the file
 * go, then networks, secrets and configs are created, then each service is created, or updated
 * only when its spec changed (with the version it was read at, so a concurrent change is refused).
 */
import type { FileReference, ServiceSpec } from "../../../cluster/types.js";
import { InvalidArgument } from "../../../errors.js";
import type { ApiClient } from "../client.js";
import { NAMESPACE_LABEL } from "./convert-service.js";
import type { FileObjectPlan, StackPlan } from "./plan.js";
import { sameServiceSpec } from "./same-spec.js";

export interface StackService {
  ID: string;
  Version: { Index: number };
  Spec: ServiceSpec;
}

interface NetworkJson {
  Id: string;
  Name: string;
  Scope: string;
  Labels?: Record<string, string>;
}

interface FileJson {
  ID: string;
  Version: { Index: number };
  Spec: { Name: string; Labels: Record<string, string>; Data?: string };
}

const byLabel = (namespace: string) => JSON.stringify({ label: [`${NAMESPACE_LABEL}=${namespace}`] });

export async function stackServices(api: ApiClient, namespace: string): Promise<StackService[]> {
  return api.call<StackService[]>("GET", "/services", { query: { filters: byLabel(namespace) } });
}

export async function stackNetworks(api: ApiClient, namespace: string): Promise<NetworkJson[]> {
  return api.call<NetworkJson[]>("GET", "/networks", { query: { filters: byLabel(namespace) } });
}

export async function stackFiles(
  api: ApiClient,
  kind: "secrets" | "configs",
  namespace: string,
): Promise<FileJson[]> {
  return api.call<FileJson[]>("GET", `/${kind}`, { query: { filters: byLabel(namespace) } });
}

/** docker's refusal on a node that cannot deploy. */
export async function requireManager(api: ApiClient): Promise<void> {
  const info = await api.call<{ Swarm?: { ControlAvailable?: boolean; LocalNodeState?: string } }>(
    "GET",
    "/info",
  );
  if (!info.Swarm?.ControlAvailable)
    throw new InvalidArgument(
      'this node is not a swarm manager. Use "berth swarm init" or "berth swarm join" to connect this node to swarm and try again',
    );
}

export async function deployStack(
  api: ApiClient,
  plan: StackPlan,
  options: { prune: boolean },
  out: (line: string) => void,
): Promise<void> {
  await requireManager(api);
  const allNetworks = await api.call<NetworkJson[]>("GET", "/networks");
  for (const n of plan.networks.filter((x) => x.external)) {
    const found = allNetworks.find((x) => x.Name === n.name || x.Id === n.name);
    if (!found)
      throw new InvalidArgument(
        `network "${n.name}" is declared as external, but could not be found. You need to create a swarm-scoped network before the stack is deployed`,
      );
    if (found.Scope !== "swarm")
      throw new InvalidArgument(
        `network "${n.name}" is declared as external, but it is not in the right scope: "${found.Scope}" instead of "swarm"`,
      );
  }
  const existing = {
    secrets: await api.call<FileJson[]>("GET", "/secrets"),
    configs: await api.call<FileJson[]>("GET", "/configs"),
  };
  for (const kind of ["secrets", "configs"] as const)
    for (const f of plan[kind]) {
      const found = existing[kind].find((x) => x.Spec.Name === f.name);
      if (f.external && !found)
        throw new InvalidArgument(
          `${kind.slice(0, -1)} "${f.name}" is declared as external, but could not be found`,
        );
      // A config's data is visible: a changed one would be refused by the manager half-way.
      if (
        !f.external &&
        found &&
        kind === "configs" &&
        found.Spec.Data !== undefined &&
        found.Spec.Data !== f.data!.toString("base64")
      )
        throw new InvalidArgument(
          `config "${f.name}" exists with other content, and a config cannot change: give the new content a new name`,
        );
    }

  const current = await stackServices(api, plan.namespace);
  if (options.prune) {
    const wanted = new Set(plan.services.map((s) => s.Name));
    for (const s of current.filter((x) => !wanted.has(x.Spec.Name))) {
      out(`Removing service ${s.Spec.Name}`);
      await api.call("DELETE", `/services/${s.ID}`);
    }
  }

  const networkIds = new Map(allNetworks.map((n) => [n.Name, n.Id]));
  for (const n of plan.networks.filter((x) => !x.external && !networkIds.has(x.name))) {
    out(`Creating network ${n.name}`);
    const r = await api.call<{ Id: string }>("POST", "/networks/create", { body: n.create });
    networkIds.set(n.name, r.Id);
  }

  const fileIds = { secrets: new Map<string, string>(), configs: new Map<string, string>() };
  for (const kind of ["secrets", "configs"] as const) {
    for (const f of existing[kind]) fileIds[kind].set(f.Spec.Name, f.ID);
    for (const f of plan[kind].filter((x) => !x.external && !fileIds[kind].has(x.name))) {
      out(`Creating ${kind.slice(0, -1)} ${f.name}`);
      fileIds[kind].set(f.name, await createFile(api, kind, f));
    }
  }

  for (const planned of plan.services) {
    const spec = resolveIds(planned, networkIds, fileIds);
    const service = current.find((s) => s.Spec.Name === spec.Name);
    if (!service) {
      out(`Creating service ${spec.Name}`);
      await api.call("POST", "/services/create", { body: spec });
      continue;
    }
    spec.TaskTemplate.ForceUpdate = service.Spec.TaskTemplate.ForceUpdate ?? 0;
    if (sameServiceSpec(service.Spec, spec)) continue;
    out(`Updating service ${spec.Name} (id: ${service.ID})`);
    const r = await api.call<{ Warnings?: string[] | null }>("POST", `/services/${service.ID}/update`, {
      query: { version: service.Version.Index },
      body: spec,
    });
    for (const w of r?.Warnings ?? []) out(w);
  }
}

async function createFile(api: ApiClient, kind: "secrets" | "configs", f: FileObjectPlan): Promise<string> {
  const r = await api.call<{ ID: string }>("POST", `/${kind}/create`, {
    body: {
      Name: f.name,
      Labels: f.labels,
      Data: f.data!.toString("base64"),
      ...(f.templating ? { Templating: f.templating } : {}),
    },
  });
  return r.ID;
}

/** The spec with its networks and files referred to by ID, as the manager stores them. */
function resolveIds(
  spec: ServiceSpec,
  networks: Map<string, string>,
  files: { secrets: Map<string, string>; configs: Map<string, string> },
): ServiceSpec {
  const copy = structuredClone(spec);
  const t = copy.TaskTemplate;
  t.Networks = t.Networks?.map((n) => ({ ...n, Target: networks.get(n.Target) ?? n.Target }));
  const withId = (refs: FileReference[] | undefined, kind: "secrets" | "configs") =>
    refs?.map((r) => {
      const name = (kind === "secrets" ? r.SecretName : r.ConfigName)!;
      const id = files[kind].get(name);
      if (!id) throw new InvalidArgument(`${kind.slice(0, -1)} not found: ${name}`);
      return kind === "secrets"
        ? { File: r.File, SecretID: id, SecretName: name }
        : { File: r.File, ConfigID: id, ConfigName: name };
    });
  if (t.ContainerSpec.Secrets) t.ContainerSpec.Secrets = withId(t.ContainerSpec.Secrets, "secrets");
  if (t.ContainerSpec.Configs) t.ContainerSpec.Configs = withId(t.ContainerSpec.Configs, "configs");
  return copy;
}

/** Removes a stack: services first, then its networks (once no task holds them), secrets, configs. */
export async function removeStack(
  api: ApiClient,
  namespace: string,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<boolean> {
  const services = await stackServices(api, namespace);
  const networks = await stackNetworks(api, namespace);
  const secrets = await stackFiles(api, "secrets", namespace);
  const configs = await stackFiles(api, "configs", namespace);
  if (!services.length && !networks.length && !secrets.length && !configs.length) {
    err(`Nothing found in stack: ${namespace}`);
    return true;
  }
  let ok = true;
  const attempt = async (what: string, act: () => Promise<unknown>) => {
    try {
      await act();
    } catch (e) {
      err(`Failed to remove ${what}: ${(e as Error).message}`);
      ok = false;
    }
  };
  for (const s of services.sort((a, b) => (a.Spec.Name < b.Spec.Name ? -1 : 1))) {
    out(`Removing service ${s.Spec.Name}`);
    await attempt(`service ${s.Spec.Name}`, () => api.call("DELETE", `/services/${s.ID}`));
  }
  for (const n of networks.sort((a, b) => (a.Name < b.Name ? -1 : 1))) {
    out(`Removing network ${n.Name}`);
    await attempt(`network ${n.Name}`, () => retryInUse(() => api.call("DELETE", `/networks/${n.Id}`)));
  }
  for (const [kind, list] of [
    ["secret", secrets],
    ["config", configs],
  ] as const)
    for (const f of list.sort((a, b) => (a.Spec.Name < b.Spec.Name ? -1 : 1))) {
      out(`Removing ${kind} ${f.Spec.Name}`);
      await attempt(`${kind} ${f.Spec.Name}`, () =>
        retryInUse(() => api.call("DELETE", `/${kind}s/${f.ID}`)),
      );
    }
  return ok;
}

/** A network or secret is refused while the removed services' tasks still hold it: a moment. */
async function retryInUse(act: () => Promise<unknown>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await act();
      return;
    } catch (e) {
      if (!/in use/i.test((e as Error).message) || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
