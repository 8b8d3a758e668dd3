import { createContainer } from "../../engine/container-create.js";
import { removeContainer } from "../../engine/container-remove.js";
import { addPendingAttacher, attachToMonitor, startContainer } from "../../engine/container-start.js";
import {
  killContainer,
  pauseContainer,
  restartContainer,
  stopContainer,
  unpauseContainer,
} from "../../engine/container-stop.js";
import { filterContainers, summary } from "../../engine/container-summary.js";
import type { ContainerRecord, CreateBody, HostConfig } from "../../engine/docker-types.js";
import type { Engine } from "../../engine/engine.js";
import { parseLink } from "../../engine/links.js";
import { parseLogTime, readLogs } from "../../engine/logs.js";
import { validateName } from "../../engine/names.js";
import { dockerStats } from "../../engine/stats.js";
import { containerDiskUsage } from "../../engine/system-df.js";
import { topProcesses } from "../../engine/top.js";
import { Conflict, InvalidArgument, NotFound } from "../../errors.js";
import { connectMonitor } from "../../runtime/native/channel.js";
import { Attach, Msg } from "../../runtime/native/protocol.js";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../../util/detach-keys.js";
import { type ApiServer, hijack, queryBool, queryFilters, type Request, versionAtLeast } from "../server.js";
import { MULTIPLEXED, muxFrame, RAW, relay } from "../streams.js";

function optionalInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgument(`invalid value for ${name}: ${v}`);
  return n;
}

/** Docker's per-container wait conditions, answered from the event stream. */
function waitFor(
  engine: Engine,
  record: ContainerRecord,
  condition: string,
): Promise<{ StatusCode: number; Error?: { Message: string } }> {
  if (!["not-running", "next-exit", "removed", ""].includes(condition))
    throw new InvalidArgument(`invalid condition: "${condition}"`);
  const cond = condition || "not-running";
  if (cond === "not-running" && !record.State.Running && !record.State.Restarting)
    return Promise.resolve({ StatusCode: record.State.ExitCode });
  return new Promise((resolve) => {
    let exitCode = record.State.ExitCode;
    const unsubscribe = engine.events.subscribe((e) => {
      if (e.Type !== "container" || e.Actor.ID !== record.Id) return;
      if (e.Action === "die") {
        exitCode = Number(e.Actor.Attributes["exitCode"] ?? 0);
        const current = engine.store.find(record.Id);
        // A container about to be restarted or removed is not done for these conditions yet.
        if (cond === "removed" || (cond === "not-running" && current?.State.Restarting)) return;
        unsubscribe();
        resolve({ StatusCode: exitCode });
      } else if (e.Action === "destroy") {
        unsubscribe();
        resolve({ StatusCode: exitCode });
      }
    });
  });
}

