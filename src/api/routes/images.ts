/** The Docker API's /images routes that read and name images (list, inspect, history, tag, rmi). */
import type { ServerResponse } from "node:http";
import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import { applyChanges } from "../../image/changes.js";
import { importImage } from "../../image/import.js";
import { parsePlatform } from "../../image/platform.js";
import type { ProgressEvent } from "../../image/progress.js";
import { type ApiServer, queryBool, queryFilters, type Request } from "../server.js";

export function imageRoutes(api: ApiServer, engine: Engine): void {
  const images = engine.images;

  api.route("GET", "/images/json", (req) => {
    const filters = queryFilters(req.query);
    const dangling = filters["dangling"]?.[0];
    const references = filters["reference"] ?? [];
    const containers = engine.store.all();
    return images
      .list()
      .filter((i) => dangling === undefined || (dangling === "true") === (i.repoTags.length === 0))
      .filter(
        (i) =>
          !references.length ||
          i.repoTags.some((t) =>
            references.some((r) => globMatch(r, t) || globMatch(r, t.replace(/:[^:/]*$/, ""))),
          ),
      )
      .map((i) => ({
        Id: i.id,
        ParentId: "",
        RepoTags: i.repoTags,
        RepoDigests: i.repoDigests,
        Created: i.created ? Math.floor(Date.parse(i.created) / 1000) : 0,
        Size: i.size,
        SharedSize: -1,
        VirtualSize: i.size,
        Labels: null,
        Containers: queryBool(req.query, "shared-size")
          ? containers.filter((c) => c.Image === i.id).length
          : -1,
      }));
  });

  api.route("GET", "/images/{name*}/json", async (req) => {
    const image = images.resolve(req.params["name"]!);
    const config = await images.config(image);
    const summary = images.list().find((i) => i.id === image.id);
    return {
      Id: image.id,
      RepoTags: summary?.repoTags ?? [],
      RepoDigests: summary?.repoDigests ?? [],
      Parent: "",
      Comment: config.history?.at(-1)?.comment ?? "",
      Created: config.created ?? "",
      DockerVersion: "",
      Author: config.author ?? "",
      Config: config.config ?? {},
      Architecture: config.architecture,
      ...(config.variant ? { Variant: config.variant } : {}),
      Os: config.os,
      Size: summary?.size ?? 0,
      GraphDriver: { Name: engine.snapshotter.name, Data: null },
      RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
      Metadata: { LastTagTime: image.added },
    };
  });

  api.route("GET", "/images/{name*}/history", async (req) =>
    (await images.history(req.params["name"]!)).map((h) => ({
      Id: h.id,
      Created: h.created ? Math.floor(Date.parse(h.created) / 1000) : 0,
      CreatedBy: h.createdBy,
      Tags: h.id.startsWith("sha256:") ? (images.list().find((i) => i.id === h.id)?.repoTags ?? null) : null,
      Size: h.size,
      Comment: h.comment,
    })),
  );

  api.route("POST", "/images/{name*}/tag", async (req, res) => {
    const repo = req.query.get("repo") ?? "";
    const tag = req.query.get("tag") ?? "";
    await images.tag(req.params["name"]!, tag ? `${repo}:${tag}` : repo);
    engine.events.emit("image", "tag", images.resolve(req.params["name"]!).id, {
      name: tag ? `${repo}:${tag}` : repo,
    });
    res.writeHead(201).end();
  });

  /** Docker's progress stream: JSON lines, an error after the head as `{errorDetail, error}`. */
  const progressStream = async (
    res: ServerResponse,
    work: (onProgress: (e: ProgressEvent) => void) => Promise<void>,
  ): Promise<void> => {
    const start = () => {
      if (!res.headersSent) res.writeHead(200, { "Content-Type": "application/json" });
    };
    try {
      await work((e) => {
        start();
        res.write(`${JSON.stringify(e)}\n`);
      });
    } catch (err) {
      if (!res.headersSent) throw err;
      const message = (err as Error).message;
      res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
    }
    start();
    res.end();
  };

  /** `docker import`: the request body is a root filesystem tar (fromSrc=-). */
  const importFromSource = async (req: Request, res: ServerResponse): Promise<void> => {
    if (req.query.get("fromSrc") !== "-")
      throw new InvalidArgument("fromImage or fromSrc=- (a tar in the request body) is required");
    const repo = req.query.get("repo");
    const tag = req.query.get("tag");
    const reference = repo ? (tag ? `${repo}:${tag}` : repo) : undefined;
    const message = req.query.get("message");
    const config = applyChanges({}, req.query.getAll("changes"));
    await progressStream(res, async (onProgress) => {
      const image = await importImage(images, req.raw, {
        ...(reference ? { reference } : {}),
        ...(message ? { message } : {}),
        config,
      });
      engine.events.emit("image", "import", image.id, { name: reference ?? image.id });
      onProgress({ status: image.id });
    });
  };

  api.route("POST", "/images/create", async (req, res) => {
    const from = req.query.get("fromImage");
    if (!from) return importFromSource(req, res);
    const tag = req.query.get("tag");
    const reference = tag ? (tag.startsWith("sha256:") ? `${from}@${tag}` : `${from}:${tag}`) : from;
    const platformText = req.query.get("platform");
    await progressStream(res, async (onProgress) => {
      const image = await images.pull(reference, {
        onProgress,
        ...(platformText ? { platform: parsePlatform(platformText) } : {}),
      });
      engine.events.emit("image", "pull", image.id, { name: reference });
    });
  });

  api.route("POST", "/images/{name*}/push", async (req, res) => {
    const tag = req.query.get("tag");
    const reference = tag ? `${req.params["name"]!}:${tag}` : req.params["name"]!;
    await progressStream(res, async (onProgress) => {
      const { digest, size } = await images.push(reference, { onProgress });
      onProgress({ status: `${tag || "latest"}: digest: ${digest} size: ${size}` });
      engine.events.emit("image", "push", digest, { name: reference });
    });
  });

  api.route("POST", "/images/prune", async (req) => {
    const dangling = queryFilters(req.query)["dangling"]?.[0];
    const result = await images.prune({ all: dangling === "false" || dangling === "0" });
    return {
      ImagesDeleted: result.deleted.length ? result.deleted.map((d) => ({ Deleted: d })) : null,
      SpaceReclaimed: result.spaceReclaimed,
    };
  });

  api.route("DELETE", "/images/{name*}", async (req) => {
    const result = await images.remove(req.params["name"]!, { force: queryBool(req.query, "force") });
    for (const u of result.untagged) engine.events.emit("image", "untag", u, { name: u });
    for (const d of result.deleted) engine.events.emit("image", "delete", d, { name: d });
    return [...result.untagged.map((u) => ({ Untagged: u })), ...result.deleted.map((d) => ({ Deleted: d }))];
  });
}

/** Docker's reference filter: a glob over the familiar name. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, "[^/]*")
      .replace(/\?/g, ".")}$`,
  );
  return re.test(name);
}
