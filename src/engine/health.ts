/**
 * Healthchecks as dockerd runs them: the image's or the container's HEALTHCHECK command, exec'd
 * in the container every interval; its exit code (0 healthy, else a failure) and the last five
 * results kept in State.Health; `retries` failures in a row make it unhealthy, except during the
 * start period, where failures do not count. A status change is a `health_status` event.
 */
import { InvalidArgument } from "../errors.js";
import { Msg } from "../runtime/native/protocol.js";
import { exitCodeOf } from "../runtime/runtime.js";
import type { ContainerRecord, HealthConfig, HealthLogEntry } from "./docker-types.js";
import type { Engine } from "./engine.js";
import { createExec, getExec, startExec } from "./exec.js";

const SECOND = 1e9;
const DEFAULT_INTERVAL = 30 * SECOND;
const DEFAULT_TIMEOUT = 30 * SECOND;
const DEFAULT_RETRIES = 3;
const MAX_LOG = 5;
const MAX_OUTPUT = 4096;

/** The probe's argv, or undefined when there is no check (none set, or NONE). */
export function probeCommand(test: string[] | undefined): string[] | undefined {
  if (!test?.length) return undefined;
  const [kind, ...rest] = test;
  if (kind === "NONE") return undefined;
  if (kind === "CMD") return rest.length ? rest : undefined;
  if (kind === "CMD-SHELL") return rest.length ? ["/bin/sh", "-c", rest.join(" ")] : undefined;
  throw new InvalidArgument(
    `invalid healthcheck test ${JSON.stringify(test)}: it must start with NONE, CMD or CMD-SHELL`,
  );
}

/** Docker's merge: the container's fields override the image's, one by one. */
export function mergeHealthcheck(
  image: HealthConfig | undefined,
  container: HealthConfig | undefined,
): HealthConfig | undefined {
  if (!image) return container;
  if (!container) return image;
  return {
    ...image,
    ...Object.fromEntries(Object.entries(container).filter(([, v]) => v !== undefined && v !== 0)),
    ...(container.Test?.length ? { Test: container.Test } : {}),
  };
}

const timers = new Map<string, NodeJS.Timeout>();

export function stopHealthcheck(id: string): void {
  clearTimeout(timers.get(id));
  timers.delete(id);
}

/** Starts probing a running container (after start, or after live restore with `keepStatus`). */
export function startHealthcheck(engine: Engine, record: ContainerRecord, keepStatus = false): void {
  stopHealthcheck(record.Id);
  const config = record.Config.Healthcheck;
  const cmd = probeCommand(config?.Test);
  if (!cmd) return;
  const interval = (config?.Interval || DEFAULT_INTERVAL) / 1e6;
  const timeout = (config?.Timeout || DEFAULT_TIMEOUT) / 1e6;
  const retries = config?.Retries || DEFAULT_RETRIES;
  const startPeriodEnds = Date.parse(record.State.StartedAt) + (config?.StartPeriod ?? 0) / 1e6;
  if (!keepStatus || !record.State.Health) {
    record.State.Health = { Status: "starting", FailingStreak: 0, Log: [] };
    engine.save(record);
  }
  const id = record.Id;
  const tick = async () => {
    let c: ContainerRecord;
    try {
      c = engine.store.get(id);
    } catch {
      return stopHealthcheck(id);
    }
    if (!c.State.Running) return stopHealthcheck(id);
    if (!c.State.Paused) {
      const entry = await probe(engine, c, cmd, timeout);
      applyProbeResult(engine, c, entry, retries, Date.now() < startPeriodEnds);
    }
    if (timers.has(id)) timers.set(id, setTimeout(tick, interval).unref());
  };
  timers.set(id, setTimeout(tick, interval).unref());
}

function applyProbeResult(
  engine: Engine,
  c: ContainerRecord,
  entry: HealthLogEntry,
  retries: number,
  inStartPeriod: boolean,
): void {
  const health = c.State.Health ?? { Status: "starting", FailingStreak: 0, Log: [] };
  const before = health.Status;
  health.Log = [...health.Log, entry].slice(-MAX_LOG);
  if (entry.ExitCode === 0) {
    health.Status = "healthy";
    health.FailingStreak = 0;
  } else if (!inStartPeriod || health.Status !== "starting") {
    health.FailingStreak++;
    if (health.FailingStreak >= retries) health.Status = "unhealthy";
  }
  c.State.Health = health;
  engine.save(c);
  if (health.Status !== before) engine.events.container(c, `health_status: ${health.Status}`);
}

/** Runs the check once in the container: its exit code and the start of its output. */
async function probe(
  engine: Engine,
  c: ContainerRecord,
  cmd: string[],
  timeoutMs: number,
): Promise<HealthLogEntry> {
  const start = new Date().toISOString();
  const done = (ExitCode: number, Output: string): HealthLogEntry => ({
    Start: start,
    End: new Date().toISOString(),
    ExitCode,
    Output,
  });
  let output = "";
  try {
    const exec = getExec(createExec(engine, c, { Cmd: cmd, AttachStdout: true, AttachStderr: true }));
    const started = await startExec(engine, exec, true);
    const status = await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => {
        try {
          process.kill(exec.Pid, "SIGKILL");
        } catch {}
        resolve(undefined);
      }, timeoutMs);
      const onFrame = (f: { type: number; payload: Buffer }) => {
        if ((f.type === Msg.STDOUT || f.type === Msg.STDERR) && output.length < MAX_OUTPUT)
          output += f.payload.toString("utf8");
        else if (f.type === Msg.EXITED) {
          clearTimeout(timer);
          resolve(f.payload.readInt32LE(0));
        }
      };
      for (const f of started.channel.drain()) onFrame(f);
      started.channel.onFrame = onFrame;
      started.channel.socket.once("close", () => {
        clearTimeout(timer);
        resolve(undefined);
      });
    });
    started.channel.close();
    if (status === undefined) {
      started.reportExit(137 << 8);
      return done(-1, `Health check exceeded timeout (${timeoutMs / 1000}s)`);
    }
    started.reportExit(status);
    return done(exitCodeOf(status), output.slice(0, MAX_OUTPUT));
  } catch (err) {
    return done(-1, (err as Error).message);
  }
}
