/** System commands: version, info, events, and `serve` (the daemon itself). */
import { type OptionValues, str, strs } from "../../args.js";
import { jsonLines } from "../client.js";
import { renderTemplate } from "../format.js";
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

export const systemCommands: Record<string, Command> = {
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
