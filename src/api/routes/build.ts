/** The Docker API's classic build endpoint: a tar context in, progress JSON out, as docker build reads it. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "../../build/builder.js";
import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import { unpackLayer } from "../../snapshot/unpack.js";
import type { ApiServer } from "../server.js";

function jsonParam<T>(text: string | null, name: string): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InvalidArgument(`${name} is not valid JSON`);
  }
}

export function buildRoutes(api: ApiServer, engine: Engine): void {
  api.route("POST", "/build", async (req, res) => {
    const q = req.query;
    const dir = await mkdtemp(join(tmpdir(), "berth-build-"));
    try {
      await unpackLayer(req.raw, dir, "apply").catch((err: Error) => {
        throw new InvalidArgument(`the build context is not a tar: ${err.message}`);
      });
      res.writeHead(200, { "Content-Type": "application/json" });
      const say = (line: string) => res.write(`${JSON.stringify({ stream: line })}\n`);
      try {
        const id = await build(
          engine,
          {
            context: dir,
            ...(q.get("dockerfile") ? { dockerfile: q.get("dockerfile")! } : {}),
            tags: q.getAll("t"),
            buildArgs: jsonParam<Record<string, string>>(q.get("buildargs"), "buildargs") ?? {},
            ...(q.get("target") ? { target: q.get("target")! } : {}),
            labels: jsonParam<Record<string, string>>(q.get("labels"), "labels") ?? {},
          },
          q.get("q") === "1" || q.get("q") === "true" ? () => {} : say,
        );
        res.write(`${JSON.stringify({ aux: { ID: id } })}\n`);
      } catch (err) {
        const message = (err as Error).message;
        res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
      }
      res.end();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
