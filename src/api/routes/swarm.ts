/**
 * The swarm-mode endpoints: /swarm, /nodes, /services, /tasks (secrets and configs still answer
 * as a node in no swarm does). Outside a swarm each answers as dockerd does there, 503 with its
 * words (clients such as docker-py's tests tell "no swarm" by them), after the checks of its
 * parameters that dockerd makes first.
 */

import type { ServerResponse } from "node:http";
import {
  checkNodeSpec,
  clusterWithVersion,
  createService,
  filterNodes,
  filterServices,
  filterTasks,
  findNode,
  findService,
  nodeJson,
  removeNode,
  removeService,
  serviceJson,
  taskJson,
  updateNode,
  updateService,
  withDefaults,
} from "../../cluster/control.js";
import {
  createFile,
  fileJson,
  filterFiles,
  findFile,
  removeFile,
  updateFileLabels,
} from "../../cluster/secrets.js";
import { type ClusterStore, OutOfSequence } from "../../cluster/store.js";
import {
  defaultSwarmSpec,
  type InitRequest,
  type JoinBody,
  NOT_IN_SWARM,
  type Swarm,
} from "../../cluster/swarm.js";
import { logQuery } from "../../cluster/task-logs.js";
import type {
  NodeRecord,
  NodeSpec,
  SecretRecord,
  ServiceRecord,
  ServiceSpec,
  SwarmSpec,
  TaskRecord,
} from "../../cluster/types.js";
import { InvalidArgument, NotFound } from "../../errors.js";
import { type ApiServer, HttpError, queryBool, queryFilters, type Request } from "../server.js";
import { MULTIPLEXED, muxFrame, RAW } from "../streams.js";

/** An update's `version` query: dockerd parses it before anything else. */
function versionOf(req: Request, kind: string): number {
  const v = req.query.get("version") ?? "";
  if (!/^\d+$/.test(v))
    throw new HttpError(
      400,
      kind === "secret" || kind === "config"
        ? `invalid ${kind} version`
        : `invalid ${kind} version '${v}': strconv.ParseUint: parsing "${v}": invalid syntax`,
    );
  return Number(v);
}

/** Service and task logs: dockerd wants a stream chosen before it looks for the swarm. */
function checkStreams(req: Request): void {
  const chosen = (name: string) => ["1", "true"].includes(req.query.get(name)?.toLowerCase() ?? "");
  if (!chosen("stdout") && !chosen("stderr"))
    throw new HttpError(500, "Bad parameters: you must choose at least one stream");
}

