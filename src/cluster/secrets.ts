/**
 * Secrets and configs. Their data is sealed in the store with the managers' key (sealing.ts): a
 * worker's certificate reads the store and cannot open them. A node gets the files of a task
 * from a manager, over the cluster's mutual TLS, and only for a task assigned to it; it writes
 * them into a tmpfs of the task's own (never the node's disk) and binds each one read-only into
 * the container: secrets at /run/secrets/NAME, configs at /NAME, unless the reference says where.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import type { MountSpec } from "../engine/docker-types.js";
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import { mountAll, unmount } from "../snapshot/mount.js";
import { isClusterId, newClusterId } from "./ids.js";
import { seal, unseal } from "./sealing.js";
import type { ClusterStore } from "./store.js";
import {
  checkTemplate,
  renderTemplate,
  TEMPLATE_DRIVER,
  type TemplateContext,
  TemplateError,
} from "./templating.js";
import type {
  FileReference,
  NodeRecord,
  SecretRecord,
  ServiceRecord,
  TaskRecord,
  TaskSpec,
} from "./types.js";

export type FileKind = "secret" | "config";

/** swarm's limit on a secret's or config's size. */
export const MAX_DATA_BYTES = 500 * 1024;
const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,62})$/;

const plural = (kind: FileKind) => (kind === "secret" ? "secrets" : "configs");

/** A sealed value opens only in its own record: one copied into another fails to open. */
const boundTo = (kind: FileKind, id: string) => `${kind}/${id}`;

export async function createFile(
  store: ClusterStore,
  caKey: string,
  kind: FileKind,
  spec: { Name?: unknown; Labels?: unknown; Data?: unknown; Templating?: unknown } | undefined,
): Promise<string> {
  if (!spec || typeof spec.Name !== "string" || !NAME.test(spec.Name))
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]`,
    );
  if (typeof spec.Data !== "string") throw new InvalidArgument(`${kind} data must be base64 text`);
  const data = Buffer.from(spec.Data, "base64");
  if (data.length > MAX_DATA_BYTES)
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = ${kind} data must be larger than 0 and less than ${MAX_DATA_BYTES} bytes`,
    );
  if (kind === "secret" && data.length === 0)
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than ${MAX_DATA_BYTES} bytes`,
    );
  const templating = checkTemplating(spec.Templating, data);
  const labels = (spec.Labels ?? {}) as Record<string, string>;
  const existing = await store.list<SecretRecord>(plural(kind));
  if (existing.some((s) => s.Spec.Name === spec.Name))
    throw new Conflict(`rpc error: code = AlreadyExists desc = ${kind} ${spec.Name} already exists`);
  const now = new Date().toISOString();
  const id = newClusterId();
  const record: SecretRecord = {
    ID: id,
    Version: { Index: 0 },
    CreatedAt: now,
    UpdatedAt: now,
    Spec: { Name: spec.Name, Labels: labels, ...(templating ? { Templating: templating } : {}) },
    Sealed: seal(caKey, data.toString("base64"), undefined, boundTo(kind, id)),
  };
  if (!(await store.create(plural(kind), record))) throw new Conflict(`${kind} ${spec.Name} already exists`);
  return record.ID;
}

/** `Templating`: absent, or the golang driver with a template Berth can render. */
function checkTemplating(given: unknown, data: Buffer): { Name: string } | undefined {
  if (given === undefined || given === null) return undefined;
  const name = (given as { Name?: unknown; name?: unknown }).Name ?? (given as { name?: unknown }).name;
  if (typeof name !== "string" || name !== TEMPLATE_DRIVER)
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = unknown templating driver ${JSON.stringify(name)}: the driver is "${TEMPLATE_DRIVER}"`,
    );
  checkTemplate(data.toString("utf8"));
  return { Name: name };
}

export async function findFile(store: ClusterStore, kind: FileKind, ref: string): Promise<SecretRecord> {
  const all = await store.list<SecretRecord>(plural(kind));
  const found =
    all.find((s) => s.ID === ref) ??
    all.find((s) => s.Spec.Name === ref) ??
    onlyOne(all.filter((s) => s.ID.startsWith(ref)));
  if (!found) throw new NotFound(`${kind} ${ref} not found`);
  return found;
}

const onlyOne = <T>(list: T[]): T | undefined => (list.length === 1 ? list[0] : undefined);

