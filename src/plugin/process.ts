/**
 * A plugin's process, run as a container by Berth's own runtime (the same create/start/kill/
 * delete the engine uses, with a state directory of the plugins' own so that the engine's
 * live-restore never mistakes a plugin for a container of its own):
 *   socket directory → propagated mount (shared) → spec → runtime.create → start → wait for the
 *   socket (the process ended, and a clear error, if it does not come) → watch the exit.
 * Stopping is SIGTERM, then SIGKILL after the grace time, then the runtime's delete (processes,
 * cgroup, state) and the host mounts and directories it had. Plugins do not outlive the daemon:
 * it stops them at shutdown, and a crash's leftovers are ended at the next start.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { readLogs } from "../engine/logs.js";
import { errorText } from "../errors.js";
import type { LinuxDevice, LinuxSeccomp } from "../oci/runtime-spec.js";
import { bindShared, unmountUnder } from "../runtime/host-mounts.js";
import type { FrameChannel } from "../runtime/native/channel.js";
import { waitExited } from "../runtime/native/monitor.js";
import { exitCodeOf, type Runtime } from "../runtime/runtime.js";
import { socketListens } from "./client.js";
import { PluginStartFailed } from "./errors.js";
import { isFullPluginId } from "./names.js";
import { pluginSpec } from "./spec.js";
import type { PluginStore } from "./store.js";
import type { Plugin } from "./types.js";

/** What dockerd gives a plugin between SIGTERM and SIGKILL (shutdownTimeout). */
const STOP_GRACE_MS = 10_000;
const SOCKET_POLL_MS = 100;
const LOG_MAX_BYTES = 1024 * 1024;

export interface PluginProcessOptions {
  /** A runtime whose state root is the plugins' own. */
  runtime: Runtime;
  store: PluginStore;
  /** `<exec-root>/plugins`: one socket directory per plugin id. */
  socketRoot: string;
  cgroupsPath: (id: string) => string;
  hostDevice: (path: string) => LinuxDevice | undefined;
  seccomp: (capabilities: string[]) => LinuxSeccomp | undefined;
  log: (message: string) => void;
  /** The process ended without being asked to (its wait status). */
  onUnexpectedExit: (id: string, status: number) => void;
}

interface Running {
  channel: FrameChannel;
  exited: Promise<number>;
  /** It listens on its socket: an exit from now on is news (before, start reports it). */
  ready: boolean;
  stopping: boolean;
}

export class PluginProcesses {
  private readonly running = new Map<string, Running>();

  constructor(private readonly o: PluginProcessOptions) {}

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** The host directory bound at /run/docker/plugins inside the plugin. */
  socketDir(id: string): string {
    return join(this.o.socketRoot, id);
  }

  socketPath(plugin: Plugin): string {
    return join(this.socketDir(plugin.Id), plugin.Config.Interface.Socket);
  }

  /** Starts the plugin and resolves once it listens on its socket; on any failure, nothing is left. */
  async start(plugin: Plugin, timeoutMs: number): Promise<void> {
    const id = plugin.Id;
    const store = this.o.store;
    // A clean socket directory: a stale socket from a previous run must not pass for the new one.
    rmSync(this.socketDir(id), { recursive: true, force: true });
    mkdirSync(this.socketDir(id), { recursive: true, mode: 0o700 });
    try {
      if (plugin.Config.PropagatedMount) {
        mkdirSync(store.propagatedMount(id), { recursive: true, mode: 0o755 });
        bindShared(store.propagatedMount(id));
      }
      const spec = pluginSpec({
        plugin,
        rootfs: store.rootfs(id),
        socketDir: this.socketDir(id),
        propagatedMount: store.propagatedMount(id),
        cgroupsPath: this.o.cgroupsPath(id),
        hostDevice: this.o.hostDevice,
        seccomp: this.o.seccomp,
      });
      const created = await this.o.runtime.create(id, {
        bundle: store.dir(id),
        spec,
        stdio: "pipes",
        log: { path: store.logPath(id), maxSize: LOG_MAX_BYTES, maxFiles: 2 },
        ensureDirectories: [spec.process!.cwd],
        keepChannel: true,
      });
      const channel = created.channel!;
      try {
        await this.o.runtime.start(id, channel);
      } catch (err) {
        channel.close();
        throw err;
      }
      // Waited for only now: a channel has one reader, and start's was waiting for STARTED.
      const entry: Running = { channel, exited: waitExited(channel), ready: false, stopping: false };
      this.running.set(id, entry);
      entry.exited.then(
        (status) => this.exitedOnItsOwn(id, entry, status),
        () => this.exitedOnItsOwn(id, entry, 255 << 8),
      );
      await this.waitForSocket(plugin, entry, timeoutMs);
      entry.ready = true;
      if (!this.running.has(id) || (await within(entry.exited, 0)))
        throw new PluginStartFailed(
          `plugin ${plugin.Name} exited right after it started listening${await this.outputTail(id)}`,
        );
    } catch (err) {
      await this.stop(id, 0).catch((e: Error) => this.o.log(`plugin ${plugin.Name}: clean-up: ${e.message}`));
      if (err instanceof PluginStartFailed) throw err;
      throw new PluginStartFailed(`plugin ${plugin.Name} did not start: ${errorText(err)}`, { cause: err });
    }
  }

