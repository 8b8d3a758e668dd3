/**
 * `berth serve`: the daemon. It opens the stores, finds the containers that kept running while
 * it was away, and serves the Docker-compatible API on /run/berth/berth.sock (root:root 0660),
 * and on TCP only with TLS client certificates. Stopping it leaves containers running.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { archiveRoutes } from "../api/routes/archive.js";
import { buildRoutes } from "../api/routes/build.js";
import { containerRoutes } from "../api/routes/containers.js";
import { execRoutes } from "../api/routes/exec.js";
import { imageRoutes } from "../api/routes/images.js";
import { networkRoutes } from "../api/routes/networks.js";
import { pluginRoutes } from "../api/routes/plugins.js";
import { swarmRoutes } from "../api/routes/swarm.js";
import { systemRoutes } from "../api/routes/system.js";
import { volumeRoutes } from "../api/routes/volumes.js";
import { ApiServer, type TlsFiles } from "../api/server.js";
import { BuildCache } from "../build/cache.js";
import { bool, helpText, type OptionSpec, parseArgs, str, strs, UsageError } from "../cli/args.js";
import { parseClusterStore } from "../cluster/external-store.js";
import { Swarm } from "../cluster/swarm.js";
import { parseListenAddress, requireTlsOffLoopback } from "../console/listen-address.js";
import { ConsoleServer } from "../console/server.js";
import { readConsoleTls } from "../console/tls-files.js";
import { Engine } from "../engine/engine.js";
import { hostDevice } from "../engine/host-devices.js";
import { restoreContainers } from "../engine/live-restore.js";
import {
  ensureDefaultRemapUser,
  formatMapArgument,
  hostAccounts,
  parseRemapSetting,
  remappedRoot,
  resolveRemap,
} from "../engine/userns-remap.js";
import { type RemappedUserns, UsernsViews } from "../engine/userns-views.js";
import { heldMountIds } from "../engine/volume-mounts.js";
import { InvalidArgument } from "../errors.js";
import { ImageService } from "../image/service.js";
import { NetworkManager } from "../network/manager.js";
import { PluginManager } from "../plugin/manager.js";
import { Runtime } from "../runtime/runtime.js";
import { openSnapshotter } from "../snapshot/index.js";
import { parseBytes } from "../util/units.js";

type Listener = { path: string } | { host: string; port: number; tls: TlsFiles };

export const DEFAULT_ROOT = "/var/lib/berth";
export const DEFAULT_RUN_ROOT = "/run/berth";
export const DEFAULT_SOCKET = "/run/berth/berth.sock";

const OPTIONS: OptionSpec[] = [
  {
    name: "root",
    type: "string",
    value: "DIR",
    description: `persistent state (default ${DEFAULT_ROOT}, or BERTH_ROOT)`,
  },
  {
    name: "exec-root",
    type: "string",
    value: "DIR",
    description: `runtime state (default ${DEFAULT_RUN_ROOT}, or BERTH_RUN_ROOT)`,
  },
  {
    name: "host",
    short: "H",
    type: "strings",
    value: "ADDR",
    description: `unix:///path or tcp://host:port (default unix://${DEFAULT_SOCKET})`,
  },
  { name: "tlsverify", type: "boolean", description: "require TLS client certificates (always on for tcp)" },
  {
    name: "tlscacert",
    type: "string",
    value: "FILE",
    description: "CA that client certificates must be signed by",
  },
  { name: "tlscert", type: "string", value: "FILE", description: "the server's certificate" },
  { name: "tlskey", type: "string", value: "FILE", description: "the server's key" },
  {
    name: "cgroup-parent",
    type: "string",
    value: "PATH",
    description: "parent cgroup of containers (default: berth/ under the daemon's own)",
  },
  {
    name: "insecure-registry",
    type: "strings",
    value: "HOST",
    description: "a registry to reach over plain HTTP",
  },
  {
    name: "log-opt",
    type: "strings",
    value: "KEY=VALUE",
    description: "default log options: max-size, max-file",
  },
  {
    name: "pidfile",
    short: "p",
    type: "string",
    value: "FILE",
    description: "where to write the daemon's pid (default <exec-root>/berth.pid)",
  },
  {
    name: "userns-remap",
    type: "string",
    value: "USER[:GROUP]",
    description:
      'run containers in a user namespace with the subordinate ids of USER ("default": berthremap)',
  },
  {
    name: "cluster-store",
    type: "string",
    value: "URL",
    description: "swarm state in an etcd of your own: etcd://HOST:PORT[,HOST:PORT…] (etcds:// for TLS)",
  },
  {
    name: "cluster-store-opt",
    type: "strings",
    value: "KEY=FILE",
    description: "TLS files for etcds://: kv.cacertfile, kv.certfile, kv.keyfile",
  },
  {
    name: "console",
    type: "string",
    value: "HOST:PORT",
    description: "also serve the web console there (off loopback only with --tlscert and --tlskey)",
  },
  { name: "debug", short: "D", type: "boolean", description: "log every request" },
];

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} berth: ${message}\n`);
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function logOptions(opts: string[]): { logMaxSize?: number; logMaxFiles?: number } {
  const out: { logMaxSize?: number; logMaxFiles?: number } = {};
  for (const o of opts) {
    const [k, v = ""] = o.split("=");
    if (k === "max-size") out.logMaxSize = parseBytes(v, "--log-opt max-size");
    else if (k === "max-file") out.logMaxFiles = Number(v);
    else throw new InvalidArgument(`--log-opt: unknown log option "${k}"`);
  }
  return out;
}

/**
 * --userns-remap: the mappings, and the idmapped views mounted. A remapped root must search the
 * state directories on its way to its files (0711, and the group of the containers directory).
 */
