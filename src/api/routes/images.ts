/** The Docker API's /images routes that read and name images (list, inspect, history, tag, rmi). */

import { mkdtemp, rm } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import { applyChanges } from "../../image/changes.js";
import { distributionInspect } from "../../image/distribution.js";
import { loadDockerArchive, saveDockerArchive } from "../../image/docker-archive.js";
import { importImage } from "../../image/import.js";
import type { ContainerConfig } from "../../image/manifest.js";
import { exportOciLayout, importOciLayout, layoutRefNames } from "../../image/oci-layout.js";
import { parsePlatform } from "../../image/platform.js";
import { familiarString, parseReference } from "../../image/reference.js";
import type { ImageSummary } from "../../image/service.js";
import { directoryTar } from "../../snapshot/diff.js";
import { readFileInTree, statInTree } from "../../snapshot/tree-reader.js";
import { unpackLayer } from "../../snapshot/unpack.js";
import { progressStream, registryAuth } from "../registry-stream.js";
import { type ApiServer, queryBool, queryFilters, type Request, versionAtLeast } from "../server.js";

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
      .map((i) =>
        imageSummaryJson(
          i,
          queryBool(req.query, "shared-size") ? containers.filter((c) => c.Image === i.id).length : -1,
        ),
      );
  });

  // What a registry holds under a name (docker's CLI asks before `service create`).
  api.route("GET", "/distribution/{name*}/json", async (req) =>
    distributionInspect(engine.images, req.params["name"]!, registryAuth(req).credentials),
  );

  api.route("GET", "/images/{name*}/json", async (req) => {
    const image = images.resolve(req.params["name"]!);
    const config = await images.config(image);
    const summary = images.list().find((i) => i.id === image.id);
    return {
      Id: image.id,
      RepoTags: summary?.repoTags ?? [],
      RepoDigests: summary?.repoDigests ?? [],
      Parent: image.parent ?? "",
      Comment: config.history?.at(-1)?.comment ?? "",
      Created: config.created ?? "",
      DockerVersion: "",
      Author: config.author ?? "",
      // Removed from this answer in API 1.45 (Container, ContainerConfig) and 1.44 (VirtualSize).
      ...(versionAtLeast(req.version, "1.45")
        ? {}
        : { Container: "", ContainerConfig: dockerContainerConfig({}) }),
      Config: dockerContainerConfig(config.config ?? {}),
      Architecture: config.architecture,
      ...(config.variant ? { Variant: config.variant } : {}),
      Os: config.os,
      Size: summary?.size ?? 0,
      ...(versionAtLeast(req.version, "1.44") ? {} : { VirtualSize: summary?.size ?? 0 }),
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
        ...registryAuth(req),
        ...(platformText ? { platform: parsePlatform(platformText) } : {}),
      });
      engine.events.emit("image", "pull", image.id, { name: reference });
    });
  });

  api.route("POST", "/images/{name*}/push", async (req, res) => {
    const tag = req.query.get("tag");
    const reference = tag ? `${req.params["name"]!}:${tag}` : req.params["name"]!;
    await progressStream(res, async (onProgress) => {
      const { digest, size } = await images.push(reference, { onProgress, ...registryAuth(req) });
      onProgress({ status: `${tag || "latest"}: digest: ${digest} size: ${size}` });
      engine.events.emit("image", "push", digest, { name: reference });
    });
  });

  /** `docker save`: one tar of the named images (docker-archive, or an OCI layout with format=oci). */
  const save = async (names: string[], oci: boolean, res: ServerResponse) => {
    if (!names.length) throw new InvalidArgument("names is required: the images to save");
    for (const n of names) images.resolve(n); // a 404 before any byte is sent
    res.writeHead(200, { "Content-Type": "application/x-tar" });
    const write = (chunk: Buffer) =>
      res.write(chunk) ? Promise.resolve() : new Promise<void>((r) => res.once("drain", () => r()));
    if (!oci) {
      for await (const chunk of saveDockerArchive(images, names)) await write(chunk);
    } else {
      const dir = await mkdtemp(join(tmpdir(), "berth-save-"));
      try {
        await exportOciLayout(images, names, dir);
        for await (const chunk of directoryTar(dir)) await write(chunk);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    res.end();
  };
  api.route("GET", "/images/get", (req, res) =>
    save(req.query.getAll("names"), req.query.get("format") === "oci", res),
  );
  api.route("GET", "/images/{name*}/get", (req, res) =>
    save([req.params["name"]!], req.query.get("format") === "oci", res),
  );

  /** `docker load`: a docker-archive tar, or an OCI layout as a tar (told apart by its oci-layout file). */
  api.route("POST", "/images/load", async (req, res) => {
    const dir = await mkdtemp(join(tmpdir(), "berth-load-"));
    // Answered at once, as dockerd does: a failure from here on is told in the stream.
    res.writeHead(200, { "Content-Type": "application/json" });
    try {
      await unpackLayer(req.raw, dir, "apply").catch((err: Error) => {
        throw new InvalidArgument(`not an image archive: ${err.message}`);
      });
      const loaded: string[] = [];
      // What the archive unpacked is read inside its directory: it may hold symlinks.
      if (await statInTree(dir, "oci-layout")) {
        const refs = await layoutRefNames(dir);
        for (const entry of refs.length ? refs : [undefined]) {
          const image = await importOciLayout(images, dir, {
            ...(entry ? { refName: entry.ref } : {}),
            ...(entry?.name ? { name: entry.name } : {}),
          });
          loaded.push(
            entry?.name
              ? `Loaded image: ${familiarString(parseReference(entry.name))}`
              : `Loaded image ID: ${image.id}`,
          );
        }
      } else {
        const loadedImages = await loadDockerArchive(images, directoryTar(dir));
        // Report the names the archive gives (manifest.json's RepoTags), as docker load does.
        const entries = JSON.parse((await readFileInTree(dir, "manifest.json"))?.toString() ?? "[]") as {
          RepoTags?: string[] | null;
        }[];
        loadedImages.forEach((image, i) => {
          const tags = entries[i]?.RepoTags ?? [];
          loaded.push(
            ...(tags.length ? tags.map((t) => `Loaded image: ${t}`) : [`Loaded image ID: ${image.id}`]),
          );
        });
      }
      for (const line of loaded) res.write(`${JSON.stringify({ stream: `${line}\n` })}\n`);
      res.end();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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
    // Names as docker prints them: "busybox:latest", not "docker.io/library/busybox:latest".
    const familiar = (name: string) => familiarString(parseReference(name));
    return [
      ...result.untagged.map((u) => ({ Untagged: familiar(u) })),
      ...[...result.deleted, ...result.layers].map((d) => ({ Deleted: d })),
    ];
  });
}

/** The API's ImageSummary; `containers` is -1 when not counted. */
export function imageSummaryJson(i: ImageSummary, containers: number) {
  return {
    Id: i.id,
    ParentId: "",
    RepoTags: i.repoTags,
    RepoDigests: i.repoDigests,
    Created: i.created ? Math.floor(Date.parse(i.created) / 1000) : 0,
    Size: i.size,
    SharedSize: -1,
    VirtualSize: i.size,
    Labels: null,
    Containers: containers,
  };
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

/**
 * An image's container config with every field dockerd sends (Go's container.Config): zero
 * values where the image has none, the omitempty ones only when set, in docker's order.
 */
export function dockerContainerConfig(c: ContainerConfig): Record<string, unknown> {
  const optional = (key: keyof ContainerConfig) => (c[key] !== undefined ? { [key]: c[key] } : {});
  return {
    Hostname: "",
    Domainname: "",
    User: c.User ?? "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts && Object.keys(c.ExposedPorts).length ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env ?? null,
    Cmd: c.Cmd ?? null,
    ...optional("Healthcheck"),
    ...(c.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: "",
    Volumes: c.Volumes ?? null,
    WorkingDir: c.WorkingDir ?? "",
    Entrypoint: c.Entrypoint ?? null,
    OnBuild: c.OnBuild ?? null,
    Labels: c.Labels ?? null,
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.Shell?.length ? { Shell: c.Shell } : {}),
  };
}
