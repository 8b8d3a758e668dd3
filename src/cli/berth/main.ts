/**
 * `berth`: the user's command line, a client of the daemon's Docker-shaped API with docker's
 * commands, flags, output and exit codes. `berth serve` is the daemon itself. Command modules
 * load on demand so that a command pays only for what it uses.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { BerthError } from "../../errors.js";
import { packageRoot } from "../../util/package-root.js";
import { bool, helpText, type OptionSpec, parseArgs, str, UsageError } from "../args.js";
import { ApiClient, endpointFrom } from "./client.js";
import type { Command, Context } from "./commands/shared.js";

const GROUPS: Record<string, () => Promise<Record<string, Command>>> = {
  containers: async () => (await import("./commands/containers.js")).containerCommands,
  images: async () => (await import("./commands/images.js")).imageCommands,
  volumes: async () => (await import("./commands/volumes.js")).volumeCommands,
  system: async () => (await import("./commands/system.js")).systemCommands,
  files: async () => (await import("./commands/files.js")).fileCommands,
  networks: async () => (await import("./commands/networks.js")).networkCommands,
  plugins: async () => (await import("./commands/plugins.js")).pluginCommands,
  build: async () => (await import("./commands/build.js")).buildCommands,
  swarm: async () => (await import("./commands/swarm.js")).swarmCommands,
  stack: async () => (await import("./commands/stack.js")).stackCommands,
  console: async () => (await import("./commands/console.js")).consoleCommands,
};

const CONTAINER_COMMANDS =
  "run create start stop restart kill rm pause unpause wait rename ps logs exec attach inspect top port stats update".split(
    " ",
  );
const IMAGE_COMMANDS = "pull push import images rmi tag history save load login logout".split(" ");

/** docker's management-command spellings ("container ls", "image rm") → the command's key. */
const ALIASES: Record<string, string[]> = {
  "container ls": ["ps"],
  "container list": ["ps"],
  "container inspect": ["inspect", "--type", "container"],
  "image ls": ["images"],
  "image list": ["images"],
  "image rm": ["rmi"],
  "image inspect": ["inspect", "--type", "image"],
  "volume list": ["volume ls"],
  "volume remove": ["volume rm"],
  "network list": ["network ls"],
  "network remove": ["network rm"],
  "plugin list": ["plugin ls"],
  "plugin remove": ["plugin rm"],
  "node list": ["node ls"],
  "node remove": ["node rm"],
  "service list": ["service ls"],
  "service remove": ["service rm"],
  "stack list": ["stack ls"],
  "stack remove": ["stack rm"],
  "stack down": ["stack rm"],
  "stack up": ["stack deploy"],
  "system info": ["info"],
  "system events": ["events"],
};

function groupOf(key: string): string | undefined {
  if (CONTAINER_COMMANDS.includes(key) || key === "container prune") return "containers";
  if (IMAGE_COMMANDS.includes(key) || key === "image prune") return "images";
  if (key.startsWith("volume ")) return "volumes";
  if (key.startsWith("network ")) return "networks";
  if (key.startsWith("plugin ")) return "plugins";
  if (key === "build") return "build";
  if (key.startsWith("stack ")) return "stack";
  if (["swarm ", "node ", "service ", "secret ", "config "].some((p) => key.startsWith(p))) return "swarm";
  if (
    key === "version" ||
    key === "info" ||
    key === "events" ||
    key.startsWith("system ") ||
    key === "builder prune"
  )
    return "system";
  if (key === "console") return "console";
  if (key === "cp" || key === "diff" || key === "export" || key === "commit") return "files";
  return undefined;
}

/** The command key and the arguments after it: "volume ls -q" → ["volume ls", ["-q"]]. */
function resolve(words: string[]): { key: string; rest: string[] } | undefined {
  const [first = "", second = "", ...after] = words;
  const pair = `${first} ${second}`;
  if (ALIASES[pair]) {
    const [key, ...extra] = ALIASES[pair]!;
    return { key: key!, rest: [...extra, ...after] };
  }
  if (groupOf(pair)) return { key: pair, rest: after };
  if ((first === "container" || first === "image") && groupOf(second)) return { key: second, rest: after };
  if (groupOf(first)) return { key: first, rest: words.slice(1) };
  return undefined;
}

