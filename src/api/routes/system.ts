/** /_ping, /version, /info, /events: what every Docker client asks first. */

import { readFileSync } from "node:fs";
import { arch, cpus, hostname, release, totalmem } from "node:os";
import type { BuildCache } from "../../build/cache.js";
import { RUNTIMES } from "../../engine/container-create.js";
import { summary } from "../../engine/container-summary.js";
import type { Engine } from "../../engine/engine.js";
import type { DockerEvent } from "../../engine/events.js";
import { parseLogTime } from "../../engine/logs.js";
import { systemDiskUsage } from "../../engine/system-df.js";
import { InvalidArgument } from "../../errors.js";
import { registryHostOf } from "../../image/registry/server-address.js";
import { detectCgroupVersion } from "../../runtime/cgroups/index.js";
import { API_VERSION, type ApiServer, checkFilters, MIN_API_VERSION, queryFilters } from "../server.js";
import { imageSummaryJson } from "./images.js";
import { volumeJson } from "./volumes.js";

export const BERTH_VERSION = "0.1.0";

const GOARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };

function osName(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "Linux";
  } catch {
    return "Linux";
  }
}

export function versionInfo() {
  return {
    Platform: { Name: "Berth" },
    Components: [
      {
        Name: "Engine",
        Version: BERTH_VERSION,
        Details: {
          ApiVersion: API_VERSION,
          MinAPIVersion: MIN_API_VERSION,
          Os: "linux",
          Arch: GOARCH[arch()] ?? arch(),
          KernelVersion: release(),
          GitCommit: "",
          // Not Go: what runs Berth, in the field clients show as the build's toolchain.
          GoVersion: `node ${process.version}`,
          BuildTime: "",
          Experimental: "false",
        },
      },
    ],
    Version: BERTH_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: "berth",
    GoVersion: `node${process.versions.node}`,
    Os: "linux",
    Arch: GOARCH[arch()] ?? arch(),
    KernelVersion: release(),
    BuildTime: "",
  };
}

function matchesEvent(e: DockerEvent, f: Record<string, string[]>): boolean {
  const any = (key: string, test: (v: string) => boolean) => !f[key]?.length || f[key]!.some(test);
  const attrs = e.Actor.Attributes;
  return (
    any("type", (v) => e.Type === v) &&
    any("event", (v) => e.Action === v || e.Action.startsWith(`${v}:`)) &&
    any("container", (v) => e.Type === "container" && (e.Actor.ID.startsWith(v) || attrs["name"] === v)) &&
    any("image", (v) => attrs["image"] === v || (e.Type === "image" && e.Actor.ID === v)) &&
    any("volume", (v) => e.Type === "volume" && e.Actor.ID === v) &&
    any("network", (v) => e.Type === "network" && (e.Actor.ID.startsWith(v) || attrs["name"] === v)) &&
    any("plugin", (v) => e.Type === "plugin" && (e.Actor.ID.startsWith(v) || attrs["name"] === v)) &&
    (f["label"] ?? []).every((l) =>
      l.includes("=") ? attrs[l.split("=")[0]!] === l.slice(l.indexOf("=") + 1) : l in attrs,
    )
  );
}

/** What /info and /_ping say of swarm mode. */
export interface SwarmStatus {
  info(): Record<string, unknown>;
  pingHeader(): string;
}