  private async waitForSocket(plugin: Plugin, entry: Running, timeoutMs: number): Promise<void> {
    const path = this.socketPath(plugin);
    let exitStatus: number | undefined;
    void entry.exited.then(
      (s) => {
        exitStatus = s;
      },
      () => {
        exitStatus = 255 << 8;
      },
    );
    for (const deadline = Date.now() + timeoutMs; ; ) {
      if (await socketListens(path)) return;
      if (exitStatus !== undefined)
        throw new PluginStartFailed(
          `plugin ${plugin.Name} exited with status ${exitCodeOf(exitStatus)} before listening on ${this.inside(plugin)}${await this.outputTail(plugin.Id)}`,
        );
      if (Date.now() >= deadline)
        throw new PluginStartFailed(
          `plugin ${plugin.Name} did not listen on ${this.inside(plugin)} within ${timeoutMs / 1000}s: it was stopped${await this.outputTail(plugin.Id)}`,
        );
      await new Promise((r) => setTimeout(r, SOCKET_POLL_MS));
    }
  }

  private inside(plugin: Plugin): string {
    return `/run/docker/plugins/${plugin.Config.Interface.Socket}`;
  }

  /** The plugin's last lines of output, for an error message ("" when it wrote none). */
  private async outputTail(id: string): Promise<string> {
    const lines: string[] = [];
    try {
      for await (const e of readLogs(this.o.store.logPath(id), {
        stdout: true,
        stderr: true,
        tail: 5,
        follow: false,
        stopped: () => true,
      }))
        lines.push(e.log.trimEnd());
    } catch {}
    return lines.length ? ` (its last output: ${lines.join(" | ")})` : "";
  }

  private exitedOnItsOwn(id: string, entry: Running, status: number): void {
    entry.channel.close();
    if (entry.stopping || !entry.ready || this.running.get(id) !== entry) return;
    this.o.onUnexpectedExit(id, status);
  }

  /**
   * Stops the plugin: SIGTERM, SIGKILL after `graceMs`, then the runtime's delete and the host
   * side (propagated mount, socket directory). Safe to call for a plugin that is not running.
   */
  async stop(id: string, graceMs = STOP_GRACE_MS): Promise<void> {
    const entry = this.running.get(id);
    if (entry) entry.stopping = true;
    const runtime = this.o.runtime;
    if (runtime.ctx.dir.exists(id)) {
      if (entry && graceMs > 0) {
        await runtime.kill(id, "SIGTERM").catch(() => {});
        if (!(await within(entry.exited, graceMs))) await runtime.kill(id, "SIGKILL").catch(() => {});
      }
      await runtime.delete(id, true);
    }
    entry?.channel.close();
    this.running.delete(id);
    this.releaseHostSide(id);
  }

  private releaseHostSide(id: string): void {
    unmountUnder(this.o.store.propagatedMount(id));
    rmSync(this.socketDir(id), { recursive: true, force: true });
  }

  /** Stops every running plugin (daemon shutdown); their records stay enabled for the next start. */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.running.keys()].map((id) =>
        this.stop(id).catch((err: Error) => this.o.log(`plugin ${id}: stop: ${err.message}`)),
      ),
    );
  }

  /**
   * At daemon start: ends what a crash left — plugin processes (and creates cut short), their
   * cgroups and runtime state, shared propagated mounts and socket directories.
   */
  async endLeftovers(): Promise<number> {
    const runtime = this.o.runtime;
    let ended = 0;
    for (const id of runtime.ctx.dir.halfMade())
      await runtime
        .discardHalfMade(id, this.o.cgroupsPath(id))
        .catch((err: Error) => this.o.log(`plugin ${id}: take back a half-made start: ${err.message}`));
    for (const id of runtime.ctx.dir.ids()) {
      await runtime
        .delete(id, true)
        .catch((err: Error) => this.o.log(`plugin ${id}: end what a crash left: ${err.message}`));
      ended++;
    }
    for (const r of this.o.store.all()) unmountUnder(this.o.store.propagatedMount(r.plugin.Id));
    let entries: string[] = [];
    try {
      entries = readdirSync(this.o.socketRoot);
    } catch {}
    for (const name of entries)
      if (isFullPluginId(name)) rmSync(this.socketDir(name), { recursive: true, force: true });
    return ended;
  }
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = await Promise.race([
    p.then(
      () => true as const,
      () => true as const,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  return done;
}
