/** The Docker API's /images routes that read and name images (list, inspect, history, tag, rmi). */
import type { Engine } from "../../engine/engine.js";
import { type ApiServer, queryBool, queryFilters } from "../server.js";

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
