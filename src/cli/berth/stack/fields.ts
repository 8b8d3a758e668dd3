/**
 * Typed reads of a parsed compose document: each takes the value and its path
 * ("services.web.deploy.replicas") and either returns it in the type the field has or throws a
 * ComposeError that names the path, so that a user finds the bad line at once.
 */
import { InvalidArgument } from "../../../errors.js";
import { parseBytes, parseDuration } from "../../../util/units.js";

export class ComposeError extends InvalidArgument {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`invalid compose file: ${path} ${detail}`);
  }
}

export type Obj = Record<string, unknown>;

export const isMap = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);

export function mapping(v: unknown, path: string): Obj {
  if (!isMap(v)) throw new ComposeError(path, "must be a mapping");
  return v;
}

/** Refuses keys outside `allowed` (and `x-` extensions, which compose 3.4+ allows anywhere). */
export function onlyKeys(obj: Obj, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj))
    if (!allowed.includes(key) && !key.startsWith("x-"))
      throw new ComposeError(path ? `${path}.${key}` : key, "is not allowed here (unknown property)");
}

export function string(v: unknown, path: string): string {
  if (typeof v !== "string") throw new ComposeError(path, "must be a string");
  return v;
}

/** A string, or a number or boolean written as one (label and environment values). */
export function scalar(v: unknown, path: string): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new ComposeError(path, "must be a string or a number");
}

/** A whole number at least `min`; a numeric string counts (interpolated values are strings). */
export function integer(v: unknown, path: string, min = 0): number {
  const n = typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) throw new ComposeError(path, "must be an integer");
  if (n < min) throw new ComposeError(path, `must be ${min} or more`);
  return n;
}

export function number(v: unknown, path: string): number {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) throw new ComposeError(path, "must be a number");
  return n;
}

export function boolean(v: unknown, path: string): boolean {
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "false") return v === "true";
  throw new ComposeError(path, "must be a boolean");
}

export function oneOf<T extends string>(v: unknown, choices: readonly T[], path: string): T {
  const s = string(v, path);
  if (!choices.includes(s as T))
    throw new ComposeError(path, `must be one of ${choices.join(", ")} (given "${s}")`);
  return s as T;
}

export function stringList(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) throw new ComposeError(path, "must be a list of strings");
  return v.map((x, i) => string(x, `${path}.${i}`));
}

/** A Go duration string ("10s", "1m30s") in nanoseconds. */
export function duration(v: unknown, path: string): number {
  if (typeof v !== "string") throw new ComposeError(path, 'must be a duration string, as "10s" or "1m30s"');
  try {
    return parseDuration(v, "duration");
  } catch (err) {
    throw new ComposeError(path, `is not a duration: ${(err as Error).message}`);
  }
}

/** A byte size: a number of bytes, or a string with a unit ("512m", "1.5gb"). */
export function byteSize(v: unknown, path: string): number {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v !== "string") throw new ComposeError(path, 'must be a byte size, as 1048576 or "512m"');
  try {
    return parseBytes(v, "size");
  } catch {
    throw new ComposeError(path, `is not a byte size: "${v}" (use a number with b, k, m or g)`);
  }
}

/**
 * A mapping or a list of "KEY<sep>VALUE" strings (labels, environment, extra_hosts, sysctls):
 * a value null, or a list item without the separator, is undefined (no value given).
 */
export function mapOrList(v: unknown, path: string, sep = "="): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (Array.isArray(v)) {
    v.forEach((item, i) => {
      const text = scalar(item, `${path}.${i}`);
      const at = text.indexOf(sep);
      const key = at < 0 ? text : text.slice(0, at);
      if (!key) throw new ComposeError(`${path}.${i}`, `has no name before "${sep}"`);
      out[key] = at < 0 ? undefined : text.slice(at + sep.length);
    });
    return out;
  }
  if (!isMap(v)) throw new ComposeError(path, "must be a mapping or a list");
  for (const [k, x] of Object.entries(v)) out[k] = x === null ? undefined : scalar(x, `${path}.${k}`);
  return out;
}

/** Labels: as mapOrList, a label without a value being "". */
export function labels(v: unknown, path: string): Record<string, string> {
  return Object.fromEntries(Object.entries(mapOrList(v, path)).map(([k, x]) => [k, x ?? ""]));
}

/** A command line given as a string (split as a shell would, without expansion) or a list. */
export function commandLine(v: unknown, path: string): string[] {
  if (Array.isArray(v)) return v.map((x, i) => scalar(x, `${path}.${i}`));
  const text = string(v, path);
  const words: string[] = [];
  let word = "";
  let started = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!))
        word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      started = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      started = true;
    } else if (/\s/.test(c)) {
      if (started) words.push(word);
      word = "";
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (quote) throw new ComposeError(path, `has an unterminated ${quote} quote`);
  if (started) words.push(word);
  return words;
}
