/**
 * Stack commands, as docker has them: stack deploy (compose file format 3.x, read and converted
 * here in the client, as docker's CLI does), ls, ps, services, rm. A stack is the services,
 * networks, secrets and configs labelled com.docker.stack.namespace=NAME.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { TaskRecord } from "../../../cluster/types.js";
import { InvalidArgument } from "../../../errors.js";
import { bool, type OptionSpec, type OptionValues, str, strs } from "../../args.js";
import { formatList } from "../format.js";
import { loadCompose, parseComposeText } from "../stack/compose-file.js";
import { NAMESPACE_LABEL } from "../stack/convert-service.js";
import { deployStack, removeStack, requireManager, stackServices } from "../stack/deploy.js";
import { checkNamespace, planStack } from "../stack/plan.js";
import { readRegularFile } from "../stack/read-file.js";
import type { Command, Context } from "./shared.js";
import { FILTER, printTasks, serviceLs } from "./swarm.js";

/** A compose file may be larger than a secret, but not without bound. */
const COMPOSE_FILE_LIMIT = 4 * 1024 * 1024;

const lookup = (name: string) => process.env[name];

function oneStack(command: string, args: string[]): string {
  if (args.length !== 1) throw new InvalidArgument(`"stack ${command}" requires exactly 1 argument.`);
  checkNamespace(args[0]!);
  return args[0]!;
}

async function deploy(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const namespace = oneStack("deploy", args);
  const files = strs(o, "compose-file");
  if (!files.length) throw new InvalidArgument("Please specify a Compose file (with --compose-file).");
  if (files.filter((f) => f === "-").length > 1)
    throw new InvalidArgument("standard input (-) can be given as a compose file once");
  const docs = files.map((f) =>
    parseComposeText(
      (f === "-"
        ? readFileSync(0)
        : readRegularFile(resolve(f), "--compose-file", COMPOSE_FILE_LIMIT)
      ).toString("utf8"),
      f === "-" ? "standard input" : f,
    ),
  );
  const baseDir = files[0] === "-" ? process.cwd() : dirname(resolve(files[0]!));
  const project = loadCompose(docs, baseDir, lookup);
  const plan = planStack(project, namespace, { lookup, readFile: readRegularFile });
  for (const w of new Set(plan.warnings)) process.stderr.write(`${w}\n`);
  await deployStack(ctx.api, plan, { prune: bool(o, "prune") }, (line) => process.stdout.write(`${line}\n`));
  return 0;
}

async function ls(ctx: Context, o: OptionValues): Promise<number> {
  await requireManager(ctx.api);
  const services = await ctx.api.call<Array<{ Spec: { Labels?: Record<string, string> } }>>(
    "GET",
    "/services",
    {
      query: { filters: JSON.stringify({ label: [NAMESPACE_LABEL] }) },
    },
  );
  const counts = new Map<string, number>();
  for (const s of services) {
    const ns = s.Spec.Labels?.[NAMESPACE_LABEL];
    if (ns) counts.set(ns, (counts.get(ns) ?? 0) + 1);
  }
  const rows = [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([Name, n]) => ({ Name, Services: String(n), Orchestrator: "Swarm" }));
  process.stdout.write(
    formatList(rows, str(o, "format"), [
      ["NAME", "{{.Name}}"],
      ["SERVICES", "{{.Services}}"],
    ]),
  );
  return 0;
}

async function ps(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const namespace = oneStack("ps", args);
  const filters = { label: [`${NAMESPACE_LABEL}=${namespace}`] };
  const tasks = await ctx.api.call<TaskRecord[]>("GET", "/tasks", {
    query: { filters: JSON.stringify(filters) },
  });
  if (!tasks.length) throw new InvalidArgument(`nothing found in stack: ${namespace}`);
  await printTasks(ctx, o, filters);
  return 0;
}

async function services(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  const namespace = oneStack("services", args);
  if (!(await stackServices(ctx.api, namespace)).length) {
    process.stderr.write(`Nothing found in stack: ${namespace}\n`);
    return 0;
  }
  return serviceLs(ctx, { ...o, filter: [...strs(o, "filter"), `label=${NAMESPACE_LABEL}=${namespace}`] });
}

async function rm(ctx: Context, _o: OptionValues, args: string[]): Promise<number> {
  if (!args.length) throw new InvalidArgument('"stack rm" requires at least 1 argument.');
  for (const a of args) checkNamespace(a);
  await requireManager(ctx.api);
  let ok = true;
  for (const namespace of args)
    ok =
      (await removeStack(
        ctx.api,
        namespace,
        (line) => process.stdout.write(`${line}\n`),
        (line) => process.stderr.write(`${line}\n`),
      )) && ok;
  return ok ? 0 : 1;
}

const FORMAT: OptionSpec = {
  name: "format",
  type: "string",
  description: "Format output using a custom template",
};

export const stackCommands: Record<string, Command> = {
  "stack deploy": {
    usage: "berth stack deploy [OPTIONS] STACK",
    description: "Deploy a new stack or update an existing stack",
    options: [
      {
        name: "compose-file",
        short: "c",
        type: "strings",
        description: 'Path to a Compose file, or "-" to read from stdin',
      },
      { name: "prune", type: "boolean", description: "Prune services that are no longer referenced" },
      {
        name: "with-registry-auth",
        type: "boolean",
        description:
          "Send registry authentication details to Swarm agents (accepted; nodes use their own logins)",
      },
    ],
    action: deploy,
  },
  "stack ls": {
    usage: "berth stack ls [OPTIONS]",
    description: "List stacks",
    options: [FORMAT],
    action: ls,
  },
  "stack ps": {
    usage: "berth stack ps [OPTIONS] STACK",
    description: "List the tasks in the stack",
    options: [
      FILTER,
      FORMAT,
      { name: "quiet", short: "q", type: "boolean", description: "Only display task IDs" },
      { name: "no-trunc", type: "boolean", description: "Do not truncate output" },
    ],
    action: ps,
  },
  "stack services": {
    usage: "berth stack services [OPTIONS] STACK",
    description: "List the services in the stack",
    options: [
      FILTER,
      FORMAT,
      { name: "quiet", short: "q", type: "boolean", description: "Only display IDs" },
    ],
    action: services,
  },
  "stack rm": {
    usage: "berth stack rm STACK [STACK...]",
    description: "Remove one or more stacks",
    options: [],
    action: rm,
  },
};
