/** Volume commands: volume create, ls, inspect, rm, prune. */
import { InvalidArgument } from "../../../errors.js";
import { humanSize } from "../../../util/human.js";
import { bool, keyValueFlags, type OptionValues, str, strs } from "../../args.js";
import { formatList, renderTemplate } from "../format.js";
import { type Command, type Context, filtersQuery, forEach } from "./shared.js";

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string>;
  Scope: string;
}

async function create(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length > 1) throw new InvalidArgument('"volume create" requires at most 1 argument.');
  const name = args[0] ?? str(o, "name");
  const v = await ctx.api.call<Volume>("POST", "/volumes/create", {
    body: {
      ...(name ? { Name: name } : {}),
      Driver: str(o, "driver") ?? "local",
      DriverOpts: keyValueFlags(strs(o, "opt"), "opt"),
      Labels: keyValueFlags(strs(o, "label"), "label"),
    },
  });
  process.stdout.write(`${v.Name}\n`);
  return 0;
}

async function ls(ctx: Context, o: OptionValues): Promise<number> {
  const r = await ctx.api.call<{ Volumes: Volume[] }>("GET", "/volumes", {
    query: filtersQuery(strs(o, "filter")),
  });
  if (bool(o, "quiet")) {
    process.stdout.write(r.Volumes.map((v) => `${v.Name}\n`).join(""));
    return 0;
  }
  process.stdout.write(
    formatList(r.Volumes, str(o, "format"), [
      ["DRIVER", "{{.Driver}}"],
      ["VOLUME NAME", "{{.Name}}"],
    ]),
  );
  return 0;
}

async function inspect(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"volume inspect" requires at least 1 argument.');
  const found: Volume[] = [];
  const code = await forEach(args, async (name) => {
    found.push(await ctx.api.call<Volume>("GET", `/volumes/${encodeURIComponent(name)}`));
  });
  const format = str(o, "format");
  process.stdout.write(
    format
      ? found.map((v) => `${renderTemplate(format, v)}\n`).join("")
      : `${JSON.stringify(found, null, 4)}\n`,
  );
  return code;
}

export const volumeCommands: Record<string, Command> = {
  "volume create": {
    usage: "berth volume create [OPTIONS] [VOLUME]",
    description: "Create a volume",
    options: [
      {
        name: "driver",
        short: "d",
        type: "string",
        description: 'Specify volume driver name (default "local")',
      },
      { name: "label", type: "strings", description: "Set metadata for a volume" },
      { name: "opt", short: "o", type: "strings", description: "Set driver specific options" },
      { name: "name", type: "string", description: "Specify volume name" },
    ],
    action: create,
  },
  "volume ls": {
    usage: "berth volume ls [OPTIONS]",
    description: "List volumes",
    options: [
      { name: "quiet", short: "q", type: "boolean", description: "Only display volume names" },
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Provide filter values (e.g. 'dangling=true')",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
    ],
    action: ls,
  },
  "volume inspect": {
    usage: "berth volume inspect [OPTIONS] VOLUME [VOLUME...]",
    description: "Display detailed information on one or more volumes",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
    ],
    action: inspect,
  },
  "volume rm": {
    usage: "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
    description: "Remove one or more volumes",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Force the removal of one or more volumes" },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"volume rm" requires at least 1 argument.');
      return forEach(args, async (name) => {
        await ctx.api.call("DELETE", `/volumes/${encodeURIComponent(name)}`, {
          query: { force: bool(o, "force") ? 1 : undefined },
        });
        process.stdout.write(`${name}\n`);
      });
    },
  },
  "volume prune": {
    usage: "berth volume prune [OPTIONS]",
    description: "Remove unused local volumes",
    options: [
      {
        name: "all",
        short: "a",
        type: "boolean",
        description: "Remove all unused volumes, not just anonymous ones",
      },
      { name: "force", short: "f", type: "boolean", description: "Do not prompt for confirmation" },
      { name: "filter", type: "strings", description: "Provide filter values (e.g. 'label=<label>')" },
    ],
    action: async (ctx, o) => {
      if (!bool(o, "force"))
        throw new InvalidArgument("volume prune removes unused volumes: confirm with --force");
      const filters = strs(o, "filter");
      if (bool(o, "all")) filters.push("all=true");
      const r = await ctx.api.call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(
        "POST",
        "/volumes/prune",
        {
          query: filtersQuery(filters),
        },
      );
      if (r.VolumesDeleted?.length)
        process.stdout.write(`Deleted Volumes:\n${r.VolumesDeleted.join("\n")}\n\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(r.SpaceReclaimed)}\n`);
      return 0;
    },
  },
};
