/**
 * A plugin → the OCI spec its process runs with (dockerd's v2.Plugin.InitSpec): the default
 * container set-up (kernel file systems, masked paths, Docker's capabilities plus the config's,
 * seccomp for that set), its root file system read-write, its socket directory bound at
 * /run/docker/plugins, its PropagatedMount shared both ways with the host, the mounts and devices
 * of its settings, and the host's network, pid or ipc namespace where the config asks for them.
 * Pure: every host fact comes in.
 */
import {
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH_ENV,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
} from "../oci/default-spec.js";
import type { LinuxDevice, LinuxSeccomp, Mount, Namespace, Spec } from "../oci/runtime-spec.js";
import { OCI_VERSION } from "../oci/runtime-spec.js";
import { DEFAULT_CAPABILITIES } from "../runtime/capabilities.js";
import { PluginStartFailed } from "./errors.js";
import { PLUGIN_SOCKET_DIR, type Plugin } from "./types.js";

export interface PluginSpecInput {
  plugin: Plugin;
  /** The plugin's root file system on the host. */
  rootfs: string;
  /** The host directory that holds its socket, bound at /run/docker/plugins. */
  socketDir: string;
  /** The host side of its PropagatedMount (a shared mount by the time the plugin starts). */
  propagatedMount: string;
  cgroupsPath: string;
  hostDevice: (path: string) => LinuxDevice | undefined;
  seccomp: (capabilities: string[]) => LinuxSeccomp | undefined;
}

function fail(plugin: Plugin, reason: string): PluginStartFailed {
  return new PluginStartFailed(`plugin ${plugin.Name} cannot start: ${reason}`);
}

function settingsMounts(input: PluginSpecInput): Mount[] {
  const { plugin } = input;
  return plugin.Settings.Mounts.map((m): Mount => {
    if (m.Type === "tmpfs")
      return { destination: m.Destination, type: "tmpfs", source: m.Source ?? "tmpfs", options: m.Options };
    if (m.Source === null)
      throw fail(
        plugin,
        `its mount "${m.Name}" has no source: set one with \`plugin set ${plugin.Name} ${m.Name}.source=/path\``,
      );
    const options = m.Options.some((o) => o === "bind" || o === "rbind")
      ? m.Options
      : ["rbind", ...m.Options];
    return { destination: m.Destination, type: "bind", source: m.Source, options };
  });
}

function devices(input: PluginSpecInput): LinuxDevice[] {
  const { plugin } = input;
  return plugin.Settings.Devices.flatMap((d) => {
    if (d.Path === null) return [];
    const device = input.hostDevice(d.Path);
    if (!device) throw fail(plugin, `its device "${d.Name}": ${d.Path} is not a device of this host`);
    return [{ ...device, path: d.Path }];
  });
}

export function pluginSpec(input: PluginSpecInput): Spec {
  const { plugin } = input;
  const config = plugin.Config;
  const args = [...config.Entrypoint, ...plugin.Settings.Args];
  if (!args.length) throw fail(plugin, "its config has no Entrypoint");
  const capabilities = [...new Set([...DEFAULT_CAPABILITIES, ...config.Linux.Capabilities])];
  const mounts: Mount[] = [...defaultMounts()];
  if (config.PropagatedMount)
    mounts.push({
      destination: config.PropagatedMount,
      type: "bind",
      source: input.propagatedMount,
      options: ["rbind", "rw", "rshared"],
    });
  mounts.push(...settingsMounts(input));
  // The socket directory needs no propagation: the socket is a file in a directory both see.
  mounts.push({
    destination: PLUGIN_SOCKET_DIR,
    type: "bind",
    source: input.socketDir,
    options: ["rbind", "rprivate"],
  });
  if (config.Network.Type)
    for (const file of ["/etc/hosts", "/etc/resolv.conf"])
      mounts.push({ destination: file, type: "bind", source: file, options: ["rbind", "ro"] });
  const namespaces: Namespace[] = [{ type: "mount" }, { type: "uts" }, { type: "cgroup" }];
  if (!config.PidHost) namespaces.push({ type: "pid" });
  if (!config.IpcHost) namespaces.push({ type: "ipc" });
  if (config.Network.Type !== "host") namespaces.push({ type: "network" });
  const deviceList = devices(input);
  const env = plugin.Settings.Env.some((e) => e.startsWith("PATH="))
    ? [...plugin.Settings.Env]
    : [DEFAULT_PATH_ENV, ...plugin.Settings.Env];
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    root: { path: input.rootfs, readonly: false },
    mounts,
    process: {
      terminal: false,
      user: { uid: config.User?.UID ?? 0, gid: config.User?.GID ?? 0 },
      args,
      env,
      cwd: config.WorkDir || "/",
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      noNewPrivileges: false,
    },
    linux: {
      namespaces,
      devices: deviceList,
      cgroupsPath: input.cgroupsPath,
      resources: {
        devices: config.Linux.AllowAllDevices
          ? [{ allow: true, access: "rwm" }]
          : [
              { allow: false, access: "rwm" },
              ...deviceList.map((d) => ({
                allow: true,
                type: d.type,
                major: d.major ?? null,
                minor: d.minor ?? null,
                access: "rwm",
              })),
            ],
      },
      maskedPaths: DEFAULT_MASKED_PATHS,
      readonlyPaths: DEFAULT_READONLY_PATHS,
      // Mounts the plugin makes below its PropagatedMount must reach the host (and containers).
      ...(config.PropagatedMount ? { rootfsPropagation: "rshared" } : {}),
    },
  };
  const seccomp = input.seccomp(capabilities);
  if (seccomp) spec.linux!.seccomp = seccomp;
  return spec;
}
