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
import type { MonitorSpawner } from "./spawner.js";

/** Set-up failed inside the container process; the message names the step and the reason. */
export class ContainerSetupError extends BerthError {
  constructor(message: string) {
    super("container-setup", message);
  }
}

export function monitorPath(): string {
  return nativeBinary("berth-monitor");
}

/** A running monitor, however it was started. */
export interface MonitorProcess {
  readonly pid: number;
  /** Resolves once the monitor has exited, or after `ms`. */
  exited(ms: number): Promise<void>;
  /** Lets this process exit while the monitor runs on. */
  unref(): void;
}

/** A monitor that is our child. */
function childMonitor(child: ChildProcess): MonitorProcess {
  return {
    pid: child.pid ?? 0,
    exited: (ms) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((done) => {
            const timer = setTimeout(done, ms);
            child.once("exit", () => {
              clearTimeout(timer);
              done();
            });
          }),
    unref: () => child.unref(),
  };
}

/** A monitor the spawner started (and reaps): gone once its pid is. */
function spawnedMonitor(pid: number): MonitorProcess {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    pid,
    exited: async (ms) => {
      for (const deadline = Date.now() + ms; alive() && Date.now() < deadline; )
        await new Promise((r) => setTimeout(r, 10));
    },
    unref: () => {},
  };
}

export interface LaunchHooks {
  /** The monitor process exists (so that a caller can wait for it if set-up fails). */
  onSpawn?(monitor: MonitorProcess): void;
  /** The container process exists (its pid as we see it): map ids, join cgroups. Returns the
   * state JSON that createContainer/startContainer hooks will read. */
  onPid(pid: number): string | Promise<string>;
  /** The process paused at a named point (createRuntime hooks). */
  onSync?(name: string): void | Promise<void>;
}

export interface LaunchedMonitor {
  monitor: MonitorProcess;
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
  /** Start it through berth-spawner (stdio "ignore" only: the spawner gives it /dev/null). */
  spawner?: MonitorSpawner;
}

async function startMonitor(options: LaunchOptions): Promise<{ monitor: MonitorProcess; socket: Socket }> {
  if (options.spawner && options.stdio === "ignore") {
    const { pid, socket } = await options.spawner.spawn();
    return { monitor: spawnedMonitor(pid), socket };
  }
  const io =
    options.stdio === "inherit" || options.stdio === "ignore"
      ? [options.stdio, options.stdio, options.stdio]
      : options.stdio;
  const stdio: StdioOptions = [...io, "pipe"];
  // detached: its own session, so that a terminal's SIGINT/SIGHUP meant for us does not reach it.
  const child = spawn(monitorPath(), [], { stdio, detached: true });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) => reject(new SystemError(`start ${monitorPath()}: ${err.message}`)));
  });
  return { monitor: childMonitor(child), socket: child.stdio[3] as Socket };
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
  const { monitor, socket } = await startMonitor(options);
  const channel = new FrameChannel(socket);
  socket.resume(); // a spawner's connection waits paused for its reader
  hooks.onSpawn?.(monitor);
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
  return { monitor, channel, pid };
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
