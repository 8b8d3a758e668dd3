/**
 * `docker exec`: exec instances (kept in memory, as Docker does) and running them in a
 * container through the runtime, with their output attachable from the first byte.
 */

import { randomBytes } from "node:crypto";
import { Conflict, InvalidArgument, NotFound } from "../errors.js";
import type { Process } from "../oci/runtime-spec.js";
import { grantableCapabilities } from "../runtime/capabilities.js";
import type { FrameChannel } from "../runtime/native/channel.js";
import { startProcess, waitExited } from "../runtime/native/monitor.js";
import { Attach, Msg } from "../runtime/native/protocol.js";
import { exitCodeOf } from "../runtime/runtime.js";
import { withTreeReader } from "../snapshot/tree-reader.js";
import { processRoot } from "./archive.js";
import { canonicalExecBody, checkExecBody } from "./body-types.js";
import { mergeEnv } from "./container-spec.js";
import type { ContainerRecord } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { resolveUser } from "./user.js";

export interface ExecConfig {
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Tty?: boolean;
  Env?: string[];
  Cmd: string[];
  Privileged?: boolean;
  User?: string;
  WorkingDir?: string;
}

export interface ExecInstance {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  /** `user` only when one was given (dockerd omits it otherwise). */
  ProcessConfig: {
    tty: boolean;
    entrypoint: string;
    arguments: string[];
    privileged: boolean;
    user?: string;
  };
  OpenStdin: boolean;
  OpenStderr: boolean;
  OpenStdout: boolean;
  CanRemove: boolean;
  ContainerID: string;
  DetachKeys: string;
  Pid: number;
  config: ExecConfig;
  started: boolean;
}

/** An exec whose process could not be started: the caller reports it (a 400, or in the stream). */
export class ExecStartFailed extends InvalidArgument {}

export class NoSuchExec extends NotFound {
  constructor(id: string) {
    super(`No such exec instance: ${id}`);
  }
}

const execs = new Map<string, ExecInstance>();

export function getExec(id: string): ExecInstance {
  const e = execs.get(id);
  if (!e) throw new NoSuchExec(id);
  return e;
}

export function createExec(engine: Engine, c: ContainerRecord, config: ExecConfig): string {
  canonicalExecBody(config);
  checkExecBody(config);
  if (!c.State.Running) throw new Conflict(`Container ${c.Id} is not running`);
  if (c.State.Paused) throw new Conflict(`Container ${c.Id} is paused, unpause the container before exec`);
  if (!Array.isArray(config.Cmd) || config.Cmd.length === 0) throw new Conflict("No exec command specified");
  const id = randomBytes(32).toString("hex");
  execs.set(id, {
    ID: id,
    Running: false,
    ExitCode: null,
    ProcessConfig: {
      tty: config.Tty === true,
      entrypoint: config.Cmd[0]!,
      arguments: config.Cmd.slice(1),
      privileged: config.Privileged === true,
      ...(config.User ? { user: config.User } : {}),
    },
    OpenStdin: config.AttachStdin === true,
    OpenStderr: config.AttachStderr === true,
    OpenStdout: config.AttachStdout === true,
    CanRemove: false,
    ContainerID: c.Id,
    DetachKeys: config.DetachKeys ?? "",
    Pid: 0,
    config,
    started: false,
  });
  c.ExecIDs = [...(c.ExecIDs ?? []), id];
  engine.events.container(c, `exec_create: ${config.Cmd.join(" ")}`, { execID: id });
  return id;
}

/** The running container's /etc/passwd and /etc/group, read inside its root. */
async function etcFiles(engine: Engine, c: ContainerRecord): Promise<(string | undefined)[]> {
  const root = processRoot(engine, c);
  return withTreeReader(async (r) => [
    (await r.readFile(root, "/etc/passwd"))?.toString(),
    (await r.readFile(root, "/etc/group"))?.toString(),
  ]);
}

