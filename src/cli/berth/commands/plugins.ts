/**
 * Plugin commands, docker's `plugin …`: ls, inspect, create, enable, disable, set, rm, install,
 * push, upgrade — with docker's flags, columns and messages.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { InvalidArgument } from "../../../errors.js";
import { directoryTar } from "../../../snapshot/diff.js";
import { gzip } from "../../../util/compression.js";
import { bool, type OptionValues, str, strs } from "../../args.js";
import { followProgress } from "../follow-progress.js";
import { formatList, renderTemplate } from "../format.js";
import { type Command, type Context, filtersQuery, forEach } from "./shared.js";

const encode = encodeURIComponent;
/** Plugin names hold "/" (a path's separators on the wire, as docker's client sends them). */
const pluginPath = (name: string) => `/plugins/${name.split("/").map(encode).join("/")}`;
/** What docker sends when the daemon's stored credentials are to be used ("{}"). */
const NO_AUTH = { "X-Registry-Auth": "e30=" };

interface Privilege {
  Name: string;
  Description: string;
  Value: string[] | null;
}

interface Plugin {
  Id: string;
  Name: string;
  Enabled: boolean;
  PluginReference: string;
  Config: { Description: string };
}

function ellipsis(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

async function ls(ctx: Context, o: OptionValues): Promise<number> {
  const plugins = await ctx.api.call<Plugin[]>("GET", "/plugins", { query: filtersQuery(strs(o, "filter")) });
  const trunc = !bool(o, "no-trunc");
  const rows = plugins.map((p) => ({
    ID: trunc ? p.Id.slice(0, 12) : p.Id,
    Name: p.Name,
    Description: trunc
      ? ellipsis(p.Config.Description.replace(/\s+/g, " ").trim(), 45)
      : p.Config.Description,
    Enabled: String(p.Enabled),
    PluginReference: p.PluginReference,
  }));
  if (bool(o, "quiet")) {
    process.stdout.write(rows.map((r) => `${r.ID}\n`).join(""));
    return 0;
  }
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["ID", "{{.ID}}"],
      ["NAME", "{{.Name}}"],
      ["DESCRIPTION", "{{.Description}}"],
      ["ENABLED", "{{.Enabled}}"],
    ]),
  );
  return 0;
}

async function inspect(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"plugin inspect" requires at least 1 argument.');
  const found: unknown[] = [];
  const code = await forEach(args, async (name) => {
    found.push(await ctx.api.call("GET", `${pluginPath(name)}/json`));
  });
  const format = str(o, "format");
  process.stdout.write(
    format
      ? found.map((p) => `${renderTemplate(format, p as Record<string, unknown>)}\n`).join("")
      : `${JSON.stringify(found, null, 4)}\n`,
  );
  return code;
}

async function create(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length !== 2) throw new InvalidArgument('"plugin create" requires exactly 2 arguments.');
  const [name, dir] = args as [string, string];
  // docker's CLI checks the directory before sending anything.
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new InvalidArgument(`context must be a directory: ${dir}`);
  if (!existsSync(join(dir, "config.json"))) throw new InvalidArgument(`config.json not found in ${dir}`);
  if (!existsSync(join(dir, "rootfs"))) throw new InvalidArgument(`rootfs not found in ${dir}`);
  const tar = directoryTar(dir);
  await ctx.api.call("POST", "/plugins/create", {
    query: { name },
    raw: bool(o, "compress") ? gzip(tar) : tar,
    headers: { "Content-Type": "application/x-tar" },
  });
  process.stdout.write(`${name}\n`);
  return 0;
}

