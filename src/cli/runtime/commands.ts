/** The berth-runtime commands other than exec. Each is a thin layer over Runtime. */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BerthError, InvalidArgument } from "../../errors.js";
import { defaultSpec } from "../../oci/default-spec.js";
import type { LinuxResources } from "../../oci/runtime-spec.js";
import type { CreateOptions } from "../../runtime/create.js";
import { clampToHost } from "../../runtime/rlimits.js";
import { exitCodeOf, Runtime } from "../../runtime/runtime.js";
import { bool, type OptionValues, str } from "../args.js";
import { runForeground } from "./foreground.js";
import type { Command, GlobalOptions } from "./main.js";

const runtime = (root: string | undefined) => new Runtime(root ? { root } : {});

const bundleOption = {
  name: "bundle",
  short: "b",
  type: "string",
  value: "DIR",
  description: "the bundle (default: the current directory)",
} as const;
const consoleOption = {
  name: "console-socket",
  type: "string",
  value: "PATH",
  description: "send the pty master to this unix socket",
} as const;
const pidFileOption = {
  name: "pid-file",
  type: "string",
  value: "PATH",
  description: "write the container process's pid here",
} as const;

function printWarnings(warnings: string[]): void {
  for (const w of warnings) process.stderr.write(`berth-runtime: warning: ${w}\n`);
}

const noNewKeyringOption = {
  name: "no-new-keyring",
  type: "boolean",
  description: "keep the caller's session keyring (Berth never makes one)",
} as const;

/** What create and run take from the command line, the same for both. */
function createOptions(o: OptionValues, global: GlobalOptions): CreateOptions {
  return {
    bundle: str(o, "bundle") ?? ".",
    ...(str(o, "console-socket") ? { consoleSocket: str(o, "console-socket")! } : {}),
    ...(str(o, "pid-file") ? { pidFile: str(o, "pid-file")! } : {}),
    ...(global.systemdCgroup ? { systemdCgroup: true } : {}),
  };
}

export const create: Command = {
  usage: "create [options] ID",
  description:
    "Create a container from a bundle; its process waits until `start`, and is then the child of the caller's subreaper, as with runc.",
  options: [bundleOption, consoleOption, pidFileOption, noNewKeyringOption],
  arity: [1, 1],
  async run([id], o, global) {
    const created = await runtime(global.root).create(id!, { ...createOptions(o, global), handoff: true });
    printWarnings(created.warnings);
    return 0;
  },
};

export const start: Command = {
  usage: "start ID",
  description: "Run the process of a created container.",
  options: [],
  arity: [1, 1],
  async run([id], _o, { root }) {
    printWarnings(await runtime(root).start(id!));
    return 0;
  },
};

export const state: Command = {
  usage: "state ID",
  description: "Print the OCI state of a container as JSON.",
  options: [],
  arity: [1, 1],
  async run([id], _o, { root }) {
    process.stdout.write(`${JSON.stringify(runtime(root).state(id!), null, 2)}\n`);
    return 0;
  },
};

export const kill: Command = {
  usage: "kill [options] ID [SIGNAL]",
  description: "Send a signal (default SIGTERM) to a container's process.",
  options: [
    { name: "all", short: "a", type: "boolean", description: "signal every process in the container" },
  ],
  arity: [1, 2],
  async run([id, signal], o, { root }) {
    await runtime(root).kill(id!, signal ?? "SIGTERM", bool(o, "all"));
    return 0;
  },
};

export const remove: Command = {
  usage: "delete [options] ID",
  description: "Delete a stopped container and everything it holds.",
  options: [
    { name: "force", short: "f", type: "boolean", description: "kill the container first if it runs" },
  ],
  arity: [1, 1],
  async run([id], o, { root }) {
    printWarnings(await runtime(root).delete(id!, bool(o, "force")));
    return 0;
  },
};

export const run: Command = {
  usage: "run [options] ID",
  description: "Create and start a container, wait for it to exit, delete it, and exit with its status.",
  options: [
    bundleOption,
    consoleOption,
    pidFileOption,
    noNewKeyringOption,
    { name: "detach", short: "d", type: "boolean", description: "start it and return at once" },
    { name: "keep", type: "boolean", description: "do not delete the container when it exits" },
  ],
  arity: [1, 1],
  async run([id], o, global) {
    const rt = runtime(global.root);
    const detach = bool(o, "detach");
    // Detached, the caller reaps the process as after create; in the foreground, we wait for it.
    const created = await rt.create(id!, {
      ...createOptions(o, global),
      ...(detach ? { handoff: true } : { keepChannel: true }),
    });
    printWarnings(created.warnings);
    if (detach) {
      printWarnings(await rt.start(id!));
      return 0;
    }
    const relay = rt.record(id!).spec.process?.terminal === true && !str(o, "console-socket");
    const status = await runForeground(
      created.pid,
      created.channel!,
      () => rt.start(id!, created.channel).then(printWarnings),
      relay,
    );
    if (!bool(o, "keep")) printWarnings(await rt.delete(id!, true));
    return exitCodeOf(status);
  },
};