export function systemRoutes(
  api: ApiServer,
  engine: Engine,
  started: Date,
  cache: BuildCache,
  swarm: SwarmStatus,
): void {
  const ping = (_req: unknown, res: import("node:http").ServerResponse) => {
    res.writeHead(200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache, no-store, must-revalidate",
      Pragma: "no-cache",
      "Builder-Version": "1",
      Swarm: swarm.pingHeader(),
    });
    res.end("OK");
  };
  api.route("GET", "/_ping", ping);
  api.route("HEAD", "/_ping", ping);
  api.route("GET", "/version", () => versionInfo());

  /** `docker login`: checks the credentials against the registry; the client stores them. */
  api.route("POST", "/auth", async (req) => {
    const body = (await req.json<{ username?: string; password?: string; serveraddress?: string }>()) ?? {};
    if (typeof body.username !== "string" || typeof body.password !== "string")
      throw new InvalidArgument("username and password are required");
    const host = registryHostOf(body.serveraddress);
    await engine.images.checkLogin(host, { username: body.username, password: body.password });
    return { Status: "Login Succeeded", IdentityToken: "" };
  });

  /** `docker system df`: every byte under the root, counted once (see engine/system-df.ts). */
  api.route("GET", "/system/df", async () => {
    const containers = engine.store.all();
    const usage = await systemDiskUsage(engine, cache);
    const images = engine.images
      .list()
      .map((i) => imageSummaryJson(i, containers.filter((c) => c.Image === i.id).length));
    const containerRows = containers.map((c) => {
      const size = usage.containers.get(c.Id) ?? 0;
      return { ...summary(c, (id) => id), SizeRw: size, SizeRootFs: size };
    });
    const volumes = engine.volumes.list().map((v) => ({
      ...volumeJson(v),
      UsageData: { Size: usage.volumes.get(v.Name) ?? 0, RefCount: engine.volumeUsers(v.Name).length },
    }));
    return {
      LayersSize: usage.layersSize,
      Images: images,
      Containers: containerRows,
      Volumes: volumes,
      BuildCache: buildCacheRows(cache),
      BuilderSize: usage.builderSize,
    };
  });

  api.route("GET", "/info", () => {
    const all = engine.store.all();
    const running = all.filter((c) => c.State.Running && !c.State.Paused).length;
    const paused = all.filter((c) => c.State.Paused).length;
    const cgroupVersion = String(detectCgroupVersion());
    return {
      ID: "berth",
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: all.length - running - paused,
      Images: engine.images.list().length,
      Driver: engine.snapshotter.name,
      DriverStatus: [["Backing Filesystem", "extfs"]],
      Plugins: {
        Volume: engine.volumes.driverNames(),
        Network: ["bridge", "host", "none"],
        Authorization: null,
        Log: ["json-file"],
      },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      OomKillDisable: cgroupVersion === "1",
      IPv4Forwarding: true,
      // Berth's bridges filter in nftables, not through br_netfilter; no kernel memory limits.
      BridgeNfIptables: false,
      BridgeNfIp6tables: false,
      KernelMemory: false,
      KernelMemoryTCP: cgroupVersion === "1",
      Debug: false,
      NFd: 0,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: cgroupVersion,
      NEventsListener: 0,
      KernelVersion: release(),
      OperatingSystem: osName(),
      OSVersion: "",
      OSType: "linux",
      Architecture: arch() === "x64" ? "x86_64" : arch(),
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: { InsecureRegistryCIDRs: ["127.0.0.0/8"], IndexConfigs: {}, Mirrors: [] },
      NCPU: cpus().length,
      MemTotal: totalmem(),
      DockerRootDir: engine.options.root,
      Name: hostname(),
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: Object.fromEntries(RUNTIMES.map((r) => [r, { path: "berth-runtime" }])),
      DefaultRuntime: "berth-runtime",
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "berth-init",
      SecurityOptions: [
        "name=seccomp,profile=builtin",
        ...(engine.options.userns ? ["name=userns"] : []),
        ...(cgroupVersion === "2" ? ["name=cgroupns"] : []),
      ],
      GenericResources: null,
      HttpProxy: process.env["HTTP_PROXY"] ?? process.env["http_proxy"] ?? "",
      HttpsProxy: process.env["HTTPS_PROXY"] ?? process.env["https_proxy"] ?? "",
      NoProxy: process.env["NO_PROXY"] ?? process.env["no_proxy"] ?? "",
      Swarm: swarm.info(),
      Warnings: null,
      StartedAt: started.toISOString(),
    };
  });

  api.route("GET", "/events", async (req, res) => {
    const filters = queryFilters(req.query);
    checkFilters(filters, [
      "type",
      "event",
      "container",
      "image",
      "volume",
      "network",
      "label",
      "daemon",
      "scope",
      "node",
      "plugin",
      "service",
      "config",
      "secret",
    ]);
    // `since=0` replays the whole history (parseLogTime reads 0 as "no bound", as logs want).
    const sinceText = req.query.get("since");
    const since = sinceText ? (parseLogTime(sinceText) ?? 0) : undefined;
    const until = parseLogTime(req.query.get("until"));
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        clearTimeout(timer);
        unsubscribe();
        res.end();
        resolve();
      };
      const unsubscribe = engine.events.subscribe(
        (e) => {
          if (until !== undefined && e.timeNano / 1e9 > until) return;
          if (matchesEvent(e, filters)) res.write(`${JSON.stringify(e)}\n`);
        },
        since !== undefined ? Math.floor(since * 1e9) : undefined,
      );
      if (until !== undefined) timer = setTimeout(stop, Math.max(0, until * 1000 - Date.now()));
      res.on("close", stop);
    });
  });
}

function buildCacheRows(cache: BuildCache) {
  return cache.all().map((e) => ({
    ID: e.key.slice(0, 25),
    Parent: "",
    Type: "regular",
    Description: e.description,
    InUse: false,
    Shared: false,
    Size: e.size,
    CreatedAt: e.created,
    LastUsedAt: e.lastUsed,
    UsageCount: e.usageCount,
  }));
}
