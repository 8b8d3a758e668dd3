/**
 * A plugin's settings: what it starts with (its config's env values, mounts, devices and args)
 * and `plugin set NAME[.FIELD]=VALUE`, which changes only what the config marks settable
 * (daemon/pkg/plugin/v2/settable.go). All arguments are checked before any is applied: a refused
 * one leaves the settings as they were.
 */
import { SETTABLE_FIELDS } from "./config.js";
import { InvalidPluginSetting } from "./errors.js";
import type { PluginConfig, PluginSettings } from "./types.js";

export interface SetArgument {
  name: string;
  /** "value", "source", "path", or "" when the argument named none. */
  field: string;
  value: string;
}

/** The settings a plugin has before any `set`. */
export function initialSettings(config: PluginConfig): PluginSettings {
  return {
    Mounts: config.Mounts.map((m) => ({ ...m, Settable: [...m.Settable], Options: [...m.Options] })),
    Devices: config.Linux.Devices.map((d) => ({ ...d, Settable: [...d.Settable] })),
    Env: config.Env.filter((e) => e.Value !== null).map((e) => `${e.Name}=${e.Value}`),
    Args: [...config.Args.Value],
  };
}

/** "DEBUG=1" → {DEBUG, "", 1}; "mnt.source=/x" → {mnt, source, /x}; "name" → {name, "", ""}. */
export function parseSetArgument(text: string): SetArgument {
  if (typeof text !== "string" || text.startsWith("=") || text === "")
    throw new InvalidPluginSetting(
      `invalid setting ${JSON.stringify(text)}: the format is <name>[.<field>][=<value>]`,
    );
  const eq = text.indexOf("=");
  let name = eq < 0 ? text : text.slice(0, eq);
  const value = eq < 0 ? "" : text.slice(eq + 1);
  let field = "";
  const dot = name.lastIndexOf(".");
  if (dot > 0) {
    field = name.slice(dot + 1);
    name = name.slice(0, dot);
  }
  return { name, field, value };
}

function prettyName(s: SetArgument): string {
  return s.field ? `${s.name}.${s.field}` : s.name;
}

/** The field a setting changes, when the config allows it (one settable field may go unnamed). */
function settableField(s: SetArgument, allowed: readonly string[], settable: string[]): string {
  let field = s.field;
  if (!field) {
    if (settable.length > 1)
      throw new InvalidPluginSetting(
        `"${s.name}": multiple fields are settable (${settable.join(", ")}), one must be specified`,
      );
    field = settable[0] ?? "";
  }
  if (!allowed.includes(field) || !settable.includes(field))
    throw new InvalidPluginSetting(`"${prettyName(s)}" is not settable`);
  return field;
}

/** The settings after `args`, or a thrown InvalidPluginSetting and nothing changed. */
export function applySettings(config: PluginConfig, current: PluginSettings, args: unknown): PluginSettings {
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string"))
    throw new InvalidPluginSetting('the settings must be a JSON array of strings: ["KEY=VALUE", ...]');
  const next: PluginSettings = {
    Env: [...current.Env],
    Args: [...current.Args],
    Mounts: current.Mounts.map((m) => ({ ...m })),
    Devices: current.Devices.map((d) => ({ ...d })),
  };
  for (const s of (args as string[]).map(parseSetArgument)) {
    // The order dockerd looks a name up in: env, mounts, devices, args.
    const env = config.Env.find((e) => e.Name === s.name);
    if (env) {
      settableField(s, SETTABLE_FIELDS.env, env.Settable);
      const at = next.Env.findIndex((e) => e.split("=")[0] === s.name);
      if (at >= 0) next.Env[at] = `${s.name}=${s.value}`;
      else next.Env.push(`${s.name}=${s.value}`);
      continue;
    }
    const mount = config.Mounts.find((m) => m.Name === s.name);
    if (mount) {
      settableField(s, SETTABLE_FIELDS.mounts, mount.Settable);
      if (!s.value.startsWith("/"))
        throw new InvalidPluginSetting(`"${prettyName(s)}": "${s.value}" is not an absolute host path`);
      for (const m of next.Mounts) if (m.Name === s.name) m.Source = s.value;
      continue;
    }
    const device = config.Linux.Devices.find((d) => d.Name === s.name);
    if (device) {
      settableField(s, SETTABLE_FIELDS.devices, device.Settable);
      if (!s.value.startsWith("/"))
        throw new InvalidPluginSetting(`"${prettyName(s)}": "${s.value}" is not an absolute path`);
      for (const d of next.Devices) if (d.Name === s.name) d.Path = s.value;
      continue;
    }
    if (config.Args.Name && config.Args.Name === s.name) {
      settableField(s, SETTABLE_FIELDS.args, config.Args.Settable);
      next.Args = s.value.split(" ").filter((a) => a !== "");
      continue;
    }
    throw new InvalidPluginSetting(`setting "${s.name}" not found in the plugin configuration`);
  }
  return next;
}