async function usernsRemap(
  setting: string | undefined,
  root: string,
  runRoot: string,
): Promise<RemappedUserns | undefined> {
  if (setting === undefined || setting === "") {
    UsernsViews.detachLeftovers(runRoot);
    return undefined;
  }
  if (parseRemapSetting(setting).user === "default") await ensureDefaultRemapUser();
  const remap = resolveRemap(setting, hostAccounts());
  const views = new UsernsViews(
    runRoot,
    { snapshots: join(root, "snapshots"), volumes: join(root, "volumes") },
    remap,
  );
  await views.mount();
  for (const dir of [root, runRoot, views.dir]) chmodSync(dir, 0o711);
  const containers = join(root, "containers");
  mkdirSync(containers, { recursive: true, mode: 0o710 });
  chownSync(containers, 0, remappedRoot(remap).gid);
  log(
    `user namespaces: root of containers is ${remap.user}:${remap.group}, uids ${formatMapArgument(remap.uid)}, gids ${formatMapArgument(remap.gid)}`,
  );
  return { remap, views };
}

/**
 * The plugin manager: plugins run by a runtime of their own (state apart from the containers',
 * the same monitor spawner), their blobs through the images' registry clients, their events on
 * the engine's stream; it is the volume store's source of drivers.
 */
async function openPlugins(
  engine: Engine,
  images: ImageService,
  root: string,
  runRoot: string,
): Promise<PluginManager> {
  const plugins = await PluginManager.open({
    root: join(root, "plugins"),
    socketRoot: join(runRoot, "plugins"),
    runtime: new Runtime({
      root: join(runRoot, "plugins", "runtime"),
      ...(engine.runtime.ctx.spawner ? { spawner: engine.runtime.ctx.spawner } : {}),
    }),
    registry: (host, credentials) => images.client(host, credentials),
    event: (action, id, name) => engine.events.emit("plugin", action, id, { name }),
    cgroupsPath: (id) => engine.cgroupsPath(`plugin-${id}`),
    hostDevice,
    seccomp: (capabilities) => engine.seccompFor(capabilities),
    inUse: (name) => engine.volumes.list().some((v) => v.Driver === name),
    log,
  });
  engine.volumes.useDrivers(plugins.volumeDrivers);
  return plugins;
}