export function swarmRoutes(api: ApiServer, swarm: Swarm): void {
  const store = () => swarm.managerStore();

  api.route("GET", "/swarm", async () => {
    const s = store();
    const { record, index } = await clusterWithVersion(s);
    return {
      ID: record.ID,
      Version: { Index: index },
      CreatedAt: record.CreatedAt,
      UpdatedAt: record.UpdatedAt,
      Spec: record.Spec,
      TLSInfo: { TrustRoot: record.CACert, CertIssuerSubject: "", CertIssuerPublicKey: "" },
      RootRotationInProgress: false,
      DefaultAddrPool: record.DefaultAddrPool,
      SubnetSize: record.SubnetSize,
      DataPathPort: record.DataPathPort,
      JoinTokens: await swarm.joinTokens(record),
    };
  });
  api.route("GET", "/swarm/unlockkey", async () => ({ UnlockKey: await swarm.unlockKey() }));
  api.route("POST", "/swarm/unlock", async (req) => {
    const body = await req.json<{ UnlockKey?: unknown }>();
    if (typeof body?.UnlockKey !== "string")
      throw new InvalidArgument("an unlock request names an UnlockKey");
    await swarm.unlock(body.UnlockKey);
  });
  api.route("POST", "/swarm/update", async (req) => {
    const version = versionOf(req, "swarm");
    const s = store();
    const spec = (await req.json<Partial<SwarmSpec>>()) ?? {};
    const { record, index } = await clusterWithVersion(s);
    if (index !== version) throw new OutOfSequence("swarm");
    const tokens = await swarm.joinTokens(record);
    if (queryBool(req.query, "rotateWorkerToken")) tokens.Worker = swarm.newToken();
    if (queryBool(req.query, "rotateManagerToken")) tokens.Manager = swarm.newToken();
    const next = defaultSwarmSpec(spec, record.Spec);
    const { SealedUnlockKey: _old, ...rest } = record;
    const unlockKey = swarm.nextUnlockKey(
      record,
      next.EncryptionConfig.AutoLockManagers,
      queryBool(req.query, "rotateManagerUnlockKey"),
    );
    const ok = await s.updateCluster(
      {
        ...rest,
        Spec: next,
        SealedTokens: swarm.sealTokens(tokens),
        ...(unlockKey ? { SealedUnlockKey: unlockKey } : {}),
        UpdatedAt: new Date().toISOString(),
      },
      index,
    );
    if (!ok) throw new OutOfSequence("swarm");
  });
  api.route("POST", "/swarm/leave", async (req) => {
    if (!swarm.active) throw new HttpError(503, NOT_IN_SWARM);
    await swarm.leave(queryBool(req.query, "force"));
  });
  api.route("POST", "/swarm/init", async (req, res) => {
    const nodeId = await swarm.init((await req.json<InitRequest>()) ?? {});
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(nodeId));
  });
  api.route("POST", "/swarm/join", async (req) => {
    await swarm.join((await req.json<JoinBody>()) ?? {});
  });

  // ---- nodes
  api.route("GET", "/nodes", async (req) => {
    const s = store();
    const [nodes, alive, leader] = await Promise.all([s.list<NodeRecord>("nodes"), s.alive(), s.leader()]);
    return filterNodes(nodes, queryFilters(req.query), alive, leader).map((n) => nodeJson(n, alive, leader));
  });
  api.route("GET", "/nodes/{id}", async (req) => {
    const s = store();
    const node = await findNode(s, req.params["id"]!);
    return nodeJson(node, await s.alive(), await s.leader());
  });
  api.route("POST", "/nodes/{id}/update", async (req) => {
    const version = versionOf(req, "node");
    const s = store();
    const spec = checkNodeSpec(await req.json<Partial<NodeSpec>>());
    const before = await updateNode(s, swarm.caKey(), req.params["id"]!, version, spec);
    if (before.Spec.Role === "manager" && spec.Role === "worker") await swarm.demoted(before);
  });
  api.route("DELETE", "/nodes/{id}", async (req) => {
    await swarm.removed(await removeNode(store(), req.params["id"]!, queryBool(req.query, "force")));
  });

  // ---- services
  api.route("GET", "/services", async (req) => {
    const s = store();
    const services = filterServices(await s.list<ServiceRecord>("services"), queryFilters(req.query));
    if (!queryBool(req.query, "status")) return services.map((x) => serviceJson(x));
    const { tasks, alive, nodes } = await swarm.clusterState();
    const up = nodes.filter((n) => alive.has(n.ID) && n.Spec.Availability === "active").length;
    // Grouped once: each service looking through every task is services × tasks (a second at
    // 300 services and 30,000 tasks).
    const byService = new Map<string, TaskRecord[]>();
    for (const t of tasks) {
      const mine = byService.get(t.ServiceID);
      if (mine) mine.push(t);
      else byService.set(t.ServiceID, [t]);
    }
    return services.map((x) => serviceJson(x, byService.get(x.ID) ?? [], up));
  });
  api.route("POST", "/services/create", async (req, res) => {
    const s = store();
    const id = await createService(s, swarm.caKey(), (await req.json<Partial<ServiceSpec>>()) ?? undefined);
    res
      .writeHead(201, { "Content-Type": "application/json" })
      .end(JSON.stringify({ ID: id, Warnings: null }));
  });
  api.route("GET", "/services/{id}", async (req) => {
    const service = await findService(store(), req.params["id"]!);
    return serviceJson(
      queryBool(req.query, "insertDefaults") ? { ...service, Spec: withDefaults(service.Spec) } : service,
    );
  });
  api.route("POST", "/services/{id}/update", async (req) => {
    const version = versionOf(req, "service");
    const s = store();
    const rollback = req.query.get("rollback") === "previous";
    await updateService(
      s,
      swarm.caKey(),
      req.params["id"]!,
      version,
      (await req.json<Partial<ServiceSpec>>()) ?? undefined,
      rollback,
    );
    return { Warnings: null };
  });
  api.route("DELETE", "/services/{id}", async (req) => {
    await removeService(store(), req.params["id"]!);
  });

  // ---- tasks
  api.route("GET", "/tasks", async (req) => {
    const { tasks, services, nodes } = await swarm.clusterState();
    const names = new Map(services.map((x) => [x.ID, x.Spec.Name]));
    return filterTasks(tasks, queryFilters(req.query), services, nodes).map((t) =>
      taskJson(t, names.get(t.ServiceID)),
    );
  });
  api.route("GET", "/tasks/{id}", async (req) => {
    const s = store();
    const tasks = await s.list<TaskRecord>("tasks");
    const id = req.params["id"]!;
    const task = tasks.find((t) => t.ID === id) ?? tasks.filter((t) => t.ID.startsWith(id)).at(0);
    if (!task) throw new NotFound(`task ${id} not found`);
    const service = await s.get<ServiceRecord>("services", task.ServiceID);
    return taskJson(task, service?.Spec.Name);
  });

  // ---- secrets and configs
  for (const kind of ["secret", "config"] as const) {
    const base = `/${kind}s`;
    const plural = kind === "secret" ? "secrets" : "configs";
    const shown = (f: SecretRecord) => fileJson(kind, f, kind === "config" ? swarm.caKey() : undefined);
    api.route("GET", base, async (req) => {
      const s = store();
      return filterFiles(await s.list<SecretRecord>(plural), queryFilters(req.query)).map(shown);
    });
    api.route("GET", `${base}/{id}`, async (req) => shown(await findFile(store(), kind, req.params["id"]!)));
    api.route("DELETE", `${base}/{id}`, async (req) => {
      await removeFile(store(), kind, req.params["id"]!);
    });
    api.route("POST", `${base}/{id}/update`, async (req) => {
      const version = versionOf(req, kind);
      const s = store();
      await updateFileLabels(s, kind, req.params["id"]!, version, await req.json());
    });
    api.route("POST", `${base}/create`, async (req, res) => {
      const s = store();
      const id = await createFile(s, swarm.caKey(), kind, await req.json());
      res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify({ ID: id }));
    });
  }

  const logs = async (
    req: Request,
    res: ServerResponse,
    pick: (tasks: TaskRecord[], s: ClusterStore) => Promise<TaskRecord[]>,
  ) => {
    checkStreams(req);
    const s = store();
    const [tasks, nodes] = await Promise.all([s.list<TaskRecord>("tasks"), s.list<NodeRecord>("nodes")]);
    const chosen = (await pick(tasks, s)).filter((t) => t.NodeID);
    const tty = chosen.some((t) => t.Spec.ContainerSpec.TTY);
    res.writeHead(200, { "Content-Type": tty ? RAW : MULTIPLEXED });
    res.flushHeaders();
    const abort = new AbortController();
    res.once("close", () => abort.abort());
    await swarm.taskLogs(
      chosen,
      nodes,
      logQuery(req.query),
      async (stream, line) => {
        if (!res.write(tty ? line : muxFrame(stream === "stdout" ? 1 : 2, line)))
          await new Promise((r) => res.once("drain", r));
      },
      abort.signal,
    );
    res.end();
  };
  api.route("GET", "/services/{id}/logs", (req, res) =>
    logs(req, res, async (tasks, s) => {
      const service = await findService(s, req.params["id"]!);
      return tasks.filter((t) => t.ServiceID === service.ID);
    }),
  );
  api.route("GET", "/tasks/{id}/logs", (req, res) =>
    logs(req, res, async (tasks) => {
      const id = req.params["id"]!;
      const task = tasks.find((t) => t.ID === id) ?? tasks.find((t) => t.ID.startsWith(id));
      if (!task) throw new NotFound(`task ${id} not found`);
      return [task];
    }),
  );
}
