/** berth-runtime exec: another process in a running container, in the foreground or detached. */
import { readFileSync } from "node:fs";
import { InvalidArgument } from "../../errors.js";
import type { Process } from "../../oci/runtime-spec.js";
import { normalizeCapability } from "../../runtime/capabilities.js";
import { exitCodeOf, Runtime } from "../../runtime/runtime.js";
import { bool, str, strs } from "../args.js";
import { runForeground } from "./foreground.js";
import type { Command } from "./main.js";

function parseUser(text: string): { uid: number; gid: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new InvalidArgument(`--user: "${text}" is not UID or UID:GID`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

export const exec: Command = {
  usage: "exec [options] ID COMMAND [ARG...]",
  description: "Run a process in a running container's namespaces and cgroup.",
  interspersed: false,
  options: [
    { name: "tty", short: "t", type: "boolean", description: "give the process a pty" },
    { name: "detach", short: "d", type: "boolean", description: "return once it runs" },
    { name: "cwd", type: "string", value: "DIR", description: "working directory in the container" },
    {
      name: "env",
      short: "e",
      type: "strings",
      value: "KEY=VALUE",
      description: "add or replace an environment variable",
    },
    { name: "user", short: "u", type: "string", value: "UID[:GID]", description: "run as this user" },
    { name: "additional-gids", short: "g", type: "strings", value: "GID", description: "additional group" },
    { name: "cap", short: "c", type: "strings", value: "CAP", description: "add a capability" },
    { name: "no-new-privs", type: "boolean", description: "set no_new_privs" },
    { name: "process", short: "p", type: "string", value: "FILE", description: "the process as OCI JSON" },
    { name: "pid-file", type: "string", value: "PATH", description: "write the process's pid here" },
    {
      name: "console-socket",
      type: "string",
      value: "PATH",
      description: "send the pty master to this unix socket",
    },
  ],
  arity: [1, -1],
  async run([id, ...command], o, { root }) {
    const rt = new Runtime(root ? { root } : {});
    const record = rt.record(id!);
    let proc: Process;
    const file = str(o, "process");
    if (file) {
      try {
        proc = JSON.parse(readFileSync(file, "utf8")) as Process;
      } catch (err) {
        throw new InvalidArgument(`--process ${file}: ${(err as Error).message}`);
      }
    } else {
      if (command.length === 0) throw new InvalidArgument("exec needs a command (or --process)");
      const base = record.spec.process ?? { user: { uid: 0, gid: 0 }, cwd: "/" };
      const env = new Map((base.env ?? []).map((e) => [e.split("=")[0]!, e]));
      for (const e of strs(o, "env")) env.set(e.split("=")[0]!, e);
      const user = str(o, "user") ? parseUser(str(o, "user")!) : { uid: base.user.uid, gid: base.user.gid };
      const caps = { ...(base.capabilities ?? {}) };
      for (const c of strs(o, "cap").map(normalizeCapability))
        for (const set of ["bounding", "effective", "permitted", "inheritable", "ambient"] as const)
          caps[set] = [...new Set([...(caps[set] ?? []), c])];
      proc = {
        ...base,
        args: command,
        env: [...env.values()],
        cwd: str(o, "cwd") ?? base.cwd,
        terminal: bool(o, "tty"),
        user: { ...base.user, ...user, additionalGids: strs(o, "additional-gids").map(Number) },
        ...(base.capabilities || strs(o, "cap").length ? { capabilities: caps } : {}),
        noNewPrivileges: bool(o, "no-new-privs") || base.noNewPrivileges === true,
      };
    }
    const consoleSocket = str(o, "console-socket");
    const detach = bool(o, "detach");
    const handle = await rt.exec(id!, {
      process: proc,
      // Detached, the caller reaps the process (a containerd shim does), as with runc.
      ...(detach ? { handoff: true } : {}),
      ...(consoleSocket ? { consoleSocket } : {}),
      ...(str(o, "pid-file") ? { pidFile: str(o, "pid-file")! } : {}),
    });
    if (detach) {
      handle.channel.close();
      handle.monitor.unref();
      return 0;
    }
    const relay = proc.terminal === true && !consoleSocket;
    return exitCodeOf(await runForeground(handle.pid, handle.channel, async () => {}, relay));
  },
};
