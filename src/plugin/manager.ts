/**
 * The plugin manager: installed plugins and their lifecycle, as dockerd's plugin manager has it
 * (daemon/pkg/plugin): create from a directory's tar, enable (run the plugin, wait for its
 * socket), disable, set, remove; the registry verbs live in install.ts. It is also the daemon's
 * source of volume drivers: an enabled plugin with docker.volumedriver/1.0 is one.
 *
 * Verbs on one plugin are serialised; a plugin whose process ends on its own is started again
 * (with a growing delay, disabled after repeated failures), as dockerd restarts plugins.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { errorText, InvalidArgument, NotFound } from "../errors.js";
import type { RegistryClient } from "../image/registry/client.js";
import type { Credentials } from "../image/registry/credentials.js";
import type { LinuxDevice, LinuxSeccomp } from "../oci/runtime-spec.js";
import { exitCodeOf, type Runtime } from "../runtime/runtime.js";
import type { Chunks } from "../util/byte-source.js";
import { KeyedMutex, Mutex } from "../util/mutex.js";
import type { VolumeDriver, VolumeDrivers } from "../volume/volume-driver.js";
import { storeConfig, storeDirectoryLayer, storeManifest } from "./blobs.js";
import { hasCapability, parseCapabilityId, parsePluginConfig, VOLUME_DRIVER_CAPABILITY } from "./config.js";
import { unpackPluginContext } from "./context.js";
import {
  NoSuchPlugin,
  PluginCallFailed,
  PluginCapabilityMissing,
  PluginDisabled,
  PluginEnabled,
  PluginInUse,
} from "./errors.js";
import { pluginName } from "./names.js";
import { PluginProcesses } from "./process.js";
import { applySettings, initialSettings } from "./settings.js";
import { PluginStore } from "./store.js";
import type { Plugin, PluginRecord } from "./types.js";
import { PluginVolumeDriver } from "./volume-driver.js";

/** How long enable waits for the socket when the client gives no timeout (docker's CLI: 30 s). */
export const DEFAULT_ENABLE_TIMEOUT_S = 30;
const RESTART_FIRST_MS = 100;
const RESTART_MAX_MS = 30_000;
const RESTART_ATTEMPTS = 5;

export type PluginAction = "create" | "install" | "enable" | "disable" | "remove" | "upgrade";

export interface PluginManagerOptions {
  /** `<root>/plugins`. */
  root: string;
  /** `<exec-root>/plugins`: the plugins' socket directories. */
  socketRoot: string;
  /** A runtime of the plugins' own (its state root apart from the containers'). */
  runtime: Runtime;
  registry: (host: string, credentials?: Credentials) => RegistryClient;
  /** A `plugin` event for the events stream. */
  event: (action: PluginAction, id: string, name: string) => void;
  cgroupsPath: (id: string) => string;
  hostDevice: (path: string) => LinuxDevice | undefined;
  seccomp: (capabilities: string[]) => LinuxSeccomp | undefined;
  /** Whether anything (a volume) uses the plugin of this name: disable and remove need force. */
  inUse: (name: string) => boolean;
  log: (message: string) => void;
}

export class PluginManager {
  readonly store: PluginStore;
  readonly processes: PluginProcesses;
  private readonly locks = new KeyedMutex();
  /** Adding a plugin (its name must be free at the moment it is added). */
  readonly names = new Mutex();
  private readonly restarts = new Map<string, { timer?: NodeJS.Timeout; delay: number; failures: number }>();
  private closing = false;

  private constructor(readonly options: PluginManagerOptions) {
    this.store = new PluginStore(options.root);
    this.processes = new PluginProcesses({
      runtime: options.runtime,
      store: this.store,
      socketRoot: options.socketRoot,
      cgroupsPath: options.cgroupsPath,
      hostDevice: options.hostDevice,
      seccomp: options.seccomp,
      log: options.log,
      onUnexpectedExit: (id, status) => this.exitedOnItsOwn(id, status),
    });
  }

  /** Opens the store and ends what a crash left (plugin processes, their mounts). */
  static async open(options: PluginManagerOptions): Promise<PluginManager> {
    const m = new PluginManager(options);
    await m.store.open((id, err) => options.log(`skipping plugin ${id}: ${err.message}`));
    const ended = await m.processes.endLeftovers();
    if (ended) options.log(`plugins: ended ${ended} plugin process(es) a crash left running`);
    await m.store.gc();
    return m;
  }

  /** Starts the plugins that were enabled (dockerd does the same at its start); a failure disables one. */
  async restore(): Promise<void> {
    // The monitor spawner's handles keep no process alive (containers outlive the daemon), and
    // before the API listens nothing else does: this wait must, or Node would simply exit.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await this.startEnabled();
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async startEnabled(): Promise<void> {
    await Promise.all(
      this.store
        .all()
        .filter((r) => r.plugin.Enabled)
        .map((r) =>
          this.lock(r.plugin.Id, async () => {
            try {
              await this.processes.start(r.plugin, DEFAULT_ENABLE_TIMEOUT_S * 1000);
            } catch (err) {
              this.options.log(`plugin ${r.plugin.Name}: not enabled again: ${errorText(err)}`);
              r.plugin.Enabled = false;
              this.store.save(r);
            }
          }),
        ),
    );
  }

  lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(id, fn);
  }