/** Shows what the plugin asks for and has the user grant it (or --grant-all-permissions does). */
async function grant(ctx: Context, remote: string, all: boolean): Promise<Privilege[]> {
  const privileges = await ctx.api.call<Privilege[] | null>("GET", "/plugins/privileges", {
    query: { remote },
    headers: NO_AUTH,
  });
  const list = privileges ?? [];
  if (all || !list.length) return list;
  process.stdout.write(`Plugin "${remote}" is requesting the following privileges:\n`);
  for (const p of list) process.stdout.write(` - ${p.Name}: ${JSON.stringify(p.Value ?? [])}\n`);
  if (!process.stdin.isTTY)
    throw new InvalidArgument(
      "permission denied while installing plugin: grant them with --grant-all-permissions",
    );
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const answer = await rl.question("Do you grant the above permissions? [y/N] ");
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim()))
    throw new InvalidArgument("permission denied while installing plugin");
  return list;
}

async function install(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"plugin install" requires at least 1 argument.');
  const [remote, ...settings] = args as [string, ...string[]];
  const privileges = await grant(ctx, remote, bool(o, "grant-all-permissions"));
  const res = await ctx.api.stream("POST", "/plugins/pull", {
    query: { remote, name: str(o, "alias") },
    body: privileges,
    headers: NO_AUTH,
  });
  const name = String(res.headers["docker-plugin-name"] ?? str(o, "alias") ?? remote);
  await followProgress(res, process.stdout, false);
  if (settings.length) await ctx.api.call("POST", `${pluginPath(name)}/set`, { body: settings });
  if (!bool(o, "disable"))
    await ctx.api.call("POST", `${pluginPath(name)}/enable`, { query: { timeout: 0 } });
  process.stdout.write(`Installed plugin ${name}\n`);
  return 0;
}

async function upgrade(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length < 1 || args.length > 2)
    throw new InvalidArgument('"plugin upgrade" requires 1 or 2 arguments.');
  const [name, given] = args as [string, string?];
  const plugin = await ctx.api.call<Plugin>("GET", `${pluginPath(name)}/json`);
  if (plugin.Enabled)
    throw new InvalidArgument(
      `the plugin must be disabled before upgrading: plugin ${plugin.Name} is enabled`,
    );
  const remote = given ?? plugin.PluginReference;
  process.stdout.write(`Upgrading plugin ${plugin.Name} from ${plugin.PluginReference} to ${remote}\n`);
  const privileges = await grant(ctx, remote, bool(o, "grant-all-permissions"));
  const res = await ctx.api.stream("POST", `${pluginPath(plugin.Name)}/upgrade`, {
    query: { remote },
    body: privileges,
    headers: NO_AUTH,
  });
  await followProgress(res, process.stdout, false);
  process.stdout.write(`Upgraded plugin ${plugin.Name} to ${remote}\n`);
  return 0;
}

