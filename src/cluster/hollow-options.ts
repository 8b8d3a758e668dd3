/** The hollow nodes' command line (./hollow-main.ts), checked before anything starts. */
import { bool, type OptionSpec, parseArgs, str, UsageError } from "../cli/args.js";
import { type HollowOptions, TaskTimings, validateHollow } from "./hollow.js";

export const HOLLOW_OPTIONS: OptionSpec[] = [
  { name: "manager", type: "string", value: "HOST:PORT", description: "A manager's join address" },
  { name: "token", type: "string", value: "TOKEN", description: "A worker join token of the swarm" },
  { name: "nodes", type: "string", value: "N", description: "How many hollow nodes (default 1)" },
  {
    name: "addr",
    type: "string",
    value: "IP",
    description: "The address the nodes give (default 127.0.0.1)",
  },
  {
    name: "prefix",
    type: "string",
    value: "NAME",
    description: 'Host names are NAME-1, NAME-2, … (default "hollow")',
  },
  {
    name: "timings",
    type: "boolean",
    description: 'Record when tasks reach their nodes and run; a "report" line on stdin prints them',
  },
  { name: "help", short: "h", type: "boolean", description: "Print usage" },
];

/** The options `argv` gives, checked; undefined for --help. */
export function hollowOptions(argv: string[], log: (m: string) => void): HollowOptions | undefined {
  const { options: o, args } = parseArgs(argv, HOLLOW_OPTIONS);
  if (bool(o, "help")) return undefined;
  if (args.length) throw new UsageError(`hollow nodes take no arguments (got "${args[0]}")`);
  const manager = str(o, "manager");
  const token = str(o, "token");
  if (!manager) throw new UsageError("--manager HOST:PORT is required");
  if (!token) throw new UsageError("--token is required");
  const nodes = str(o, "nodes") ?? "1";
  const options: HollowOptions = {
    manager,
    token,
    count: /^\d+$/.test(nodes) ? Number(nodes) : Number.NaN,
    addr: str(o, "addr") ?? "127.0.0.1",
    prefix: str(o, "prefix") ?? "hollow",
    log,
    timings: bool(o, "timings") ? new TaskTimings() : undefined,
  };
  if (Number.isNaN(options.count))
    throw new UsageError(`--nodes: a whole number from 1 to 10000, not "${nodes}"`);
  validateHollow(options);
  return options;
}
