/**
 * berth-runtime: the OCI runtime command line (the interface runc offers), over src/runtime.
 * Commands load the runtime lazily so that `--help` or a usage error costs nothing.
 */
import { appendFileSync } from "node:fs";
import { BerthError } from "../../errors.js";
import { bool, helpText, type OptionSpec, type OptionValues, parseArgs, str, UsageError } from "../args.js";

const GLOBAL: OptionSpec[] = [
  {
    name: "root",
    type: "string",
    value: "DIR",
    description: "where container state lives (default /run/berth/runtime)",
  },
  { name: "log", type: "string", value: "FILE", description: "also append errors to this file" },
  { name: "log-format", type: "string", value: "FORMAT", description: "text or json, for --log" },
  { name: "debug", type: "boolean", description: "print stack traces of errors" },
  {
    name: "systemd-cgroup",
    type: "boolean",
    description: 'cgroupsPath is "slice:prefix:name" (made where systemd would put it)',
  },
  {
    name: "rootless",
    type: "string",
    value: "true|false|auto",
    description: "accepted for runc's callers; Berth runs as root",
  },
  { name: "help", short: "h", type: "boolean", description: "show this help" },
  { name: "version", short: "v", type: "boolean", description: "print the version" },
];

interface Command {
  usage: string;
  description: string;
  options: OptionSpec[];
  /** Positional arguments: [min, max] (max -1 = any). */
  arity: [number, number];
  /** Flags may follow positional arguments (false: everything after the first one is an argument). */
  interspersed?: boolean;
  /** Takes its arguments unparsed (a refusal must not stop at a flag it does not know). */
  rawArgs?: boolean;
  run(args: string[], options: OptionValues, global: GlobalOptions): Promise<number>;
}

/** What the global flags say to a command. */
export interface GlobalOptions {
  root: string | undefined;
  systemdCgroup: boolean;
}

const commands: Record<string, () => Promise<Command>> = {
  create: () => import("./commands.js").then((m) => m.create),
  start: () => import("./commands.js").then((m) => m.start),
  state: () => import("./commands.js").then((m) => m.state),
  kill: () => import("./commands.js").then((m) => m.kill),
  delete: () => import("./commands.js").then((m) => m.remove),
  run: () => import("./commands.js").then((m) => m.run),
  list: () => import("./commands.js").then((m) => m.list),
  pause: () => import("./commands.js").then((m) => m.pause),
  resume: () => import("./commands.js").then((m) => m.resume),
  exec: () => import("./exec-command.js").then((m) => m.exec),
  spec: () => import("./commands.js").then((m) => m.spec),
  events: () => import("./commands.js").then((m) => m.events),
  update: () => import("./commands.js").then((m) => m.update),
  ps: () => import("./commands.js").then((m) => m.ps),
  features: () => import("./features.js").then((m) => m.features),
  checkpoint: () => import("./commands.js").then((m) => m.checkpoint),
  restore: () => import("./commands.js").then((m) => m.restore),
};

export type { Command };

const SUMMARY = `berth-runtime: run OCI containers (the runc command line)

Usage:  berth-runtime [global options] COMMAND [options] ARGS

Commands:
  create   create a container from a bundle (it waits for start)
  start    run the created container's process
  run      create, start, wait and delete
  state    print a container's OCI state
  list     list containers
  kill     send a signal to a container
  delete   delete a stopped container (--force: any)
  pause    freeze a container's processes
  resume   thaw them
  exec     run another process in a container
  ps       list a container's processes
  events   print cgroup statistics (--stats) and OOM events
  update   change a running container's resources
  spec     write a default config.json
  features print what this runtime supports, as JSON (the OCI features document)

`;

let logFile: string | undefined;
let logJson = false;

function report(err: unknown, debug: boolean): number {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`berth-runtime: ${message}\n`);
  if (debug && err instanceof Error && !(err instanceof BerthError)) process.stderr.write(`${err.stack}\n`);
  if (logFile) {
    const line = logJson
      ? `${JSON.stringify({ level: "error", msg: message, time: new Date().toISOString() })}\n`
      : `${new Date().toISOString()} error ${message}\n`;
    try {
      appendFileSync(logFile, line);
    } catch {}
  }
  return err instanceof UsageError ? 2 : 1;
}

async function main(argv: string[]): Promise<number> {
  let debug = false;
  try {
    const global = parseArgs(argv, GLOBAL);
    debug = bool(global.options, "debug");
    logFile = str(global.options, "log");
    logJson = str(global.options, "log-format") === "json";
    if (bool(global.options, "version")) {
      process.stdout.write("berth-runtime version 0.1.0\nspec: 1.2.0\n");
      return 0;
    }
    const [name, ...rest] = global.args;
    if (!name || bool(global.options, "help")) {
      process.stdout.write(SUMMARY);
      return name || bool(global.options, "help") ? 0 : 2;
    }
    const rootless = str(global.options, "rootless");
    if (rootless !== undefined && !["true", "false", "auto"].includes(rootless))
      throw new UsageError(`--rootless: "${rootless}" is not true, false or auto`);
    const load = commands[name];
    if (!load) throw new UsageError(`unknown command "${name}" (see berth-runtime --help)`);
    const command = await load();
    const globals: GlobalOptions = {
      root: str(global.options, "root"),
      systemdCgroup: bool(global.options, "systemd-cgroup"),
    };
    if (command.rawArgs) return await command.run(rest, {}, globals);
    const specs = [
      ...command.options,
      { name: "help", short: "h", type: "boolean", description: "show help" } as const,
    ];
    const parsed = parseArgs(rest, specs, command.interspersed !== false);
    if (bool(parsed.options, "help")) {
      process.stdout.write(helpText(`berth-runtime ${command.usage}`, command.description, command.options));
      return 0;
    }
    const [min, max] = command.arity;
    if (parsed.args.length < min || (max >= 0 && parsed.args.length > max))
      throw new UsageError(
        `"${name}" takes ${min === max ? min : `${min} to ${max < 0 ? "more" : max}`} argument${max === 1 ? "" : "s"}: berth-runtime ${command.usage}`,
      );
    return await command.run(parsed.args, parsed.options, globals);
  } catch (err) {
    return report(err, debug);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.exitCode = report(err, true);
  },
);
