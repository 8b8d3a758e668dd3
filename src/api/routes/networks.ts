/** The Docker API's /networks routes: create, list, inspect, remove, prune, connect, disconnect. */

import { findOverlay, overlayView } from "../../cluster/overlays.js";
import type { Swarm } from "../../cluster/swarm.js";
import type { OverlayRecord } from "../../cluster/types.js";
import { plannedNetworks } from "../../engine/container-create.js";
import type { ContainerRecord } from "../../engine/docker-types.js";
import type { Engine } from "../../engine/engine.js";
import { Conflict, InvalidArgument, NotFound } from "../../errors.js";
import type { EndpointRequest, NetworkManager } from "../../network/manager.js";
import type { CreateNetworkRequest, NetworkRecord } from "../../network/network-store.js";
import { type ApiServer, checkFilters, queryFilters } from "../server.js";

/** docker lists `host` and `none` too; they are modes, with no record of their own. */
const BUILTIN_MODES = ["host", "none"];

function pseudoNetwork(name: string) {
  return {
    Name: name,
    Id: name,
    Created: "0001-01-01T00:00:00Z",
    Scope: "local",
    Driver: name === "host" ? "host" : "null",
    EnableIPv6: false,
    IPAM: { Driver: "default", Options: null, Config: [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Options: {},
    Labels: {} as Record<string, string>,
  };
}

export function networkRoutes(api: ApiServer, engine: Engine, manager: NetworkManager, swarm: Swarm): void {
  /** A swarm overlay by name, id or prefix, as this node last read them. */
  const overlay = (ref: string) => {
    const list = swarm.overlays?.records() ?? [];
    return findOverlay(list, ref);
  };
  const overlayResource = (n: OverlayRecord, withContainers: boolean) =>
    overlayView(
      n,
      withContainers ? manager.containersOn(n.ID) : {},
      withContainers ? swarm.overlays?.endpointsOf(n.ID) : undefined,
    );

  const view = (n: NetworkRecord, withContainers: boolean) => {
    const { BridgeName, ...rest } = n;
    return {
      ...rest,
      // The bridge's name is an option of the default network only, as dockerd shows it.
      Options:
        n.Name === "bridge" ? { "com.docker.network.bridge.name": BridgeName, ...n.Options } : n.Options,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: withContainers ? manager.containersOn(n.Id) : {},
    };
  };

  api.route("GET", "/networks", (req) => {
    const f = queryFilters(req.query);
    checkFilters(f, ["name", "id", "driver", "label", "type", "dangling", "scope"]);
    const used = new Set(
      engine.store
        .all()
        .flatMap((c) => Object.values(c.NetworkSettings?.Networks ?? {}).map((e) => e.NetworkID)),
    );
    // Overlays: all of them on a manager; on a worker, those its containers are on (as dockerd).
    const overlays = (swarm.overlays?.records() ?? [])
      .filter((n) => swarm.isManager || manager.overlayMembers(n.ID).length)
      .map((n) => overlayResource(n, false) as unknown as ReturnType<typeof view>);
    const all = [
      ...manager.networks.all().map((n) => view(n, false)),
      ...overlays,
      ...BUILTIN_MODES.map(pseudoNetwork),
    ];
    return all.filter((n) => {
      const builtin = n.Name === "bridge" || BUILTIN_MODES.includes(n.Name);
      return (
        (!f["name"]?.length || f["name"].some((x) => n.Name.includes(x))) &&
        (!f["id"]?.length || f["id"].some((x) => n.Id.startsWith(x))) &&
        (!f["driver"]?.length || f["driver"].includes(n.Driver)) &&
        (!f["type"]?.length || f["type"].includes(builtin ? "builtin" : "custom")) &&
        (!f["dangling"]?.length ||
          f["dangling"].some((d) => (d === "true" || d === "1") === (!builtin && !used.has(n.Id)))) &&
        (f["label"] ?? []).every((l) =>
          l.includes("=")
            ? n.Labels[l.slice(0, l.indexOf("="))] === l.slice(l.indexOf("=") + 1)
            : l in n.Labels,
        )
      );
    });
  });

  api.route("GET", "/networks/{id}", (req) => {
    const id = req.params["id"]!;
    // `scope`: a network of another scope is not found (docker-py's inspect_network(scope=)).
    const scope = req.query.get("scope");
    if (BUILTIN_MODES.includes(id) && (!scope || scope === "local"))
      return { ...pseudoNetwork(id), Containers: {} };
    const local = manager.networks.find(id);
    const o = local ? undefined : overlay(id);
    if (o && (!scope || scope === "swarm")) return overlayResource(o, true);
    if (!local || (scope && scope !== "local")) throw new NotFound(`network ${id} not found`);
    return view(local, true);
  });

  api.route("POST", "/networks/create", async (req, res) => {
    const body = await req.json<CreateNetworkRequest>();
    if (!body || typeof body.Name !== "string")
      throw new InvalidArgument("Name is required: the network's name");
    if (body.Driver === "overlay") {
      const o = await swarm.createNetwork(
        body,
        manager.networks.all().map((n) => n.Name),
      );
      engine.events.emit("network", "create", o.ID, { name: o.Spec.Name, type: "overlay" });
      res
        .writeHead(201, { "Content-Type": "application/json" })
        .end(JSON.stringify({ Id: o.ID, Warning: "" }));
      return;
    }
    if (overlay(body.Name)?.Spec.Name === body.Name)
      throw new Conflict(`network with name ${body.Name} already exists`);
    const n = manager.create(body);
    engine.events.emit("network", "create", n.Id, { name: n.Name, type: "bridge" });
    res.writeHead(201, { "Content-Type": "application/json" }).end(JSON.stringify({ Id: n.Id, Warning: "" }));
  });

  api.route("DELETE", "/networks/{id}", async (req, res) => {
    const id = req.params["id"]!;
    if (BUILTIN_MODES.includes(id))
      throw new Conflict(`${id} is a pre-defined network and cannot be removed`);
    if (!manager.networks.find(id) && overlay(id)) {
      const o = await swarm.removeNetwork(id);
      engine.events.emit("network", "destroy", o.ID, { name: o.Spec.Name, type: "overlay" });
      res.writeHead(204).end();
      return;
    }
    const n = manager.networks.get(id);
    await manager.remove(n.Id);
    engine.events.emit("network", "destroy", n.Id, { name: n.Name, type: "bridge" });
    res.writeHead(204).end();
  });

  api.route("POST", "/networks/prune", async () => {
    const deleted: string[] = [];
    for (const n of manager.networks.all()) {
      if (n.Name === "bridge" || Object.keys(manager.containersOn(n.Id)).length) continue;
      await manager.remove(n.Id);
      engine.events.emit("network", "destroy", n.Id, { name: n.Name, type: "bridge" });
      deleted.push(n.Name);
    }
    return { NetworksDeleted: deleted.length ? deleted : null };
  });

  const containerOf = (name: unknown): ContainerRecord => {
    if (typeof name !== "string" || !name) throw new InvalidArgument("Container is required");
    return engine.store.get(name);
  };
  const modeOwnNetwork = (c: ContainerRecord) => {
    const mode = c.HostConfig.NetworkMode || "default";
    if (mode === "host" || mode === "none" || mode.startsWith("container:"))
      throw new Conflict(`container cannot be disconnected from host network or connected to host network`);
  };

  api.route("POST", "/networks/{id}/connect", async (req, res) => {
    const body = await req.json<{ Container?: string; EndpointConfig?: EndpointRequest | null }>();
    const n = manager.network(req.params["id"]!);
    const c = containerOf(body?.Container);
    modeOwnNetwork(c);
    // What the client asked is kept whole: inspect shows it back, a restart asks it again.
    const endpoint: EndpointRequest = {
      ...(body?.EndpointConfig ?? {}),
      Aliases: body?.EndpointConfig?.Aliases ?? [],
    };
    await engine.lock(c.Id, async () => {
      if (c.State.Running) {
        c.NetworkSettings = await manager.connect(c.Id, n.Id, endpoint);
      } else if (
        c.Berth.networkingConfig[n.Name] ||
        (primaryIs(c, n) && c.HostConfig.NetworkMode !== "none")
      ) {
        throw new Conflict(`endpoint with name ${c.Name.slice(1)} already exists in network ${n.Name}`);
      } else if (c.HostConfig.NetworkMode === "none") {
        // Disconnected from everything before: this network becomes its mode again.
        c.HostConfig.NetworkMode = n.Name;
      }
      // Kept in the record either way: a restart connects it again.
      c.Berth.networkingConfig = { ...c.Berth.networkingConfig, [n.Name]: endpoint };
      if (!c.State.Running) c.NetworkSettings.Networks = plannedNetworks(engine, c);
      engine.save(c);
    });
    engine.events.emit("network", "connect", n.Id, { container: c.Id, name: n.Name, type: "bridge" });
    res.writeHead(200).end(); // dockerd's answer: 200 with nothing in it
  });

  const primaryIs = (c: ContainerRecord, n: NetworkRecord) => {
    const primary = c.HostConfig.NetworkMode || "default";
    return (
      primary === n.Name ||
      primary === n.Id ||
      ((primary === "default" || primary === "bridge") && n.Name === "bridge")
    );
  };

  api.route("POST", "/networks/{id}/disconnect", async (req, res) => {
    const body = await req.json<{ Container?: string; Force?: boolean }>();
    const n = manager.network(req.params["id"]!);
    const c = containerOf(body?.Container);
    modeOwnNetwork(c);
    await engine.lock(c.Id, async () => {
      const primary = c.HostConfig.NetworkMode || "default";
      const onIt =
        c.Berth.networkingConfig[n.Name] !== undefined ||
        primary === n.Name ||
        primary === n.Id ||
        ((primary === "default" || primary === "bridge") && n.Name === "bridge");
      if (!onIt) throw new Conflict(`container ${c.Id} is not connected to network ${n.Name}`);
      if (!c.State.Running && primaryIs(c, n))
        throw new Conflict(
          `container ${c.Name.slice(1)} is not running: the network of its --network mode stays until it is recreated with another`,
        );
      if (c.State.Running) c.NetworkSettings = await manager.disconnect(c.Id, n.Id);
      const { [n.Name]: _gone, ...rest } = c.Berth.networkingConfig;
      c.Berth.networkingConfig = rest;
      if (!c.State.Running) c.NetworkSettings.Networks = plannedNetworks(engine, c);
      engine.save(c);
    });
    engine.events.emit("network", "disconnect", n.Id, { container: c.Id, name: n.Name, type: "bridge" });
    res.writeHead(200).end();
  });
}