export function filterFiles(files: SecretRecord[], filters: Record<string, string[]>): SecretRecord[] {
  const any = (key: string, test: (v: string) => boolean) =>
    !filters[key]?.length || filters[key]!.some(test);
  return files.filter(
    (f) =>
      any("id", (v) => f.ID.startsWith(v)) &&
      any("name", (v) => f.Spec.Name.startsWith(v)) &&
      any("names", (v) => f.Spec.Name === v) &&
      (filters["label"] ?? []).every((l) =>
        l.includes("=")
          ? f.Spec.Labels[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1)
          : l in f.Spec.Labels,
      ),
  );
}

/** A secret as the API shows it (no data); a config with its data. */
export function fileJson(kind: FileKind, s: SecretRecord, caKey?: string): Record<string, unknown> {
  const { Sealed, ...rest } = s;
  return kind === "config" && caKey
    ? { ...rest, Spec: { ...s.Spec, Data: unseal(caKey, Sealed, undefined, boundTo(kind, s.ID)) } }
    : rest;
}

function references(spec: TaskSpec, kind: FileKind): FileReference[] {
  return (kind === "secret" ? spec.ContainerSpec.Secrets : spec.ContainerSpec.Configs) ?? [];
}

const referenceId = (r: FileReference, kind: FileKind) => (kind === "secret" ? r.SecretID : r.ConfigID);

export async function removeFile(store: ClusterStore, kind: FileKind, ref: string): Promise<void> {
  const file = await findFile(store, kind, ref);
  const users = (await store.list<ServiceRecord>("services")).filter((s) =>
    references(s.Spec.TaskTemplate, kind).some((r) => referenceId(r, kind) === file.ID),
  );
  if (users.length)
    throw new InvalidArgument(
      `rpc error: code = InvalidArgument desc = ${kind} '${file.Spec.Name}' is in use by the following service${users.length > 1 ? "s" : ""}: ${users.map((u) => u.Spec.Name).join(", ")}`,
    );
  await store.remove(plural(kind), file.ID);
}

export async function updateFileLabels(
  store: ClusterStore,
  kind: FileKind,
  ref: string,
  version: number,
  spec: { Name?: string; Labels?: Record<string, string> } | undefined,
): Promise<void> {
  const file = await findFile(store, kind, ref);
  if (file.Version.Index !== version)
    throw new Conflict(`update out of sequence: the ${kind} was changed meanwhile`);
  if (spec?.Name !== undefined && spec.Name !== file.Spec.Name)
    throw new InvalidArgument(`rpc error: code = InvalidArgument desc = only updates to Labels are allowed`);
  const ok = await store.update(plural(kind), {
    ...file,
    Spec: { ...file.Spec, Labels: spec?.Labels ?? {} },
    UpdatedAt: new Date().toISOString(),
  });
  if (!ok) throw new Conflict(`update out of sequence: the ${kind} was changed meanwhile`);
}

/** Where a reference puts its file in the container, checked: a clean path, no `..`. */
export function fileTarget(kind: FileKind, r: FileReference, name: string): string {
  const given = r.File?.Name || name;
  const target = posix.normalize(
    given.startsWith("/") ? given : kind === "secret" ? `/run/secrets/${given}` : `/${given}`,
  );
  if (given.split("/").includes("..") || target === "/" || target.endsWith("/"))
    throw new InvalidArgument(`invalid ${kind} target "${given}"`);
  return target;
}

/** A service's references resolved to ids, each checked: the object exists and the target is clean. */
export async function resolveReferences(store: ClusterStore, spec: TaskSpec): Promise<void> {
  for (const kind of ["secret", "config"] as const) {
    const targets = new Set<string>();
    for (const r of references(spec, kind)) {
      const ref = (kind === "secret" ? r.SecretID || r.SecretName : r.ConfigID || r.ConfigName) ?? "";
      const file = await findFile(store, kind, ref).catch(() => {
        throw new InvalidArgument(
          `rpc error: code = InvalidArgument desc = ${kind} reference not found: ${ref}`,
        );
      });
      if (kind === "secret") Object.assign(r, { SecretID: file.ID, SecretName: file.Spec.Name });
      else Object.assign(r, { ConfigID: file.ID, ConfigName: file.Spec.Name });
      const target = fileTarget(kind, r, file.Spec.Name);
      if (targets.has(target)) throw new InvalidArgument(`${kind} target ${target} is used twice`);
      targets.add(target);
    }
  }
}

export interface TaskFile {
  kind: FileKind;
  target: string;
  /** base64 */
  data: string;
  uid: number;
  gid: number;
  mode: number;
}

