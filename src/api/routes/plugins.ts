/**
 * The Docker API's /plugins routes (Engine API "Plugin" section): list, inspect, create from a
 * tar, enable, disable, set, remove, and the registry ones (privileges, pull, upgrade, push)
 * with docker's progress stream. Plugin names hold "/" and ":", so they match the rest of the path.
 */
import { InvalidArgument } from "../../errors.js";
import { parseReference } from "../../image/reference.js";
import {
  installName,
  pullPlugin,
  pushPluginByName,
  remotePrivileges,
  upgradePlugin,
} from "../../plugin/install.js";
import type { PluginManager } from "../../plugin/manager.js";
import { progressStream, registryAuth } from "../registry-stream.js";
import { type ApiServer, checkFilters, queryBool, queryFilters } from "../server.js";

/** `timeout` in seconds: absent or 0 means the default; anything but a whole number is refused. */
function timeoutSeconds(text: string | null): number {
  if (text === null || text === "") return 0;
  if (!/^\d+$/.test(text)) throw new InvalidArgument(`invalid timeout "${text}": a whole number of seconds`);
  return Number(text);
}

export function pluginRoutes(api: ApiServer, plugins: PluginManager): void {
  api.route("GET", "/plugins", (req) => {
    const filters = queryFilters(req.query);
    // dockerd's key is "enabled"; "enable" is accepted too.
    checkFilters(filters, ["capability", "enabled", "enable"]);
    return plugins.list(filters);
  });

  api.route("GET", "/plugins/privileges", (req) =>
    remotePrivileges(plugins, req.query.get("remote") ?? "", registryAuth(req).credentials),
  );

  api.route("GET", "/plugins/{name*}/json", (req) => plugins.inspect(req.params["name"]!));

  api.route("POST", "/plugins/create", async (req) => {
    await plugins.create(req.query.get("name") ?? "", req.raw);
  });

  api.route("POST", "/plugins/pull", async (req, res) => {
    const granted = await req.json<unknown>();
    const remote = req.query.get("remote") ?? "";
    if (!remote) throw new InvalidArgument("a remote reference is required (the remote query parameter)");
    const name = installName(
      parseReference(remote, { defaultTag: true }),
      req.query.get("name") || undefined,
    );
    res.setHeader("Docker-Plugin-Name", name);
    await progressStream(res, async (onProgress) => {
      await pullPlugin(plugins, remote, name, granted, registryAuth(req).credentials, onProgress);
    });
  });

  api.route("POST", "/plugins/{name*}/enable", async (req) => {
    await plugins.enable(req.params["name"]!, timeoutSeconds(req.query.get("timeout")));
  });

  api.route("POST", "/plugins/{name*}/disable", async (req) => {
    await plugins.disable(req.params["name"]!, queryBool(req.query, "force"));
  });

  api.route("POST", "/plugins/{name*}/set", async (req) => {
    await plugins.set(req.params["name"]!, (await req.json<unknown>()) ?? []);
  });

  api.route("POST", "/plugins/{name*}/upgrade", async (req, res) => {
    const granted = await req.json<unknown>();
    const name = plugins.inspect(req.params["name"]!).Name;
    res.setHeader("Docker-Plugin-Name", name);
    await progressStream(res, async (onProgress) => {
      await upgradePlugin(
        plugins,
        name,
        req.query.get("remote") ?? "",
        granted,
        registryAuth(req).credentials,
        onProgress,
      );
    });
  });

  api.route("POST", "/plugins/{name*}/push", async (req, res) => {
    const name = plugins.inspect(req.params["name"]!).Name;
    await progressStream(res, async (onProgress) => {
      await pushPluginByName(plugins, name, registryAuth(req).credentials, onProgress);
    });
  });

  api.route("DELETE", "/plugins/{name*}", async (req) => {
    await plugins.remove(req.params["name"]!, queryBool(req.query, "force"));
  });
}
