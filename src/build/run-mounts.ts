/**
 * `RUN --mount=…` as BuildKit reads it: comma-separated `key=value` fields (a bare `ro`, `rw`
 * or `readonly` is a boolean). Types: `bind` (default; a path of the context, a stage or an
 * image, read-only unless `rw`, whose writes are then thrown away), `cache` (a directory that
 * persists between builds, keyed by `id` or its target, shared, private or locked), `tmpfs`.
 */
import { posix } from "node:path";
import { DockerfileError } from "./dockerfile.js";

export type RunMount =
  | { type: "bind"; target: string; source: string; from?: string; readOnly: boolean }
  | {
      type: "cache";
      target: string;
      id: string;
      sharing: "shared" | "private" | "locked";
      readOnly: boolean;
      mode: number;
      uid: number;
      gid: number;
    }
  | { type: "tmpfs"; target: string; size?: number };

const FIELDS: Record<RunMount["type"], string[]> = {
  bind: ["target", "source", "from", "readonly", "rw"],
  cache: ["target", "id", "sharing", "readonly", "rw", "mode", "uid", "gid"],
  tmpfs: ["target", "size"],
};

const ALIASES: Record<string, string> = {
  dst: "target",
  destination: "target",
  src: "source",
  ro: "readonly",
  readwrite: "rw",
};

export function parseRunMount(spec: string, workdir: string, line: number): RunMount {
  const fields = new Map<string, string>();
  for (const part of spec.split(",")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const rawKey = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
    const key = ALIASES[rawKey] ?? rawKey;
    fields.set(key, eq < 0 ? "true" : part.slice(eq + 1));
  }
  const type = (fields.get("type") ?? "bind") as RunMount["type"];
  fields.delete("type");
  if (!(type in FIELDS)) {
    const hint =
      type === ("secret" as string) || type === ("ssh" as string)
        ? " (secrets and ssh mounts are not supported by Berth yet)"
        : "";
    throw new DockerfileError(line, `unsupported mount type "${type}"${hint}`);
  }
  for (const key of fields.keys())
    if (!FIELDS[type].includes(key))
      throw new DockerfileError(line, `unexpected key '${key}' in '${spec}' for a ${type} mount`);
  const rawTarget = fields.get("target");
  if (!rawTarget) throw new DockerfileError(line, `mount '${spec}' has no target`);
  const target = posix.resolve(workdir || "/", rawTarget);
  const flag = (name: string) => {
    const v = fields.get(name);
    if (v === undefined) return undefined;
    if (!["true", "false", "1", "0"].includes(v))
      throw new DockerfileError(line, `invalid value for ${name} in mount '${spec}': ${v}`);
    return v === "true" || v === "1";
  };
  const int = (name: string, fallback: number, radix = 10) => {
    const v = fields.get(name);
    if (v === undefined) return fallback;
    const n = Number.parseInt(v, radix);
    if (!/^[0-9]+$/.test(v) || Number.isNaN(n))
      throw new DockerfileError(line, `invalid value for ${name} in mount '${spec}': ${v}`);
    return n;
  };
  switch (type) {
    case "bind": {
      const from = fields.get("from");
      return {
        type,
        target,
        source: fields.get("source") ?? "/",
        ...(from ? { from } : {}),
        readOnly: !(flag("rw") ?? false) && (flag("readonly") ?? true),
      };
    }
    case "cache": {
      const sharing = fields.get("sharing") ?? "shared";
      if (sharing !== "shared" && sharing !== "private" && sharing !== "locked")
        throw new DockerfileError(line, `invalid sharing mode "${sharing}": use shared, private or locked`);
      return {
        type,
        target,
        id: fields.get("id") ?? target,
        sharing,
        readOnly: flag("readonly") ?? false,
        mode: int("mode", 0o755, 8),
        uid: int("uid", 0),
        gid: int("gid", 0),
      };
    }
    case "tmpfs": {
      const size = fields.get("size");
      if (size !== undefined && !/^\d+[kmg]?$/i.test(size))
        throw new DockerfileError(line, `invalid tmpfs size "${size}"`);
      return { type, target, ...(size ? { size: sizeBytes(size) } : {}) };
    }
  }
}

function sizeBytes(text: string): number {
  const unit = text.slice(-1).toLowerCase();
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit];
  return mult ? Number(text.slice(0, -1)) * mult : Number(text);
}