async function execProcess(engine: Engine, c: ContainerRecord, e: ExecInstance): Promise<Process> {
  const base = engine.runtime.record(c.Id).spec.process!;
  const [passwd, group] = e.config.User ? await etcFiles(engine, c) : [];
  const user = e.config.User
    ? resolveUser(e.config.User, [], passwd, group)
    : { uid: base.user.uid, gid: base.user.gid, additionalGids: base.user.additionalGids ?? [] };
  const all = grantableCapabilities();
  return {
    ...base,
    terminal: e.ProcessConfig.tty,
    args: e.config.Cmd,
    env: mergeEnv(base.env ?? [], e.config.Env ?? []),
    cwd: e.config.WorkingDir || base.cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    ...(e.ProcessConfig.privileged
      ? { capabilities: { bounding: all, effective: all, permitted: all } }
      : {}),
  };
}

/**
 * Starts an exec instance; with `attach`, the output flows to the returned channel from the
 * first byte (the process waits until the channel is attached). Resolves once it runs.
 */
export interface StartedExec {
  channel: FrameChannel;
  exited: Promise<number>;
  /** For an attached exec, whoever relays the channel reports the exit status it carries. */
  reportExit: (status: number) => void;
}

/**
 * `beforeStart` runs once the process exists (and, with `attach`, its output is attached) but
 * before it runs: the API sends its 101 response there, so that no output precedes it.
 */
export async function startExec(
  engine: Engine,
  e: ExecInstance,
  attach: boolean,
  beforeStart?: () => Promise<void>,
): Promise<StartedExec> {
  if (e.started) throw new Conflict(`Exec command ${e.ID} has already run`);
  const c = engine.store.get(e.ContainerID);
  if (!c.State.Running) throw new Conflict(`Container ${c.Id} is not running`);
  if (c.State.Paused) throw new Conflict(`Container ${c.Id} is paused, unpause the container before exec`);
  e.started = true;
  let handle: Awaited<ReturnType<typeof engine.runtime.exec>>;
  try {
    handle = await engine.runtime.exec(c.Id, {
      process: await execProcess(engine, c, e),
      stdio: "pipes",
      stdinOpen: e.OpenStdin,
      waitStart: true,
    });
  } catch (err) {
    // The process never ran (no such program, no such user): dockerd's exit code for that.
    e.ExitCode = 126;
    engine.events.container(c, "exec_die", { execID: e.ID, exitCode: "126" });
    throw new ExecStartFailed(err instanceof Error ? err.message : String(err), { cause: err });
  }
  e.Pid = handle.pid;
  e.Running = true;
  if (attach) {
    const flags =
      (e.OpenStdin ? Attach.STDIN : 0) |
      (e.OpenStdout ? Attach.STDOUT : 0) |
      (e.OpenStderr ? Attach.STDERR : 0);
    const payload = Buffer.alloc(4);
    payload.writeUInt32LE(flags);
    handle.channel.send(Msg.ATTACH, payload);
    const ok = await handle.channel.next();
    if (ok.type !== Msg.OK) throw new Error("the exec monitor refused the attach");
  }
  // The exit arrives on the same channel: whoever relays it reports it through `onExit` below.
  let reportExit: (status: number) => void = () => {};
  const exited = new Promise<number>((resolve) => {
    reportExit = resolve;
  });
  void exited.then((status) => {
    e.Running = false;
    e.ExitCode = exitCodeOf(status);
    engine.events.container(c, "exec_die", { execID: e.ID, exitCode: String(e.ExitCode) });
  });
  engine.events.container(c, `exec_start: ${e.config.Cmd.join(" ")}`, { execID: e.ID });
  try {
    await beforeStart?.();
  } catch (err) {
    handle.channel.close(); // the process never runs: the monitor ends it
    throw err;
  }
  await startProcess(handle.channel);
  if (!attach) {
    void waitExited(handle.channel)
      .catch(() => 255 << 8)
      .then((s) => {
        handle.channel.close();
        reportExit(s);
      });
  }
  return { channel: handle.channel, exited, reportExit };
}

export function publicExec(e: ExecInstance) {
  const { config: _c, started: _s, ...rest } = e;
  return rest;
}