  /** `GET /plugins`: filters `capability` (e.g. volumedriver) and `enabled` (true/false). */
  list(filters: Record<string, string[]> = {}): Plugin[] {
    const enabled = [...(filters["enabled"] ?? []), ...(filters["enable"] ?? [])];
    for (const v of enabled)
      if (!["true", "false", "1", "0"].includes(v))
        throw new InvalidArgument(`invalid filter 'enabled=${v}'`);
    const capabilities = (filters["capability"] ?? []).map((c) => c.toLowerCase());
    return this.store
      .all()
      .map((r) => r.plugin)
      .filter(
        (p) =>
          (!enabled.length || enabled.some((v) => (v === "true" || v === "1") === p.Enabled)) &&
          (!capabilities.length ||
            p.Config.Interface.Types.some((t) => capabilities.includes(parseCapabilityId(t).capability))),
      );
  }

  inspect(reference: string): Plugin {
    return this.store.get(reference).plugin;
  }

  /** `plugin create NAME DIR`: the tar of DIR (config.json, rootfs/) becomes a disabled plugin. */
  async create(nameText: string, context: Chunks): Promise<Plugin> {
    if (!nameText) throw new InvalidArgument("a plugin name is required (the name query parameter)");
    const name = pluginName(nameText);
    this.store.checkNameFree(name);
    const rootfs = await this.store.tempDir();
    const leased: string[] = [];
    try {
      const config = parsePluginConfig(await unpackPluginContext(context, rootfs));
      const layer = await storeDirectoryLayer(this.store.blobs, rootfs);
      leased.push(layer.descriptor.digest);
      this.store.leases.add(layer.descriptor.digest);
      config.rootfs = { type: "layers", diff_ids: [layer.diffId] };
      const configBlob = await storeConfig(this.store.blobs, config);
      leased.push(configBlob.digest);
      this.store.leases.add(configBlob.digest);
      const manifest = await storeManifest(this.store.blobs, configBlob, [layer.descriptor]);
      leased.push(manifest.digest);
      this.store.leases.add(manifest.digest);
      const record: PluginRecord = {
        plugin: {
          Id: randomBytes(32).toString("hex"),
          Name: name,
          Enabled: false,
          Settings: initialSettings(config),
          PluginReference: name,
          Config: config,
        },
        config: configBlob.digest,
        blobsums: [layer.descriptor.digest],
        manifest: manifest.digest,
      };
      await this.names.run(async () => this.store.add(record, rootfs));
      this.options.event("create", record.plugin.Id, name);
      return record.plugin;
    } catch (err) {
      rmSync(rootfs, { recursive: true, force: true });
      throw err;
    } finally {
      for (const d of leased) this.store.leases.delete(d);
      await this.store.gc().catch((err: Error) => this.options.log(`plugin blobs: ${err.message}`));
    }
  }

  /** Runs the plugin and waits (`timeoutS`, 0: the default) for it to listen on its socket. */
  async enable(reference: string, timeoutS = 0): Promise<void> {
    if (!Number.isInteger(timeoutS) || timeoutS < 0)
      throw new InvalidArgument(`invalid timeout "${timeoutS}": a number of seconds`);
    const { Id } = this.store.get(reference).plugin;
    await this.lock(Id, async () => {
      const r = this.current(Id, reference);
      if (r.plugin.Enabled) throw new PluginEnabled(r.plugin.Name, "plugin already enabled");
      await this.processes.start(r.plugin, (timeoutS || DEFAULT_ENABLE_TIMEOUT_S) * 1000);
      r.plugin.Enabled = true;
      this.store.save(r);
      this.options.event("enable", Id, r.plugin.Name);
    });
  }

  /** Stops the plugin; one in use (a volume of its driver) only with `force`. */
  async disable(reference: string, force = false): Promise<void> {
    const { Id } = this.store.get(reference).plugin;
    await this.lock(Id, async () => {
      const r = this.current(Id, reference);
      if (!r.plugin.Enabled) throw new PluginDisabled(r.plugin.Name, "plugin is already disabled");
      if (!force && this.options.inUse(r.plugin.Name)) throw new PluginInUse(r.plugin.Name);
      this.cancelRestart(Id);
      await this.processes.stop(Id);
      r.plugin.Enabled = false;
      this.store.save(r);
      this.options.event("disable", Id, r.plugin.Name);
    });
  }

  /** `plugin set`: only what the config marks settable, and only while disabled. */
  async set(reference: string, args: unknown): Promise<void> {
    const { Id } = this.store.get(reference).plugin;
    await this.lock(Id, async () => {
      const r = this.current(Id, reference);
      if (r.plugin.Enabled)
        throw new PluginEnabled(
          r.plugin.Name,
          "cannot set on an active plugin, disable plugin before setting",
        );
      r.plugin.Settings = applySettings(r.plugin.Config, r.plugin.Settings, args);
      this.store.save(r);
    });
  }

