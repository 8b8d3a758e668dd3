/**
 * Launching a berth-monitor with a plan and walking it through set-up:
 *   plan → PID (we write id maps, join cgroups, answer CONTINUE) → [SYNC for createRuntime
 *   hooks → CONTINUE] → CREATED (or STARTED at once for exec) → later START/STARTED/EXITED.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import type { Socket } from "node:net";
import { BerthError, SystemError } from "../../errors.js";
import { nativeBinary } from "../../util/native.js";
import { FrameChannel, MonitorGone } from "./channel.js";
import { encodePlan, type NativePlan } from "./plan.js";
import { Msg } from "./protocol.js";

/** Set-up failed inside the container process; the message names the step and the reason. */
export class ContainerSetupError extends BerthError {
  constructor(message: string) {
    super("container-setup", message);
  }
}

export function monitorPath(): string {
  return nativeBinary("berth-monitor");
}

export interface LaunchHooks {
  /** The monitor process exists (so that a caller can wait for it if set-up fails). */
  onSpawn?(child: ChildProcess): void;
  /** The container process exists (its pid as we see it): map ids, join cgroups. Returns the
   * state JSON that createContainer/startContainer hooks will read. */
  onPid(pid: number): string | Promise<string>;
  /** The process paused at a named point (createRuntime hooks). */
  onSync?(name: string): void | Promise<void>;
}

export interface LaunchedMonitor {
  child: ChildProcess;
  /** fd 3 of the monitor: start, wait and errors. Close it to let this process exit. */
  channel: FrameChannel;
  /** The container process's pid in our pid namespace. */
  pid: number;
}

export interface LaunchOptions {
  /** The monitor's own stdin, stdout, stderr (the container's too, with stdio "inherit"). */
  stdio:
    | "inherit"
    | "ignore"
    | [number | "ignore" | "inherit", number | "ignore" | "inherit", number | "ignore" | "inherit"];
}

/**
 * Starts a monitor for `plan` and runs the set-up handshake. Resolves once the process is created
 * (OCI "created", waiting for start) or, for plans without waitStart, has exec'd.
 */
export async function launchMonitor(
  plan: NativePlan,
  hooks: LaunchHooks,
  options: LaunchOptions,
): Promise<LaunchedMonitor> {
  const io =
    options.stdio === "inherit" || options.stdio === "ignore"
      ? [options.stdio, options.stdio, options.stdio]
      : options.stdio;
  const stdio: StdioOptions = [...io, "pipe"];
  // detached: its own session, so that a terminal's SIGINT/SIGHUP meant for us does not reach it.
  const child = spawn(monitorPath(), [], { stdio, detached: true });
  const channel = new FrameChannel(child.stdio[3] as Socket);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) => reject(new SystemError(`start ${monitorPath()}: ${err.message}`)));
  });
  await spawned;
  hooks.onSpawn?.(child);
  channel.send(Msg.PLAN, encodePlan(plan));
  let pid = 0;
  try {
    for (;;) {
      const f = await channel.next();
      if (f.type === Msg.PID) {
        pid = f.payload.readUInt32LE(0);
        const state = await hooks.onPid(pid);
        channel.send(Msg.CONTINUE, Buffer.from(state));
      } else if (f.type === Msg.SYNC) {
        await hooks.onSync?.(f.payload.toString());
        channel.send(Msg.CONTINUE);
      } else if (f.type === Msg.CREATED) {
        if (plan.waitStart) break;
      } else if (f.type === Msg.STARTED) {
        break;
      } else if (f.type === Msg.ERROR) {
        throw new ContainerSetupError(f.payload.toString());
      } else if (f.type === Msg.EXITED) {
        throw new ContainerSetupError(
          `the process exited during set-up (wait status ${f.payload.readInt32LE(0)})`,
        );
      }
    }
  } catch (err) {
    if (pid > 0) killQuietly(pid);
    channel.close();
    if (err instanceof MonitorGone) throw new ContainerSetupError("the monitor exited during set-up");
    throw err;
  }
  return { child, channel, pid };
}

export function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Waits for MSG_EXITED on a channel; resolves with the raw wait status. */
export async function waitExited(channel: FrameChannel): Promise<number> {
  const f = await channel.nextOf((x) => x.type === Msg.EXITED);
  return f.payload.readInt32LE(0);
}

/** Sends START and waits for the exec to happen (STARTED) or fail (ERROR). */
export async function startProcess(channel: FrameChannel): Promise<void> {
  channel.send(Msg.START);
  // Output and the exit may arrive before STARTED is read: leave them queued for the caller.
  const f = await channel.nextOf((x) => x.type === Msg.STARTED || x.type === Msg.ERROR);
  if (f.type === Msg.ERROR) throw new ContainerSetupError(f.payload.toString());
}