export const list: Command = {
  usage: "list [options]",
  description: "List containers.",
  options: [
    { name: "format", short: "f", type: "string", value: "FORMAT", description: "table or json" },
    { name: "quiet", short: "q", type: "boolean", description: "print only the ids" },
  ],
  arity: [0, 0],
  async run(_args, o, { root }) {
    const all = runtime(root).list();
    if (bool(o, "quiet")) {
      for (const c of all) process.stdout.write(`${c.state.id}\n`);
      return 0;
    }
    const format = str(o, "format") ?? "table";
    if (format === "json") {
      const rows = all.map((c) => ({ ...c.state, pid: c.state.pid ?? 0, created: c.created, owner: "root" }));
      process.stdout.write(`${JSON.stringify(rows)}\n`);
      return 0;
    }
    if (format !== "table") throw new InvalidArgument(`--format: "${format}" is not table or json`);
    const rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]];
    for (const c of all)
      rows.push([c.state.id, String(c.state.pid ?? 0), c.state.status, c.state.bundle, c.created, "root"]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        `${r
          .map((c, i) => c.padEnd(widths[i]! + 3))
          .join("")
          .trimEnd()}\n`,
      );
    return 0;
  },
};

export const pause: Command = {
  usage: "pause ID",
  description: "Freeze every process of a container.",
  options: [],
  arity: [1, 1],
  async run([id], _o, { root }) {
    await runtime(root).pause(id!);
    return 0;
  },
};

export const resume: Command = {
  usage: "resume ID",
  description: "Thaw a paused container.",
  options: [],
  arity: [1, 1],
  async run([id], _o, { root }) {
    await runtime(root).resume(id!);
    return 0;
  },
};

export const ps: Command = {
  usage: "ps [options] ID",
  description:
    "List the processes of a container: ps(1)'s lines for them (PS-OPTIONS, default -ef), or their host pids as JSON.",
  options: [{ name: "format", short: "f", type: "string", value: "FORMAT", description: "table or json" }],
  arity: [1, -1],
  interspersed: false,
  async run([id, ...psOptions], o, { root }) {
    const rt = runtime(root);
    const pids = rt.ctx.cgroupOf(rt.record(id!)).processes();
    const format = str(o, "format") ?? "table";
    if (format === "json") {
      if (psOptions.length) throw new InvalidArgument("ps options go with --format table only");
      process.stdout.write(`${JSON.stringify(pids)}\n`);
      return 0;
    }
    if (format !== "table") throw new InvalidArgument(`--format: "${format}" is not table or json`);
    process.stdout.write(psLinesOf(new Set(pids), psOptions.length ? psOptions : ["-ef"]));
    return 0;
  },
};