export const pluginCommands: Record<string, Command> = {
  "plugin ls": {
    usage: "berth plugin ls [OPTIONS]",
    description: "List plugins",
    options: [
      {
        name: "filter",
        short: "f",
        type: "strings",
        description: "Provide filter values (e.g. 'enabled=true', 'capability=volumedriver')",
      },
      { name: "format", type: "string", description: "Format output using a custom template" },
      { name: "no-trunc", type: "boolean", description: "Don't truncate output" },
      { name: "quiet", short: "q", type: "boolean", description: "Only display plugin IDs" },
    ],
    action: ls,
  },
  "plugin inspect": {
    usage: "berth plugin inspect [OPTIONS] PLUGIN [PLUGIN...]",
    description: "Display detailed information on one or more plugins",
    options: [
      { name: "format", short: "f", type: "string", description: "Format output using a custom template" },
    ],
    action: inspect,
  },
  "plugin create": {
    usage: "berth plugin create [OPTIONS] PLUGIN PLUGIN-DATA-DIR",
    description:
      "Create a plugin from a rootfs and configuration. Plugin data directory must contain config.json and rootfs directory.",
    options: [{ name: "compress", type: "boolean", description: "Compress the context using gzip" }],
    action: create,
  },
  "plugin enable": {
    usage: "berth plugin enable [OPTIONS] PLUGIN",
    description: "Enable a plugin",
    options: [
      {
        name: "timeout",
        type: "string",
        value: "int",
        description: "HTTP client timeout (in seconds) (default 30)",
      },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"plugin enable" requires exactly 1 argument.');
      const timeout = str(o, "timeout") ?? "30";
      if (!/^\d+$/.test(timeout))
        throw new InvalidArgument(`invalid argument "${timeout}" for "--timeout" flag`);
      await ctx.api.call("POST", `${pluginPath(args[0]!)}/enable`, { query: { timeout } });
      process.stdout.write(`${args[0]}\n`);
      return 0;
    },
  },
  "plugin disable": {
    usage: "berth plugin disable [OPTIONS] PLUGIN",
    description: "Disable a plugin",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Force the disable of an active plugin" },
    ],
    action: async (ctx, o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"plugin disable" requires exactly 1 argument.');
      await ctx.api.call("POST", `${pluginPath(args[0]!)}/disable`, {
        query: { force: bool(o, "force") ? 1 : undefined },
      });
      process.stdout.write(`${args[0]}\n`);
      return 0;
    },
  },
  "plugin set": {
    usage: "berth plugin set PLUGIN KEY=VALUE [KEY=VALUE...]",
    description: "Change settings for a plugin",
    options: [],
    action: async (ctx, _o, args) => {
      if (args.length < 2) throw new InvalidArgument('"plugin set" requires at least 2 arguments.');
      await ctx.api.call("POST", `${pluginPath(args[0]!)}/set`, { body: args.slice(1) });
      return 0;
    },
  },
  "plugin rm": {
    usage: "berth plugin rm [OPTIONS] PLUGIN [PLUGIN...]",
    description: "Remove one or more plugins",
    options: [
      { name: "force", short: "f", type: "boolean", description: "Force the removal of an active plugin" },
    ],
    action: async (ctx, o, args) => {
      if (!args.length) throw new InvalidArgument('"plugin rm" requires at least 1 argument.');
      return forEach(args, async (name) => {
        await ctx.api.call("DELETE", pluginPath(name), {
          query: { force: bool(o, "force") ? 1 : undefined },
        });
        process.stdout.write(`${name}\n`);
      });
    },
  },
  "plugin install": {
    usage: "berth plugin install [OPTIONS] PLUGIN [KEY=VALUE...]",
    description: "Install a plugin",
    options: [
      { name: "alias", type: "string", description: "Local name for plugin" },
      { name: "disable", type: "boolean", description: "Do not enable the plugin on install" },
      {
        name: "grant-all-permissions",
        type: "boolean",
        description: "Grant all permissions necessary to run the plugin",
      },
      {
        name: "disable-content-trust",
        type: "boolean",
        description: "Skip image verification (always: no content trust)",
      },
    ],
    action: install,
  },
  "plugin push": {
    usage: "berth plugin push [OPTIONS] PLUGIN[:TAG]",
    description: "Push a plugin to a registry",
    options: [
      {
        name: "disable-content-trust",
        type: "boolean",
        description: "Skip image signing (always: no content trust)",
      },
    ],
    action: async (ctx, _o, args) => {
      if (args.length !== 1) throw new InvalidArgument('"plugin push" requires exactly 1 argument.');
      const res = await ctx.api.stream("POST", `${pluginPath(args[0]!)}/push`, { headers: NO_AUTH });
      await followProgress(res, process.stdout, false);
      return 0;
    },
  },
  "plugin upgrade": {
    usage: "berth plugin upgrade [OPTIONS] PLUGIN [REMOTE]",
    description: "Upgrade an existing plugin",
    options: [
      {
        name: "grant-all-permissions",
        type: "boolean",
        description: "Grant all permissions necessary to run the plugin",
      },
      {
        name: "skip-remote-check",
        type: "boolean",
        description: "Do not check if specified remote plugin matches existing plugin image",
      },
      {
        name: "disable-content-trust",
        type: "boolean",
        description: "Skip image verification (always: no content trust)",
      },
    ],
    action: upgrade,
  },
};
