/** System commands: version, info, events, and `serve` (the daemon itself). */
import { InvalidArgument } from "../../../errors.js";
import { humanSize } from "../../../util/human.js";
import { bool, type OptionValues, str, strs } from "../../args.js";
import { jsonLines } from "../client.js";
import { formatList, renderTemplate } from "../format.js";
import { type Command, type Context, filtersQuery } from "./shared.js";

const CLIENT_VERSION = "0.1.0";

async function version(ctx: Context, o: OptionValues): Promise<number> {
  const client = {
    Version: CLIENT_VERSION,
    ApiVersion: "1.50",
    GoVersion: `node${process.versions.node}`,
    Os: process.platform,
    Arch: process.arch === "x64" ? "amd64" : process.arch,
  };
  const server = await ctx.api.call<Record<string, string>>("GET", "/version");
  const format = str(o, "format");
  if (format) {
    process.stdout.write(`${renderTemplate(format, { Client: client, Server: server })}\n`);
    return 0;
  }
  process.stdout.write(
    [
      "Client:",
      ` Version:           ${client.Version}`,
      ` API version:       ${client.ApiVersion}`,
      ` Node.js version:   ${process.versions.node}`,
      ` OS/Arch:           ${client.Os}/${client.Arch}`,
      "",
      "Server: Berth",
      ` Version:           ${server["Version"]}`,
      ` API version:       ${server["ApiVersion"]} (minimum version ${server["MinAPIVersion"]})`,
      ` OS/Arch:           ${server["Os"]}/${server["Arch"]}`,
      ` Kernel:            ${server["KernelVersion"]}`,
      "",
    ].join("\n"),
  );
  return 0;
}

async function info(ctx: Context, o: OptionValues): Promise<number> {
  const i = await ctx.api.call<Record<string, unknown>>("GET", "/info");
  const format = str(o, "format");
  if (format) {
    process.stdout.write(`${renderTemplate(format, i)}\n`);
    return 0;
  }
  const lines = [
    "Server:",
    ` Containers: ${i["Containers"]}`,
    `  Running: ${i["ContainersRunning"]}`,
    `  Paused: ${i["ContainersPaused"]}`,
    `  Stopped: ${i["ContainersStopped"]}`,
    ` Images: ${i["Images"]}`,
    ` Server Version: ${i["ServerVersion"]}`,
    ` Storage Driver: ${i["Driver"]}`,
    ` Logging Driver: ${i["LoggingDriver"]}`,
    ` Cgroup Driver: ${i["CgroupDriver"]}`,
    ` Cgroup Version: ${i["CgroupVersion"]}`,
    ` Kernel Version: ${i["KernelVersion"]}`,
    ` Operating System: ${i["OperatingSystem"]}`,
    ` Architecture: ${i["Architecture"]}`,
    ` CPUs: ${i["NCPU"]}`,
    ` Total Memory: ${(Number(i["MemTotal"]) / 2 ** 30).toFixed(2)}GiB`,
    ` Name: ${i["Name"]}`,
    ` Berth Root Dir: ${i["DockerRootDir"]}`,
    ` Live Restore Enabled: ${i["LiveRestoreEnabled"]}`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
  return 0;
}

async function events(ctx: Context, o: OptionValues): Promise<number> {
  const res = await ctx.api.stream("GET", "/events", {
    query: { since: str(o, "since"), until: str(o, "until"), ...filtersQuery(strs(o, "filter")) },
  });
  const format = str(o, "format");
  type Event = {
    Type: string;
    Action: string;
    Actor: { ID: string; Attributes: Record<string, string> };
    timeNano: number;
  };
  for await (const e of jsonLines<Event>(res)) {
    if (format) {
      process.stdout.write(`${format === "json" ? JSON.stringify(e) : renderTemplate(format, e)}\n`);
      continue;
    }
    const when = new Date(Math.floor(e.timeNano / 1e6))
      .toISOString()
      .replace("Z", `${String(e.timeNano % 1e6).padStart(6, "0")}+00:00`);
    const attrs = Object.entries(e.Actor.Attributes ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(", ");
    process.stdout.write(`${when} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ""}\n`);
  }
  return 0;
}

interface DiskUsage {
  LayersSize: number;
  Images: { Size: number; Containers: number }[];
  Containers: { SizeRw: number; State: string }[];
  Volumes: { UsageData: { Size: number; RefCount: number } }[];
  BuildCache: { Size: number; InUse: boolean }[] | null;
}

async function systemDf(ctx: Context, o: OptionValues): Promise<number> {
  const df = await ctx.api.call<DiskUsage>("GET", "/system/df");
  const percent = (part: number, whole: number) => (whole ? ` (${Math.round((part / whole) * 100)}%)` : "");
  const activeImages = df.Images.filter((i) => i.Containers > 0);
  const imageReclaim = df.Images.filter((i) => i.Containers === 0).reduce((a, i) => a + i.Size, 0);
  const containersSize = df.Containers.reduce((a, c) => a + c.SizeRw, 0);
  const stopped = df.Containers.filter((c) => c.State !== "running" && c.State !== "paused");
  const stoppedSize = stopped.reduce((a, c) => a + c.SizeRw, 0);
  const volumesSize = df.Volumes.reduce((a, v) => a + v.UsageData.Size, 0);
  const unusedVolumes = df.Volumes.filter((v) => v.UsageData.RefCount === 0);
  const cache = df.BuildCache ?? [];
  const cacheSize = cache.reduce((a, c) => a + c.Size, 0);
  const rows = [
    {
      Type: "Images",
      TotalCount: df.Images.length,
      Active: activeImages.length,
      Size: humanSize(df.LayersSize),
      Reclaimable: `${humanSize(Math.min(imageReclaim, df.LayersSize))}${percent(Math.min(imageReclaim, df.LayersSize), df.LayersSize)}`,
    },
    {
      Type: "Containers",
      TotalCount: df.Containers.length,
      Active: df.Containers.length - stopped.length,
      Size: humanSize(containersSize),
      Reclaimable: `${humanSize(stoppedSize)}${percent(stoppedSize, containersSize)}`,
    },
    {
      Type: "Local Volumes",
      TotalCount: df.Volumes.length,
      Active: df.Volumes.length - unusedVolumes.length,
      Size: humanSize(volumesSize),
      Reclaimable: `${humanSize(unusedVolumes.reduce((a, v) => a + v.UsageData.Size, 0))}`,
    },
    {
      Type: "Build Cache",
      TotalCount: cache.length,
      Active: cache.filter((c) => c.InUse).length,
      Size: humanSize(cacheSize),
      Reclaimable: humanSize(cache.filter((c) => !c.InUse).reduce((a, c) => a + c.Size, 0)),
    },
  ];
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["TYPE", "{{.Type}}"],
      ["TOTAL", "{{.TotalCount}}"],
      ["ACTIVE", "{{.Active}}"],
      ["SIZE", "{{.Size}}"],
      ["RECLAIMABLE", "{{.Reclaimable}}"],
    ]),
  );
  return 0;
}