/** ps(1)'s header and the lines whose PID column is one of `pids`, as runc ps prints them. */
function psLinesOf(pids: Set<number>, psOptions: string[]): string {
  const r = spawnSync("ps", psOptions, { encoding: "utf8" });
  if (r.error || r.status !== 0)
    throw new InvalidArgument(`ps ${psOptions.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
  const [header = "", ...lines] = r.stdout.split("\n");
  const column = header.trim().split(/\s+/).indexOf("PID");
  if (column < 0) throw new InvalidArgument(`ps ${psOptions.join(" ")}: its output has no PID column`);
  const ours = lines.filter((l) => pids.has(Number(l.trim().split(/\s+/)[column])));
  return `${header}\n${ours.map((l) => `${l}\n`).join("")}`;
}

/** Checkpoint and restore need CRIU, which Berth does not drive. */
class CheckpointUnsupported extends BerthError {
  constructor(command: string) {
    super(
      "not-supported",
      `${command} is not supported: berth-runtime cannot checkpoint or restore containers (no CRIU); nothing was changed`,
    );
  }
}

function refusal(name: "checkpoint" | "restore"): Command {
  return {
    usage: `${name} [options] ID`,
    description: `Refused: berth-runtime has no ${name} (it needs CRIU).`,
    options: [],
    arity: [0, -1],
    rawArgs: true,
    async run() {
      throw new CheckpointUnsupported(name);
    },
  };
}

export const checkpoint = refusal("checkpoint");
export const restore = refusal("restore");

export const spec: Command = {
  usage: "spec [options]",
  description: "Write a default config.json (a shell in ./rootfs) to start editing from.",
  options: [
    bundleOption,
    { name: "rootless", type: "boolean", description: "a config for a user namespace" },
  ],
  arity: [0, 0],
  async run(_args, o) {
    const path = join(resolve(str(o, "bundle") ?? "."), "config.json");
    if (existsSync(path)) throw new InvalidArgument(`${path} exists: remove it first`);
    const config = defaultSpec({ rootless: bool(o, "rootless"), nofile: clampToHost("RLIMIT_NOFILE", 1024) });
    writeFileSync(path, `${JSON.stringify(config, null, "\t")}\n`);
    return 0;
  },
};

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new InvalidArgument(`--interval: "${text}" is not a duration such as 5s or 500ms`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000 }[m[2] ?? "s"]!;
}

export const events: Command = {
  usage: "events [options] ID",
  description: "Print cgroup statistics every interval and an event for each OOM kill; --stats prints once.",
  options: [
    { name: "stats", type: "boolean", description: "print the statistics once and exit" },
    {
      name: "interval",
      type: "string",
      value: "DURATION",
      description: "time between statistics (default 5s)",
    },
  ],
  arity: [1, 1],
  async run([id], o, { root }) {
    const rt = runtime(root);
    const print = (type: string, data?: unknown) =>
      process.stdout.write(`${JSON.stringify({ type, id, ...(data ? { data } : {}) })}\n`);
    if (bool(o, "stats")) {
      print("stats", rt.stats(id!));
      return 0;
    }
    const interval = parseDuration(str(o, "interval") ?? "5s");
    let ooms = rt.oomKillCount(id!);
    let last = 0;
    const reportOoms = () => {
      for (const now = rt.oomKillCount(id!); ooms < now; ooms++) print("oom");
    };
    while (rt.state(id!).status !== "stopped") {
      reportOoms();
      if (Date.now() - last >= interval) {
        print("stats", rt.stats(id!));
        last = Date.now();
      }
      await new Promise((r) => setTimeout(r, Math.min(interval, 200)));
    }
    reportOoms(); // the kill that stopped it
    return 0;
  },
};

function positiveNumber(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isFinite(n)) throw new InvalidArgument(`--${flag}: "${text}" is not a number`);
  return n;
}

export const update: Command = {
  usage: "update [options] ID",
  description: "Change the resources of a running container.",
  options: [
    {
      name: "resources",
      short: "r",
      type: "string",
      value: "FILE",
      description: "OCI LinuxResources JSON ('-' for stdin)",
    },
    { name: "memory", type: "string", value: "BYTES", description: "memory limit" },
    { name: "memory-swap", type: "string", value: "BYTES", description: "memory plus swap limit" },
    { name: "cpu-shares", type: "string", value: "N", description: "relative CPU weight" },
    { name: "cpu-quota", type: "string", value: "USEC", description: "CPU time per period" },
    { name: "cpu-period", type: "string", value: "USEC", description: "CPU period" },
    { name: "cpuset-cpus", type: "string", value: "LIST", description: "CPUs allowed" },
    { name: "pids-limit", type: "string", value: "N", description: "maximum number of processes" },
  ],
  arity: [1, 1],
  async run([id], o, { root }) {
    let resources: LinuxResources = {};
    const file = str(o, "resources");
    if (file) {
      try {
        resources = JSON.parse(readFileSync(file === "-" ? 0 : file, "utf8")) as LinuxResources;
      } catch (err) {
        throw new InvalidArgument(`--resources: ${(err as Error).message}`);
      }
    }
    const n = (flag: string) =>
      str(o, flag) !== undefined ? positiveNumber(str(o, flag)!, flag) : undefined;
    const memory = { ...resources.memory };
    if (n("memory") !== undefined) memory.limit = n("memory")!;
    if (n("memory-swap") !== undefined) memory.swap = n("memory-swap")!;
    if (Object.keys(memory).length) resources.memory = memory;
    const cpu = { ...resources.cpu };
    if (n("cpu-shares") !== undefined) cpu.shares = n("cpu-shares")!;
    if (n("cpu-quota") !== undefined) cpu.quota = n("cpu-quota")!;
    if (n("cpu-period") !== undefined) cpu.period = n("cpu-period")!;
    if (str(o, "cpuset-cpus")) cpu.cpus = str(o, "cpuset-cpus")!;
    if (Object.keys(cpu).length) resources.cpu = cpu;
    if (n("pids-limit") !== undefined) resources.pids = { limit: n("pids-limit")! };
    const rt = runtime(root);
    const status = rt.state(id!).status;
    if (status === "stopped") throw new InvalidArgument(`container "${id}" is not running`);
    rt.update(id!, resources);
    return 0;
  },
};
