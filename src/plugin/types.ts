/**
 * Docker's managed plugin ("plugin v2") objects as the Engine API shows them (api/types/plugin):
 * the config a plugin ships in its config.json ("Plugin Config Version 1 of Plugin V2"), the
 * settings a user changes with `plugin set`, and the privileges `plugin install` asks for. Arrays
 * that Go leaves nil are [] here; the pointer fields (a mount's Source, a device's Path, an env
 * Value) stay nullable, since "no value" means something there.
 */

export interface PluginEnv {
  Name: string;
  Description: string;
  Settable: string[];
  Value: string | null;
}

export interface PluginMount {
  Name: string;
  Description: string;
  Settable: string[];
  Source: string | null;
  Destination: string;
  Type: string;
  Options: string[];
}

export interface PluginDevice {
  Name: string;
  Description: string;
  Settable: string[];
  Path: string | null;
}

export interface PluginArgs {
  Name: string;
  Description: string;
  Settable: string[];
  Value: string[];
}

export interface PluginInterface {
  /** Capability ids, `prefix.capability/version`: "docker.volumedriver/1.0". */
  Types: string[];
  /** The socket's file name in /run/docker/plugins inside the plugin. */
  Socket: string;
  /** "" or "moby.plugins.http/v1": both are HTTP on the socket. */
  ProtocolScheme?: string;
}

export interface PluginConfig {
  DockerVersion?: string;
  Description: string;
  Documentation: string;
  Interface: PluginInterface;
  Entrypoint: string[];
  WorkDir: string;
  User?: { UID?: number; GID?: number };
  Network: { Type: string };
  Linux: { Capabilities: string[]; AllowAllDevices: boolean; Devices: PluginDevice[] };
  PropagatedMount: string;
  IpcHost: boolean;
  PidHost: boolean;
  Mounts: PluginMount[];
  Env: PluginEnv[];
  Args: PluginArgs;
  /** The layers of the plugin's root filesystem (uncompressed digests), as image configs say. */
  rootfs?: { type: "layers"; diff_ids: string[] };
}

export interface PluginSettings {
  Mounts: PluginMount[];
  Env: string[];
  Args: string[];
  Devices: PluginDevice[];
}

/** `GET /plugins/{name}/json`. */
export interface Plugin {
  Id: string;
  /** Familiar name with its tag: "vieux/sshfs:latest", "localhost:5000/vd:1". */
  Name: string;
  Enabled: boolean;
  Settings: PluginSettings;
  /** Where it came from and goes to on push: the remote reference, or the name for a created one. */
  PluginReference: string;
  Config: PluginConfig;
}

/** What the daemon keeps of a plugin: the API object and the blobs that make it up. */
export interface PluginRecord {
  plugin: Plugin;
  /** Digest of the config blob (the config.json as pushed). */
  config: string;
  /** Digests of the rootfs layer blobs (gzip-compressed tars), in order. */
  blobsums: string[];
  /** Digest of the schema 2 manifest that names them. */
  manifest: string;
}

/** One permission `plugin install` shows and the user grants. */
export interface Privilege {
  Name: string;
  Description: string;
  Value: string[];
}

/** The media type of a plugin's config blob in a registry (distribution's schema2). */
export const PLUGIN_CONFIG_MEDIA_TYPE = "application/vnd.docker.plugin.v1+json";

/** Where a plugin's socket directory is bound inside it. */
export const PLUGIN_SOCKET_DIR = "/run/docker/plugins";