export function containerRoutes(api: ApiServer, engine: Engine): void {
  const get = (req: Request) => engine.store.get(req.params["id"]!);

  api.route("POST", "/containers/create", async (req, res) => {
    const body = await req.json<CreateBody>();
    if (!body) throw new InvalidArgument("config cannot be empty in order to create a container");
    const name = req.query.get("name") || undefined;
    const result = await createContainer(engine, body, name);
    res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify(result));
  });

  api.route("GET", "/containers/json", (req) => {
    const filters = queryFilters(req.query);
    const limit = optionalInt(req.query, "limit") ?? -1;
    // Stopped ones too when asked for, for a --last N, or when filtering on how they ended.
    const all = queryBool(req.query, "all") || limit > 0 || "status" in filters || "exited" in filters;
    let list = filterContainers(
      engine.store.all(),
      filters,
      (x) => engine.store.get(x),
      (c, ref) => {
        try {
          return engine.images.resolve(ref).id === c.Image;
        } catch {
          return c.Config.Image === ref;
        }
      },
    );
    if (!all) list = list.filter((c) => c.State.Running || c.State.Restarting);
    list.sort((a, b) => Date.parse(b.Created) - Date.parse(a.Created));
    if (limit > 0) list = list.slice(0, limit);
    const everyContainer = engine.store.all();
    return list.map((c) => summary(c, (id) => id, everyContainer));
  });

  api.route("GET", "/containers/{id}/json", (req) => {
    const c = get(req);
    const { Berth: _private, ...inspect } = c;
    return { ...inspect, State: { ...c.State, Health: c.State.Health } };
  });

  api.route("POST", "/containers/{id}/start", async (req, res) => {
    const c = get(req);
    if (c.State.Running) {
      res.writeHead(304).end();
      return;
    }
    await engine.lock(c.Id, async () => {
      try {
        await startContainer(engine, c);
      } catch (err) {
        // As dockerd: a --rm container that cannot start is removed, which also ends the
        // client's `wait?condition=removed`.
        if (c.HostConfig.AutoRemove) await removeContainer(engine, c, { volumes: true, force: true });
        throw err;
      }
    });
  });

  api.route("POST", "/containers/{id}/stop", async (req, res) => {
    const c = get(req);
    const result = await engine.lock(c.Id, () =>
      stopContainer(
        engine,
        c,
        optionalInt(req.query, "t") ?? optionalInt(req.query, "timeout"),
        req.query.get("signal") ?? undefined,
      ),
    );
    if (result === "not-running") res.writeHead(304).end();
  });

  api.route("POST", "/containers/{id}/kill", async (req) => {
    const c = get(req);
    await killContainer(engine, c, req.query.get("signal") || "SIGKILL");
  });

  api.route("POST", "/containers/{id}/restart", async (req) => {
    const c = get(req);
    await engine.lock(c.Id, () =>
      restartContainer(engine, c, optionalInt(req.query, "t"), req.query.get("signal") ?? undefined),
    );
  });

  api.route("POST", "/containers/{id}/pause", async (req) => {
    const c = get(req);
    await engine.lock(c.Id, () => pauseContainer(engine, c));
  });

  api.route("POST", "/containers/{id}/unpause", async (req) => {
    const c = get(req);
    await engine.lock(c.Id, () => unpauseContainer(engine, c));
  });

  api.route("POST", "/containers/{id}/wait", async (req, res) => {
    const c = get(req);
    const wait = waitFor(engine, c, req.query.get("condition") ?? "");
    // Headers now, body at the exit: the docker CLI waits for them before it starts the container.
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    res.end(`${JSON.stringify(await wait)}\n`);
  });

  /** `rm --link SELF/ALIAS`: the link goes, both containers stay. */
  const removeLink = async (name: string) => {
    const [self = "", alias] = name.replace(/^\//, "").split("/");
    const c = engine.store.get(self);
    if (!alias) throw new InvalidArgument(`Conflict, ${c.Name} is not a link (name it as CONTAINER/ALIAS)`);
    const links = c.HostConfig.Links ?? [];
    const kept = links.filter((l) => parseLink(l).alias !== alias);
    if (kept.length === links.length) throw new NotFound(`No such link: ${c.Name}/${alias}`);
    await engine.lock(c.Id, async () => {
      c.HostConfig.Links = kept.length ? kept : null;
      engine.save(c);
    });
  };

  // The docker CLI sends the link's name unescaped, as two path elements.
  api.route("DELETE", "/containers/{self}/{alias}", async (req) => {
    if (!queryBool(req.query, "link")) throw new NotFound("page not found");
    await removeLink(`${req.params["self"]}/${req.params["alias"]}`);
  });

  api.route("DELETE", "/containers/{id}", async (req) => {
    if (queryBool(req.query, "link")) return removeLink(req.params["id"]!);
    const c = get(req);
    await engine.lock(c.Id, () =>
      removeContainer(engine, c, {
        force: queryBool(req.query, "force"),
        volumes: queryBool(req.query, "v"),
      }),
    );
  });

  api.route("POST", "/containers/{id}/rename", async (req) => {
    const c = get(req);
    const name = req.query.get("name");
    if (!name) throw new InvalidArgument("Neither old nor new names may be empty");
    const newName = validateName(name);
    if (newName === c.Name) throw new Conflict(`Renaming a container with the same name as its current name`);
    const old = c.Name;
    engine.store.rename(c, newName);
    engine.events.container(c, "rename", { oldName: old });
  });

  api.route("POST", "/containers/{id}/update", async (req) => {
    const c = get(req);
    const body = (await req.json<Partial<HostConfig>>()) ?? {};
    const warnings: string[] = [];
    const fields = [
      "Memory",
      "MemorySwap",
      "MemoryReservation",
      "NanoCpus",
      "CpuShares",
      "CpuPeriod",
      "CpuQuota",
      "CpusetCpus",
      "CpusetMems",
      "PidsLimit",
      "BlkioWeight",
      "RestartPolicy",
    ] as const;
    const updated = { ...c.HostConfig };
    for (const f of fields)
      if (body[f] !== undefined && body[f] !== null) (updated as Record<string, unknown>)[f] = body[f];
    const { validateHostConfig } = await import("../../engine/container-create.js");
    validateHostConfig(updated);
    if (c.State.Running) {
      const { containerResources } = await import("../../engine/container-spec.js");
      engine.runtime.update(c.Id, containerResources(updated));
    }
    c.HostConfig = updated;
    engine.save(c);
    engine.events.container(c, "update");
    return { Warnings: warnings };
  });

  api.route("GET", "/containers/{id}/top", (req) => {
    const c = get(req);
    if (!c.State.Running) throw new Conflict(`Container ${c.Id} is not running`);
    return topProcesses(
      engine.runtime.ctx.cgroupOf(engine.runtime.record(c.Id)).processes(),
      req.query.get("ps_args") ?? "-ef",
    );
  });

  api.route("GET", "/containers/{id}/logs", async (req, res) => {
    const c = get(req);
    const stdout = queryBool(req.query, "stdout");
    const stderr = queryBool(req.query, "stderr");
    if (!stdout && !stderr) throw new InvalidArgument("Bad parameters: you must choose at least one stream");
    const tailText = req.query.get("tail");
    const tail = tailText && tailText !== "all" ? Number(tailText) : undefined;
    if (tail !== undefined && !Number.isInteger(tail))
      throw new InvalidArgument(`invalid value for tail: ${tailText}`);
    const timestamps = queryBool(req.query, "timestamps");
    const tty = c.Config.Tty;
    res.writeHead(200, {
      "Content-Type": tty ? RAW : versionAtLeast(req.version, "1.42") ? MULTIPLEXED : RAW,
    });
    res.flushHeaders();
    if (!c.LogPath) {
      res.end();
      return;
    }
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    const since = parseLogTime(req.query.get("since"));
    const until = parseLogTime(req.query.get("until"));
    for await (const e of readLogs(c.LogPath, {
      stdout,
      stderr,
      ...(since !== undefined ? { since } : {}),
      ...(until !== undefined ? { until } : {}),
      ...(tail !== undefined && tail >= 0 ? { tail } : {}),
      follow: queryBool(req.query, "follow"),
      stopped: () => !engine.store.find(c.Id)?.State.Running,
      signal: abort.signal,
    })) {
      const text = Buffer.from(timestamps ? `${e.time} ${e.log}` : e.log);
      if (!res.write(tty ? text : muxFrame(e.stream === "stdout" ? 1 : 2, text)))
        await new Promise((r) => res.once("drain", r));
      if (abort.signal.aborted) break;
    }
    res.end();
  });

  api.route("GET", "/containers/{id}/stats", async (req, res) => {
    const c = get(req);
    const stream = queryBool(req.query, "stream", true) && !queryBool(req.query, "one-shot");
    const sample = (prev?: Parameters<typeof dockerStats>[4]) => {
      const current = engine.store.find(c.Id);
      if (!current?.State.Running) return undefined;
      return dockerStats(c.Id, c.Name, current.State.Pid, engine.runtime.stats(c.Id), prev);
    };
    res.writeHead(200, { "Content-Type": "application/json" });
    if (!stream) {
      // --no-stream wants a CPU percentage too, which needs two samples.
      const first = sample();
      if (first && !queryBool(req.query, "one-shot")) await new Promise((r) => setTimeout(r, 1000));
      const second = first ? sample({ cpu: first.cpu_stats, read: first.read }) : undefined;
      res.end(`${JSON.stringify(second ?? emptyStats(c))}\n`);
      return;
    }
    let prev: Parameters<typeof dockerStats>[4];
    let closed = false;
    res.on("close", () => {
      closed = true;
    });
    while (!closed) {
      const s = sample(prev);
      res.write(`${JSON.stringify(s ?? emptyStats(c))}\n`);
      if (!s) break;
      prev = { cpu: s.cpu_stats, read: s.read };
      await new Promise((r) => setTimeout(r, 1000));
    }
    res.end();
  });

  api.route("POST", "/containers/{id}/attach", async (req, res) => {
    const c = get(req);
    const wantStdin = queryBool(req.query, "stdin") && c.Config.OpenStdin;
    const wantStdout = queryBool(req.query, "stdout");
    const wantStderr = queryBool(req.query, "stderr");
    const detachKeys = req.query.get("detachKeys")
      ? parseDetachKeys(req.query.get("detachKeys")!)
      : DEFAULT_DETACH_KEYS;
    const flags =
      (wantStdin ? Attach.STDIN : 0) | (wantStdout ? Attach.STDOUT : 0) | (wantStderr ? Attach.STDERR : 0);
    const contentType = c.Config.Tty ? RAW : MULTIPLEXED;
    let channel: Awaited<ReturnType<typeof attachToMonitor>> | undefined;
    if (c.State.Running) {
      channel = await attachToMonitor(engine.runtime.ctx.dir.controlSocket(c.Id), flags).catch(
        () => undefined,
      );
      // Its process has just exited: let the exit be recorded before answering, so that what
      // the client reads next says it is not running, and it starts it again (docker-compose
      // run attaches after its first start); then, as for a stopped container, the attach
      // waits for the next start.
      if (!channel) await engine.running.get(c.Id)?.exited;
    }
    const h = hijack(req, contentType);
    const client = h?.socket ?? res;
    if (!h) res.writeHead(200, { "Content-Type": contentType });
    if (h?.head.length) h.socket.unshift(h.head);
    // `logs`: what the container printed so far comes first; without `stream` that is all.
    if (queryBool(req.query, "logs") && c.LogPath && (wantStdout || wantStderr))
      for await (const e of readLogs(c.LogPath, {
        stdout: wantStdout,
        stderr: wantStderr,
        follow: false,
        stopped: () => true,
      })) {
        const text = Buffer.from(e.log);
        client.write(c.Config.Tty ? text : muxFrame(e.stream === "stdout" ? 1 : 2, text));
      }
    if (!queryBool(req.query, "stream")) {
      channel?.close();
      client.end();
      return;
    }
    if (!channel && !engine.store.find(c.Id)) {
      client.end(); // removed at its exit (--rm): nothing will start it again
      return;
    }
    if (!channel) {
      // Not started yet (docker run attaches first, docker-compose run sometimes after a start
      // that has already ended): docker's attach takes the output of the next start.
      channel = await new Promise<Awaited<ReturnType<typeof attachToMonitor>>>((resolve, reject) => {
        const cancel = addPendingAttacher(c.Id, {
          flags,
          ready: (ch) => (ch instanceof Error ? reject(ch) : resolve(ch)),
        });
        client.once("close", () => {
          cancel();
          reject(new Error("client went away"));
        });
      }).catch(() => undefined);
      if (!channel) return;
    }
    await relay(channel, client, {
      tty: c.Config.Tty,
      stdin: wantStdin && h !== undefined,
      detachKeys,
      closeStdinOnEnd: c.Config.StdinOnce && !c.Config.Tty,
      onDetach: () => engine.events.container(c, "detach"),
    });
  });

  api.route("POST", "/containers/{id}/resize", async (req) => {
    const c = get(req);
    if (!c.State.Running) throw new Conflict(`Container ${c.Id} is not running`);
    const h = optionalInt(req.query, "h") ?? 0;
    const w = optionalInt(req.query, "w") ?? 0;
    const channel = await connectMonitor(engine.runtime.ctx.dir.controlSocket(c.Id));
    const size = Buffer.alloc(4);
    size.writeUInt16LE(h, 0);
    size.writeUInt16LE(w, 2);
    channel.send(Msg.RESIZE, size);
    channel.socket.end();
  });

  api.route("POST", "/containers/prune", async (req) => {
    const filters = queryFilters(req.query);
    for (const k of Object.keys(filters))
      if (k !== "until" && k !== "label") throw new InvalidArgument(`invalid filter '${k}'`);
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of engine.store.all()) {
      if (c.State.Running || c.State.Restarting) continue;
      const until = filters["until"]?.[0];
      if (until && Date.parse(c.Created) / 1000 >= (parseLogTime(until) ?? 0)) continue;
      if (
        filters["label"] &&
        !filters["label"].every((l) =>
          l.includes("=")
            ? c.Config.Labels[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1)
            : l in c.Config.Labels,
        )
      )
        continue;
      // Its writable layer and its logs: what its removal gives back.
      reclaimed += await containerDiskUsage(engine, c.Id);
      await engine.lock(c.Id, () => removeContainer(engine, c, {}));
      deleted.push(c.Id);
    }
    engine.events.emit("container", "prune", "", { reclaimed: String(reclaimed) });
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  });
}

function emptyStats(c: ContainerRecord) {
  return {
    read: "0001-01-01T00:00:00Z",
    preread: "0001-01-01T00:00:00Z",
    pids_stats: {},
    blkio_stats: {},
    num_procs: 0,
    storage_stats: {},
    cpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} },
    precpu_stats: { cpu_usage: { total_usage: 0 }, throttling_data: {} },
    memory_stats: {},
    name: c.Name,
    id: c.Id,
  };
}