export async function serve(argv: string[]): Promise<number> {
  const { options: o, args } = parseArgs(
    argv,
    [...OPTIONS, { name: "help", short: "h", type: "boolean", description: "" }],
    true,
  );
  if (bool(o, "help")) {
    process.stdout.write(
      helpText("berth serve [OPTIONS]", "Run the Berth daemon (the Docker-compatible API).", OPTIONS),
    );
    return 0;
  }
  if (args.length) throw new UsageError(`"berth serve" takes no arguments`);
  const root = str(o, "root") ?? process.env["BERTH_ROOT"] ?? DEFAULT_ROOT;
  const runRoot = str(o, "exec-root") ?? process.env["BERTH_RUN_ROOT"] ?? DEFAULT_RUN_ROOT;
  const hosts = strs(o, "host").length
    ? strs(o, "host")
    : [`unix://${runRoot === DEFAULT_RUN_ROOT ? DEFAULT_SOCKET : join(runRoot, "berth.sock")}`];
  const listeners = hosts.map((h): Listener => {
    if (h.startsWith("unix://")) return { path: h.slice("unix://".length) };
    const m = /^tcp:\/\/([^:]*):(\d+)$/.exec(h);
    if (!m) throw new InvalidArgument(`invalid --host "${h}": use unix:///path or tcp://host:port`);
    const key = str(o, "tlskey");
    const cert = str(o, "tlscert");
    const ca = str(o, "tlscacert");
    if (!key || !cert || !ca)
      throw new InvalidArgument(
        `listening on ${h} needs --tlsverify with --tlscacert, --tlscert and --tlskey: the API gives root on this host`,
      );
    return { host: m[1] || "0.0.0.0", port: Number(m[2]), tls: { key, cert, ca } };
  });
  const consoleAddress = str(o, "console") === undefined ? undefined : parseListenAddress(str(o, "console")!);
  const consoleTls =
    consoleAddress?.loopback === false ? readConsoleTls(str(o, "tlscert"), str(o, "tlskey")) : undefined;
  if (consoleAddress) requireTlsOffLoopback(consoleAddress, consoleTls !== undefined);
  const consoleDaemon = listeners.find((l): l is { path: string } => "path" in l);
  if (consoleAddress && !consoleDaemon)
    throw new InvalidArgument("--console needs the API on a unix socket (-H unix:///path) to talk to");
  for (const l of listeners)
    if ("path" in l && (await isAlive(l.path)))
      throw new InvalidArgument(`another daemon is already listening on ${l.path}`);

  const storeAddress = str(o, "cluster-store");
  if (!storeAddress && strs(o, "cluster-store-opt").length)
    throw new InvalidArgument("--cluster-store-opt needs --cluster-store");
  const clusterStore = storeAddress
    ? parseClusterStore(storeAddress, strs(o, "cluster-store-opt"))
    : undefined;

  mkdirSync(root, { recursive: true, mode: 0o711 });
  mkdirSync(runRoot, { recursive: true, mode: 0o711 });
  const started = new Date();
  let engine: Engine | undefined;
  const snapshotter = await openSnapshotter(join(root, "snapshots"));
  const userns = await usernsRemap(str(o, "userns-remap"), root, runRoot);
  const buildCache = new BuildCache(join(root, "builder"));
  await buildCache.open();
  const images = await ImageService.open({
    root: join(root, "image"),
    snapshotter,
    imageInUse: (id) => engine?.imageInUse(id) ?? false,
    retainedImages: () => buildCache.all().map((e) => e.image),
    registry: { insecure: strs(o, "insecure-registry") },
  });
  const network = new NetworkManager(join(root, "network"), log);
  engine = new Engine({
    root,
    runRoot,
    images,
    snapshotter,
    ...(str(o, "cgroup-parent") ? { cgroupParent: str(o, "cgroup-parent")! } : {}),
    ...logOptions(strs(o, "log-opt")),
    network,
    log,
    ...(userns ? { userns } : {}),
  }).open();
  // Plugins before containers, as dockerd: a container that exited while the daemon was away
  // gives its volume plugin's mounts back to a running plugin.
  const plugins = await openPlugins(engine, images, root, runRoot);
  engine.volumes.releaseLeftoverMounts(heldMountIds(engine));
  await plugins.restore();
  const { restored, exited, ended } = await restoreContainers(engine);
  await network.reconcile(new Set(restored));
  if (restored.length || exited.length || ended.length)
    log(
      `live restore: ${restored.length} running container(s) followed again, ${exited.length} exited while the daemon was away, ${ended.length} whose start or removal a crash interrupted ended`,
    );
  // What a removal interrupted by a crash (rmi, prune) left behind goes now, in the background.
  void images.gc().then(
    (r) =>
      r.bytes &&
      log(`collected ${r.blobs} blob(s) and ${r.snapshots} layer(s) no image holds: ${r.bytes} bytes`),
    (err: Error) => log(`garbage collection at start: ${err.message}`),
  );

  const swarm = new Swarm(root, runRoot, engine, log, clusterStore, network);
  await swarm.open();
  const api = new ApiServer(log);
  systemRoutes(api, engine, started, buildCache, swarm);
  containerRoutes(api, engine);
  execRoutes(api, engine);
  imageRoutes(api, engine);
  volumeRoutes(api, engine);
  archiveRoutes(api, engine);
  buildRoutes(api, engine, buildCache);
  networkRoutes(api, engine, network, swarm);
  swarmRoutes(api, swarm);
  pluginRoutes(api, plugins);

  for (const l of listeners) {
    if ("path" in l) {
      mkdirSync(dirname(l.path), { recursive: true, mode: 0o711 });
      if (existsSync(l.path)) rmSync(l.path);
      await api.listen(l);
      // root:root 0660: the API can run anything as root.
      chownSync(l.path, 0, 0);
      chmodSync(l.path, 0o660);
    } else {
      await api.listen(l);
    }
    log(
      `API listening on ${"path" in l ? `unix://${l.path}` : `tcp://${l.host}:${l.port} (TLS, client certificates required)`}`,
    );
  }
  const webConsole = consoleAddress
    ? await ConsoleServer.start({
        address: consoleAddress,
        daemon: { socketPath: consoleDaemon!.path },
        tls: consoleTls,
        log,
      })
    : undefined;
  if (webConsole) log(`web console: open ${webConsole.loginUrl} (the token works once)`);
  const pidfile = str(o, "pidfile") ?? join(runRoot, "berth.pid");
  writeFileSync(pidfile, `${process.pid}\n`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: shutting down; containers keep running`);
      void Promise.all([api.close(), webConsole?.close()]).then(async () => {
        await swarm.close().catch((err: Error) => log(`swarm: ${err.message}`));
        await plugins.shutdown().catch((err: Error) => log(`plugins: ${err.message}`));
        await network.teardownIfUnused().catch((err: Error) => log(`network teardown: ${err.message}`));
        try {
          userns?.views.unmount();
        } catch (err) {
          log(`userns views: ${(err as Error).message}`);
        }
        engine?.runtime.ctx.spawner?.close();
        for (const l of listeners) if ("path" in l) rmSync(l.path, { force: true });
        rmSync(pidfile, { force: true });
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}