  /** Removes the plugin and its files; an enabled or used one only with `force` (then stopped first). */
  async remove(reference: string, force = false): Promise<void> {
    const { Id } = this.store.get(reference).plugin;
    await this.lock(Id, async () => {
      const r = this.current(Id, reference);
      if (!force) {
        if (this.options.inUse(r.plugin.Name)) throw new PluginInUse(r.plugin.Name);
        if (r.plugin.Enabled) throw new PluginEnabled(r.plugin.Name);
      }
      this.cancelRestart(Id);
      await this.processes.stop(Id);
      this.store.remove(Id);
      this.options.event("remove", Id, r.plugin.Name);
    });
    this.locks.forget(Id);
    await this.store.gc().catch((err: Error) => this.options.log(`plugin blobs: ${err.message}`));
  }

  /** The record of `id` now (it may have gone while a verb waited for the lock). */
  current(id: string, reference: string): PluginRecord {
    const r = this.store.all().find((x) => x.plugin.Id === id);
    if (!r) throw new NoSuchPlugin(reference);
    return r;
  }

  /** The enabled volume plugins, as the volume store asks for drivers. */
  readonly volumeDrivers: VolumeDrivers = {
    get: (driver) => this.volumeDriverNamed(driver),
    all: () => this.enabledVolumeDrivers(),
  };

  /** A volume driver by plugin name, as `volume create -d NAME` and `--volume-driver` name it. */
  private volumeDriverNamed(driver: string): VolumeDriver {
    const lookup = `error looking up volume plugin ${driver}`;
    let r: PluginRecord;
    try {
      r = this.store.get(driver);
    } catch (err) {
      if (err instanceof NoSuchPlugin) throw new NotFound(`${lookup}: plugin "${driver}" not found`);
      throw err;
    }
    const p = r.plugin;
    if (!hasCapability(p.Config, VOLUME_DRIVER_CAPABILITY))
      throw new PluginCapabilityMissing(p.Name, VOLUME_DRIVER_CAPABILITY, lookup);
    if (!p.Enabled) throw new PluginDisabled(p.Name, lookup);
    if (!this.processes.isRunning(p.Id))
      throw new PluginCallFailed(`${lookup}: plugin ${p.Name} is not running (it is being started again)`);
    return this.volumeDriver(p);
  }

  private enabledVolumeDrivers(): VolumeDriver[] {
    return this.store
      .all()
      .map((r) => r.plugin)
      .filter(
        (p) =>
          p.Enabled && this.processes.isRunning(p.Id) && hasCapability(p.Config, VOLUME_DRIVER_CAPABILITY),
      )
      .map((p) => this.volumeDriver(p));
  }

  private volumeDriver(p: Plugin): PluginVolumeDriver {
    return new PluginVolumeDriver({
      plugin: p,
      socketPath: this.processes.socketPath(p),
      rootfs: this.store.rootfs(p.Id),
      propagatedMount: this.store.propagatedMount(p.Id),
    });
  }

  /** The process of an enabled plugin ended without being asked: start it again, later. */
  private exitedOnItsOwn(id: string, status: number): void {
    const r = this.store.all().find((x) => x.plugin.Id === id);
    this.options.log(
      `plugin ${r?.plugin.Name ?? id} exited with status ${exitCodeOf(status)}: starting it again`,
    );
    void this.lock(id, () => this.processes.stop(id, 0)).catch(() => {});
    this.scheduleRestart(id);
  }

  private scheduleRestart(id: string): void {
    if (this.closing) return;
    const state = this.restarts.get(id) ?? { delay: RESTART_FIRST_MS / 2, failures: 0 };
    state.delay = Math.min(state.delay * 2, RESTART_MAX_MS);
    state.timer = setTimeout(() => {
      void this.lock(id, async () => {
        const r = this.store.all().find((x) => x.plugin.Id === id);
        if (!r?.plugin.Enabled || this.processes.isRunning(id) || this.closing) return;
        try {
          await this.processes.start(r.plugin, DEFAULT_ENABLE_TIMEOUT_S * 1000);
          state.failures = 0;
        } catch (err) {
          state.failures++;
          this.options.log(`plugin ${r.plugin.Name}: start again: ${errorText(err)}`);
          if (state.failures >= RESTART_ATTEMPTS) {
            this.options.log(`plugin ${r.plugin.Name}: disabled after ${state.failures} failed starts`);
            r.plugin.Enabled = false;
            this.store.save(r);
            this.restarts.delete(id);
            return;
          }
          this.scheduleRestart(id);
        }
      });
    }, state.delay);
    state.timer.unref();
    this.restarts.set(id, state);
  }

  private cancelRestart(id: string): void {
    clearTimeout(this.restarts.get(id)?.timer);
    this.restarts.delete(id);
  }

  /** Daemon shutdown: every plugin stopped (they start again with the daemon). */
  async shutdown(): Promise<void> {
    this.closing = true;
    for (const id of [...this.restarts.keys()]) this.cancelRestart(id);
    await this.processes.stopAll();
  }
}