/** The manager's side: a task's files, for the node the task is assigned to and no other. */
export async function filesForTask(
  store: ClusterStore,
  caKey: string,
  taskId: string,
  caller: string,
): Promise<TaskFile[]> {
  const task = await store.get<TaskRecord>("tasks", taskId);
  if (!task || task.NodeID !== caller) throw new NotFound(`task ${taskId} is not assigned to node ${caller}`);
  const out: Array<TaskFile & { template: boolean }> = [];
  for (const kind of ["secret", "config"] as const)
    for (const r of references(task.Spec, kind)) {
      const file = await store.get<SecretRecord>(plural(kind), referenceId(r, kind) ?? "");
      if (!file) throw new NotFound(`${kind} ${referenceId(r, kind)} of task ${taskId} no longer exists`);
      out.push({
        kind,
        target: fileTarget(kind, r, file.Spec.Name),
        data: unseal(caKey, file.Sealed, undefined, boundTo(kind, file.ID)),
        uid: Number(r.File?.UID ?? 0),
        gid: Number(r.File?.GID ?? 0),
        mode: r.File?.Mode ?? 0o444,
        template: file.Spec.Templating !== undefined,
      });
    }
  if (!out.some((f) => f.template)) return out.map(({ template: _t, ...f }) => f);
  const [service, node] = await Promise.all([
    store.get<ServiceRecord>("services", task.ServiceID),
    store.get<NodeRecord>("nodes", caller),
  ]);
  const context: TemplateContext = {
    Service: { ID: task.ServiceID, Name: service?.Spec.Name ?? "", Labels: service?.Spec.Labels ?? {} },
    Node: {
      ID: caller,
      Hostname: node?.Description.Hostname ?? "",
      Platform: {
        Architecture: node?.Description.Platform.Architecture ?? "",
        OS: node?.Description.Platform.OS ?? "",
      },
    },
    Task: {
      ID: task.ID,
      Name: `${service?.Spec.Name ?? ""}.${task.Slot ?? task.NodeID}.${task.ID}`,
      Slot: String(task.Slot ?? 0),
    },
  };
  // `secret`/`config` name a file of this task by its target's last part, as swarm's do.
  const byName = (kind: FileKind) => (name: string) => {
    const f = out.find((x) => x.kind === kind && posix.basename(x.target) === name);
    if (!f) throw new TemplateError(`template: ${kind} ${name} is not one of this task's ${kind}s`);
    return Buffer.from(f.data, "base64").toString("utf8");
  };
  const env = new Map(
    (task.Spec.ContainerSpec.Env ?? []).map((e) => [e.split("=")[0]!, e.slice(e.indexOf("=") + 1)]),
  );
  const functions = {
    env: (n: string) => env.get(n) ?? "",
    secret: byName("secret"),
    config: byName("config"),
  };
  return out.map(({ template, ...f }) =>
    template
      ? {
          ...f,
          data: Buffer.from(
            renderTemplate(Buffer.from(f.data, "base64").toString("utf8"), context, functions),
          ).toString("base64"),
        }
      : f,
  );
}

/** A task's tmpfs directory: only ever a task id under `root`, never a path a label made up. */
function taskDir(root: string, taskId: string): string {
  if (!isClusterId(taskId)) throw new InvalidArgument(`"${taskId}" is not a task id`);
  return join(root, taskId);
}

/** The node's side: the task's tmpfs, its files written, and a read-only bind of each. */
export async function materialize(root: string, taskId: string, files: TaskFile[]): Promise<MountSpec[]> {
  if (!files.length) return [];
  const dir = taskDir(root, taskId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await mountAll(
    [{ type: "tmpfs", source: "tmpfs", options: ["size=4m", "mode=0700", "nodev", "noexec", "nosuid"] }],
    dir,
  );
  return files.map((f, i) => {
    // Named by position on the host: a target never becomes a host path.
    const source = join(dir, `${f.kind}-${i}`);
    writeFileSync(source, Buffer.from(f.data, "base64"), { mode: f.mode & 0o777 });
    chmodSync(source, f.mode & 0o777);
    chownSync(source, f.uid, f.gid);
    return { Type: "bind", Source: source, Target: f.target, ReadOnly: true };
  });
}

/** Unmounts and removes a task's tmpfs (the container that bound it is gone). */
export async function release(root: string, taskId: string): Promise<void> {
  const dir = taskDir(root, taskId);
  if (!existsSync(dir)) return;
  await unmount(dir).catch(() => {});
  rmdirSync(dir);
}

/** The tmpfs directories of tasks that are no longer here (a crash between remove and release). */
export function leftovers(root: string, keep: Set<string>): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((t) => isClusterId(t) && !keep.has(t));
}