const GLOBAL: OptionSpec[] = [
  {
    name: "host",
    short: "H",
    type: "string",
    description: "Daemon socket to connect to (default unix:///run/berth/berth.sock, or BERTH_HOST)",
  },
  { name: "help", type: "boolean", description: "Print usage" },
  { name: "version", short: "v", type: "boolean", description: "Print version information and quit" },
  { name: "debug", short: "D", type: "boolean", description: "Print errors with their stack" },
];

const SUMMARY = `Usage:  berth [OPTIONS] COMMAND

A container engine: docker's commands, served by the Berth daemon (started on first use).

Containers:
  run, create, start, stop, restart, kill, rm, pause, unpause, wait, rename,
  ps, logs, exec, attach, inspect, top, port, stats, update, container prune,
  cp, diff, export, commit
Images:
  pull, push, images, rmi, tag, history, image inspect, image prune, import,
  save, load (docker archives and OCI layout directories), login, logout
Volumes:
  volume create, volume ls, volume inspect, volume rm, volume prune
Networks:
  network create, network ls, network inspect, network rm, network prune,
  network connect, network disconnect
Plugins (managed volume plugins):
  plugin ls, plugin inspect, plugin create, plugin enable, plugin disable,
  plugin set, plugin rm, plugin install, plugin push, plugin upgrade
Swarm (a cluster on etcd):
  swarm init, swarm join, swarm leave, swarm join-token,
  node ls, node inspect, node update, node ps, node rm,
  service create, service ls, service ps, service inspect, service scale,
  service update, service rollback, service logs, service rm,
  secret create/ls/inspect/rm, config create/ls/inspect/rm,
  stack deploy (compose file format 3.x), stack ls, stack ps, stack services, stack rm
System:
  version, info, events, system df, system prune, builder prune, serve (run the daemon)
Web console:
  console (serve a web console on 127.0.0.1:9900)

Global options:
${GLOBAL.map((s) => `  ${s.short ? `-${s.short}, ` : "    "}--${s.name.padEnd(12)} ${s.description}`).join("\n")}

Run 'berth COMMAND --help' for more information on a command.
`;

/** `berth serve`: the daemon's bundle runs in this process with the rest of the arguments. */
function serve(args: string[]): void {
  process.argv = [process.argv[0]!, "berthd", ...args];
  const require = createRequire(import.meta.url);
  (require(join(packageRoot(), "bin", "load.cjs")) as (name: string) => void)("berthd");
}

async function main(argv: string[]): Promise<number> {
  let debug = false;
  let ctx: Context | undefined;
  try {
    const global = parseArgs(argv, GLOBAL);
    debug = bool(global.options, "debug");
    if (bool(global.options, "version")) global.args.unshift("version");
    if (global.args[0] === "serve") {
      serve(global.args.slice(1));
      return -1;
    }
    if (!global.args.length || bool(global.options, "help")) {
      process.stdout.write(SUMMARY);
      return global.args.length || bool(global.options, "help") ? 0 : 1;
    }
    const found = resolve(global.args);
    if (!found) throw new UsageError(`'${global.args[0]}' is not a berth command`);
    const command = (await GROUPS[groupOf(found.key)!]!())[found.key]!;
    const specs: OptionSpec[] = [
      ...command.options,
      { name: "help", type: "boolean", description: "Print usage" },
    ];
    const runsACommand = ["run", "create", "exec"].includes(found.key);
    const parsed = parseArgs(found.rest, specs, command.interspersed ?? !runsACommand);
    if (bool(parsed.options, "help")) {
      process.stdout.write(helpText(command.usage, command.description, command.options));
      return 0;
    }
    ctx = { api: new ApiClient(endpointFrom(str(global.options, "host"))), command: found.key };
    return await command.action(ctx, parsed.options, parsed.args);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const daemon = err instanceof BerthError && err.code === "daemon";
    process.stderr.write(`${daemon ? "Error response from daemon: " : "berth: "}${message}\n`);
    if (err instanceof UsageError) process.stderr.write("See 'berth --help'.\n");
    if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return ctx?.failureCode ?? (err instanceof UsageError ? 125 : 1);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit now: requests a failed command left open (a wait, an attach) must not hold the CLI.
    // stdout and stderr are synchronous on Linux for files, pipes and terminals.
    if (code >= 0) process.exit(code);
  },
  (err: Error) => {
    process.stderr.write(`berth: ${err.message}\n`);
    process.exitCode = 1;
  },
);