function pruneBuildCache(ctx: Context) {
  return ctx.api.call<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/build/prune");
}

async function builderPrune(ctx: Context, o: OptionValues): Promise<number> {
  if (!bool(o, "force"))
    throw new InvalidArgument("builder prune removes the whole build cache: confirm with --force");
  const b = await pruneBuildCache(ctx);
  if (b.CachesDeleted?.length)
    process.stdout.write(`Deleted build cache objects:\n${b.CachesDeleted.join("\n")}\n\n`);
  process.stdout.write(`Total reclaimed space: ${humanSize(b.SpaceReclaimed)}\n`);
  return 0;
}

async function systemPrune(ctx: Context, o: OptionValues): Promise<number> {
  if (!bool(o, "force"))
    throw new InvalidArgument(
      "system prune removes all stopped containers, dangling images and the build cache (and unused volumes with --volumes): confirm with --force",
    );
  let reclaimed = 0;
  const c = await ctx.api.call<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>(
    "POST",
    "/containers/prune",
  );
  if (c.ContainersDeleted?.length)
    process.stdout.write(`Deleted Containers:\n${c.ContainersDeleted.join("\n")}\n\n`);
  reclaimed += c.SpaceReclaimed;
  if (bool(o, "volumes")) {
    const v = await ctx.api.call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
      "POST",
      "/volumes/prune",
    );
    if (v.VolumesDeleted?.length)
      process.stdout.write(`Deleted Volumes:\n${v.VolumesDeleted.join("\n")}\n\n`);
    reclaimed += v.SpaceReclaimed;
  }
  const i = await ctx.api.call<{
    ImagesDeleted: { Deleted?: string; Untagged?: string }[] | null;
    SpaceReclaimed: number;
  }>("POST", "/images/prune", {
    query: { filters: JSON.stringify({ dangling: [bool(o, "all") ? "false" : "true"] }) },
  });
  if (i.ImagesDeleted?.length)
    process.stdout.write(
      `Deleted Images:\n${i.ImagesDeleted.map((d) => (d.Deleted ? `deleted: ${d.Deleted}` : `untagged: ${d.Untagged}`)).join("\n")}\n\n`,
    );
  reclaimed += i.SpaceReclaimed;
  const b = await pruneBuildCache(ctx);
  if (b.CachesDeleted?.length)
    process.stdout.write(`Deleted build cache objects:\n${b.CachesDeleted.join("\n")}\n\n`);
  reclaimed += b.SpaceReclaimed;
  process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
  return 0;
}

export const systemCommands: Record<string, Command> = {
  "system df": {
    usage: "berth system df [OPTIONS]",
    description: "Show disk usage: images, containers, volumes",
    options: [{ name: "format", type: "string", description: "Format output using a custom template" }],
    action: systemDf,
  },
  "system prune": {
    usage: "berth system prune [OPTIONS]",
    description:
      "Remove stopped containers, dangling images (all unused with -a), the build cache and, with --volumes, unused volumes",
    options: [
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Remove all unused images not just dangling ones",
      },
      { name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" },
      { name: "volumes", type: "boolean", description: "Prune anonymous volumes" },
    ],
    action: systemPrune,
  },
  "builder prune": {
    usage: "berth builder prune [OPTIONS]",
    description: "Remove the build cache (every cached step and the RUN --mount=type=cache directories)",
    options: [
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Remove all build cache (the default: all of it)",
      },
      { name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" },
    ],
    action: builderPrune,
  },
  version: {
    usage: "berth version [OPTIONS]",
    description: "Show the Berth version information",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
    ],
    action: version,
  },
  info: {
    usage: "berth info [OPTIONS]",
    description: "Display system-wide information",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
    ],
    action: info,
  },
  events: {
    usage: "berth events [OPTIONS]",
    description: "Get real time events from the server",
    options: [
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Filter output based on conditions provided",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
      { name: "since", type: "string", description: "Show all events created since timestamp" },
      { name: "until", type: "string", description: "Stream events until this timestamp" },
    ],
    action: events,
  },
};
