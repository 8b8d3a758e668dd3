/**
 * `docker import --change` and `docker commit --change`: Dockerfile instructions that set config
 * fields (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL), applied to
 * a container config. JSON-array forms are taken as they are; shell forms run under /bin/sh -c.
 */
import { InvalidArgument } from "../errors.js";
import type { ContainerConfig } from "./manifest.js";

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

function command(text: string): string[] {
  const t = text.trim();
  if (t.startsWith("[")) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    } catch {}
  }
  return ["/bin/sh", "-c", t];
}

/** `KEY=value KEY2="v 2"` pairs, or the legacy `KEY value` form. */
function pairs(text: string, what: string): [string, string][] {
  const t = text.trim();
  if (!t.includes("=")) {
    const [key, ...rest] = words(t);
    if (!key) throw new InvalidArgument(`${what} needs a name`);
    return [[key, rest.join(" ")]];
  }
  const out: [string, string][] = [];
  for (const m of t.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)) {
    let v = m[2]!;
    if (v.startsWith('"')) v = JSON.parse(v) as string;
    else if (v.startsWith("'")) v = v.slice(1, -1);
    out.push([m[1]!, v]);
  }
  return out;
}

export function applyChanges(base: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...base };
  for (const change of changes) {
    const m = /^\s*(\w+)\s+([\s\S]*)$/.exec(change);
    if (!m)
      throw new InvalidArgument(`invalid change "${change}": expected an instruction and its arguments`);
    const arg = m[2]!;
    switch (m[1]!.toUpperCase()) {
      case "CMD":
        c.Cmd = command(arg);
        break;
      case "ENTRYPOINT":
        c.Entrypoint = command(arg);
        break;
      case "ENV": {
        const env = [...(c.Env ?? [])];
        for (const [k, v] of pairs(arg, "ENV")) {
          const i = env.findIndex((e) => e.startsWith(`${k}=`));
          if (i >= 0) env[i] = `${k}=${v}`;
          else env.push(`${k}=${v}`);
        }
        c.Env = env;
        break;
      }
      case "LABEL":
        c.Labels = { ...c.Labels, ...Object.fromEntries(pairs(arg, "LABEL")) };
        break;
      case "EXPOSE":
        c.ExposedPorts = { ...c.ExposedPorts };
        for (const p of words(arg)) c.ExposedPorts[p.includes("/") ? p : `${p}/tcp`] = {};
        break;
      case "VOLUME":
        c.Volumes = { ...c.Volumes };
        for (const v of arg.trim().startsWith("[") ? command(arg) : words(arg)) c.Volumes[v] = {};
        break;
      case "USER":
        c.User = arg.trim();
        break;
      case "WORKDIR":
        c.WorkingDir = arg.trim();
        break;
      case "STOPSIGNAL":
        c.StopSignal = arg.trim();
        break;
      default:
        throw new InvalidArgument(
          `invalid change "${change}": ${m[1]} cannot be changed (these can: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)`,
        );
    }
  }
  return c;
}
