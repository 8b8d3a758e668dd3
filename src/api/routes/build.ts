/** The Docker API's classic build endpoint: a tar context in, progress JSON out, as docker build reads it. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../build/builder.js";
import type { BuildCache } from "../../build/cache.js";
import { RunStepFailed } from "../../build/dockerfile.js";
import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import { parseReference } from "../../image/reference.js";
import { unpackLayer } from "../../snapshot/unpack.js";
import { decompress } from "../../util/compression.js";
import { type ApiServer, queryBool } from "../server.js";

function jsonParam<T>(text: string | null, name: string): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InvalidArgument(`${name} is not valid JSON`);
  }
}

export function buildRoutes(api: ApiServer, engine: Engine, cache: BuildCache): void {
  api.route("POST", "/build", async (req, res) => {
    const q = req.query;
    let network = q.get("networkmode") || undefined;
    // Names are checked before anything is built, so that a bad one costs no build.
    for (const tag of q.getAll("t")) parseReference(tag, { defaultTag: true });
    if (network && !["default", "bridge", "none", "host"].includes(network)) {
      // A user-defined network, by name or ID, as the classic builder takes it.
      if (!engine.network)
        throw new InvalidArgument(`network ${network} not found: this daemon has no networking`);
      network = engine.network.describeNetwork(network).name;
    }
    const extraHosts = q
      .getAll("extrahosts")
      .flatMap((h) => h.split(","))
      .filter(Boolean);
    const dir = await mkdtemp(join(tmpdir(), "berth-build-"));
    try {
      // A context may come compressed (`docker build - < context.tar.gz`).
      await unpackLayer(decompress(req.raw), dir, "apply", { durable: false }).catch((err: Error) => {
        throw new InvalidArgument(`the build context is not a tar: ${err.message}`);
      });
      res.writeHead(200, { "Content-Type": "application/json" });
      const say = (line: string) => res.write(`${JSON.stringify({ stream: line })}\n`);
      try {
        await build(
          engine,
          {
            context: dir,
            ...(q.get("dockerfile") ? { dockerfile: q.get("dockerfile")! } : {}),
            tags: q.getAll("t"),
            buildArgs: jsonParam<Record<string, string>>(q.get("buildargs"), "buildargs") ?? {},
            ...(q.get("target") ? { target: q.get("target")! } : {}),
            labels: jsonParam<Record<string, string>>(q.get("labels"), "labels") ?? {},
            noCache: queryBool(q, "nocache"),
            pull: queryBool(q, "pull"),
            ...(network && network !== "default" ? { network } : {}),
            extraHosts,
            ...(q.get("cachefrom")
              ? { cacheFrom: jsonParam<string[]>(q.get("cachefrom"), "cachefrom") ?? [] }
              : {}),
            onImage: (id) => res.write(`${JSON.stringify({ aux: { ID: id } })}\n`),
            cache,
          },
          q.get("q") === "1" || q.get("q") === "true" ? () => {} : say,
        );
      } catch (err) {
        const message = (err as Error).message;
        const code = err instanceof RunStepFailed ? { code: err.exitCode } : {};
        res.write(`${JSON.stringify({ errorDetail: { ...code, message }, error: message })}\n`);
      }
      res.end();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  api.route("POST", "/build/prune", async () => {
    const { ids, bytes } = await pruneBuildCache(engine, cache);
    return { CachesDeleted: ids.map((id) => id.slice(0, 25)), SpaceReclaimed: bytes };
  });
}

/** `docker builder prune` (also what `system prune` calls): every entry and cache mount, then GC. */
async function pruneBuildCache(engine: Engine, cache: BuildCache): Promise<{ ids: string[]; bytes: number }> {
  const gone = await cache.clear();
  await rm(cache.mountsDir, { recursive: true, force: true });
  const { bytes } = await engine.images.gc();
  return { ids: gone.map((e) => e.key), bytes };
}
