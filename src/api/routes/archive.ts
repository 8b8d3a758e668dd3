/** The Docker API's routes over a container's files: archive (cp), export, changes (diff), commit. */
import type { ServerResponse } from "node:http";
import {
  containerChanges,
  exportContainer,
  extractInto,
  pathTar,
  statPath,
  withContainerRoot,
} from "../../engine/archive.js";
import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import { applyChanges } from "../../image/changes.js";
import { commitSnapshot } from "../../image/commit.js";
import type { ContainerConfig as ImageContainerConfig } from "../../image/manifest.js";
import { type ApiServer, queryBool, type Request } from "../server.js";

/**
 * Writes a chunk, waiting for the client to take it when its buffer is full; fails when the
 * client has gone, so that a mounted snapshot is not held for a reader that left.
 */
function writer(res: ServerResponse): (chunk: Buffer) => Promise<void> {
  return (chunk) => {
    if (res.destroyed) return Promise.reject(new Error("the client closed the connection"));
    if (res.write(chunk)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const drained = () => {
        res.off("close", closed);
        resolve();
      };
      const closed = () => {
        res.off("drain", drained);
        reject(new Error("the client closed the connection"));
      };
      res.once("drain", drained);
      res.once("close", closed);
    });
  };
}

export function archiveRoutes(api: ApiServer, engine: Engine): void {
  const get = (req: Request) => engine.store.get(req.params["id"]!);
  const pathOf = (req: Request) => {
    const path = req.query.get("path");
    if (!path) throw new InvalidArgument("path is required: the file or directory in the container");
    return path;
  };
  const statHeader = (stat: object) => Buffer.from(JSON.stringify(stat)).toString("base64");

  api.route("HEAD", "/containers/{id}/archive", async (req, res) => {
    const path = pathOf(req);
    const c = get(req);
    await withContainerRoot(
      engine,
      c,
      async (root) => {
        const stat = await statPath(root, path, c.Name.slice(1));
        res.writeHead(200, { "X-Docker-Container-Path-Stat": statHeader(stat) }).end();
      },
      { volumes: true },
    );
  });

  api.route("GET", "/containers/{id}/archive", async (req, res) => {
    const path = pathOf(req);
    const c = get(req);
    await withContainerRoot(
      engine,
      c,
      async (root) => {
        const stat = await statPath(root, path, c.Name.slice(1));
        res.writeHead(200, {
          "Content-Type": "application/x-tar",
          "X-Docker-Container-Path-Stat": statHeader(stat),
        });
        const write = writer(res);
        for await (const chunk of pathTar(root, path)) await write(chunk);
        res.end();
      },
      { volumes: true },
    );
  });

  api.route("PUT", "/containers/{id}/archive", async (req, res) => {
    const path = pathOf(req);
    const c = get(req);
    if (c.HostConfig.ReadonlyRootfs && c.State.Running)
      throw new InvalidArgument("container rootfs is marked read-only");
    await withContainerRoot(engine, c, (root) => extractInto(root, path, req.raw), { volumes: true });
    res.writeHead(200).end();
  });

  api.route("GET", "/containers/{id}/export", async (req, res) => {
    const c = get(req);
    res.writeHead(200, { "Content-Type": "application/x-tar" });
    await exportContainer(engine, c, writer(res));
    res.end();
    engine.events.container(c, "export");
  });

  api.route("GET", "/containers/{id}/changes", async (req) => {
    const changes = await containerChanges(engine, get(req));
    return changes.length ? changes : null;
  });

  api.route("POST", "/commit", async (req, res) => {
    const name = req.query.get("container");
    if (!name) throw new InvalidArgument("container is required");
    const c = engine.store.get(name);
    const repo = req.query.get("repo");
    const tag = req.query.get("tag");
    const reference = repo ? `${repo}${tag ? `:${tag}` : ""}` : undefined;
    // As dockerd: the new image runs as the container was configured, then the body's and the
    // --change instructions' settings on top.
    const body = (await req.json<ImageContainerConfig>()) ?? {};
    const k = c.Config;
    const fromContainer: ImageContainerConfig = {
      Env: k.Env,
      Cmd: k.Cmd ?? undefined,
      Entrypoint: k.Entrypoint ?? undefined,
      WorkingDir: k.WorkingDir,
      User: k.User,
      Labels: k.Labels,
      ...(k.ExposedPorts ? { ExposedPorts: k.ExposedPorts } : {}),
      ...(k.Volumes ? { Volumes: k.Volumes } : {}),
      ...(k.StopSignal ? { StopSignal: k.StopSignal } : {}),
      ...(k.Healthcheck ? { Healthcheck: k.Healthcheck } : {}),
    };
    const config = applyChanges({ ...fromContainer, ...body }, req.query.getAll("changes"));
    const wanted = c.State.Running && !c.State.Paused && queryBool(req.query, "pause", true);
    // A container that exits just now (its record says running a moment longer) is committed
    // as a stopped one is: there is nothing left to pause.
    const pause =
      wanted &&
      (await engine.runtime.pause(c.Id).then(
        () => true,
        (err: unknown) => {
          if (stoppedNow(engine, c.Id)) return false;
          throw err;
        },
      ));
    try {
      const image = await commitSnapshot(engine.images, c.Id, c.Image, {
        ...(reference ? { reference } : {}),
        config,
        ...(req.query.get("comment") ? { comment: req.query.get("comment")! } : {}),
        ...(req.query.get("author") ? { author: req.query.get("author")! } : {}),
      });
      engine.events.container(c, "commit");
      res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify({ Id: image.id }));
    } finally {
      if (pause) await engine.runtime.resume(c.Id);
    }
  });
}

/** Whether the runtime has seen the container's process end (or forgotten it already). */
function stoppedNow(engine: Engine, id: string): boolean {
  try {
    return engine.runtime.state(id).status === "stopped";
  } catch {
    return true;
  }
}
