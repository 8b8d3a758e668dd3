/** The Docker API's /volumes routes. */

import type { Engine } from "../../engine/engine.js";
import { InvalidArgument } from "../../errors.js";
import type { Volume } from "../../volume/volume-store.js";
import { type ApiServer, checkFilters, queryBool, queryFilters } from "../server.js";

function labelsMatch(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((l) =>
    l.includes("=") ? labels[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1) : l in labels,
  );
}

export function volumeRoutes(api: ApiServer, engine: Engine): void {
  const volumes = engine.volumes;

  api.route("GET", "/volumes", async (req) => {
    const f = queryFilters(req.query);
    checkFilters(f, ["dangling", "driver", "label", "name"]);
    await volumes.adoptFromDrivers(engine.log);
    const list = volumes.list().filter((v) => {
      const users = engine.volumeUsers(v.Name).length;
      return (
        (!f["dangling"]?.length ||
          f["dangling"].some((d) => (d === "true" || d === "1") === (users === 0))) &&
        (!f["driver"]?.length || f["driver"].includes(v.Driver)) &&
        labelsMatch(v.Labels, f["label"] ?? []) &&
        (!f["name"]?.length || f["name"].some((n) => v.Name.includes(n)))
      );
    });
    return { Volumes: list.map(volumeJson), Warnings: null };
  });

  api.route("POST", "/volumes/create", async (req, res) => {
    const body =
      (await req.json<{
        Name?: string;
        Driver?: string;
        DriverOpts?: Record<string, string>;
        Labels?: Record<string, string>;
      }>()) ?? {};
    if (body.Name !== undefined && typeof body.Name !== "string")
      throw new InvalidArgument("Name must be a string");
    const existed = body.Name ? volumes.find(body.Name) !== undefined : false;
    const v = await volumes.create(body.Name || undefined, {
      ...(body.Labels ? { labels: body.Labels } : {}),
      ...(body.Driver ? { driver: body.Driver } : {}),
      ...(body.DriverOpts ? { driverOpts: body.DriverOpts } : {}),
    });
    if (!existed) engine.events.emit("volume", "create", v.Name, { driver: v.Driver });
    res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify(volumeJson(v)));
  });

  api.route("GET", "/volumes/{name}", async (req) =>
    volumeJson(await volumes.inspect(volumes.get(req.params["name"]!))),
  );

  api.route("DELETE", "/volumes/{name}", async (req) => {
    const name = req.params["name"]!;
    const driver = volumes.find(name)?.Driver ?? "local";
    await volumes.remove(name, engine.volumeUsers(name), queryBool(req.query, "force"));
    engine.events.emit("volume", "destroy", name, { driver });
  });

  api.route("POST", "/volumes/prune", async (req) => {
    const f = queryFilters(req.query);
    checkFilters(f, ["label", "all"]);
    const all = (f["all"] ?? []).some((v) => v === "true" || v === "1");
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const v of volumes.list()) {
      if (engine.volumeUsers(v.Name).length) continue;
      // Docker prunes only anonymous volumes unless asked for all.
      if (!all && !volumes.isAnonymous(v)) continue;
      if (!labelsMatch(v.Labels, f["label"] ?? [])) continue;
      reclaimed += await volumes.size(v);
      await volumes.remove(v.Name, []);
      deleted.push(v.Name);
      engine.events.emit("volume", "destroy", v.Name, { driver: v.Driver });
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  });
}

/** A volume as dockerd shows it: no labels or options is null, not an empty map. */
export function volumeJson(v: Volume): Omit<Volume, "Labels" | "Options"> & {
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
} {
  const empty = (m: Record<string, string>) => (Object.keys(m).length ? m : null);
  return { ...v, Labels: empty(v.Labels), Options: empty(v.Options) };
}
