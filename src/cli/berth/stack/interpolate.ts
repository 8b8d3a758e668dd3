/**
 * Variable interpolation in a compose file, as docker's loader does it: `$VAR`, `${VAR}`,
 * `${VAR:-default}` (unset or empty), `${VAR-default}` (unset), `${VAR:?message}` and
 * `${VAR?message}` (required), and `$$` for a literal `$`. Values only, never keys; an unset
 * variable without a default is "" with a warning, as docker prints.
 */
import { ComposeError } from "./fields.js";

export type Lookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** One string with its variables substituted; `path` names it in errors. */
export function interpolateString(text: string, lookup: Lookup, path: string, warnings: string[]): string {
  let out = "";
  let i = 0;
  const bad = (): never => {
    throw new ComposeError(
      path,
      `has an invalid interpolation format: "${text}". You may need to escape any $ with another $`,
    );
  };
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === "$") {
      out += "$";
      i = dollar + 2;
      continue;
    }
    if (next === "{") {
      const close = text.indexOf("}", dollar + 2);
      if (close < 0) bad();
      out += substitute(text.slice(dollar + 2, close), lookup, path, warnings, bad);
      i = close + 1;
      continue;
    }
    const name = NAME.exec(text.slice(dollar + 1))?.[0];
    if (!name) bad();
    out += variableValue(name!, lookup, warnings);
    i = dollar + 1 + name!.length;
  }
  return out;
}

function variableValue(name: string, lookup: Lookup, warnings: string[]): string {
  const v = lookup(name);
  if (v === undefined) {
    warnings.push(`The "${name}" variable is not set. Defaulting to a blank string.`);
    return "";
  }
  return v;
}

/** The inside of `${...}`: a name, then nothing or one of :- - :? ? and a word. */
function substitute(
  inner: string,
  lookup: Lookup,
  path: string,
  warnings: string[],
  bad: () => never,
): string {
  const name = NAME.exec(inner)?.[0];
  if (!name) bad();
  const rest = inner.slice(name!.length);
  if (rest === "") return variableValue(name!, lookup, warnings);
  const op = /^(:-|-|:\?|\?)/.exec(rest)?.[0];
  if (!op) bad();
  const word = rest.slice(op!.length);
  const value = lookup(name!);
  const missing = op!.startsWith(":") ? !value : value === undefined;
  if (op!.endsWith("-")) return missing ? interpolateString(word, lookup, path, warnings) : (value as string);
  if (missing)
    throw new ComposeError(
      path,
      `needs the variable ${name}, which is missing a value${word ? `: ${word}` : ""}`,
    );
  return value as string;
}

/** Every string value in `value` (a parsed compose document) interpolated; keys are left alone. */
export function interpolate(value: unknown, lookup: Lookup, path: string, warnings: string[]): unknown {
  if (typeof value === "string") return interpolateString(value, lookup, path, warnings);
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, lookup, `${path}.${i}`, warnings));
  if (value !== null && typeof value === "object")
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolate(v, lookup, path ? `${path}.${k}` : k, warnings)]),
    );
  return value;
}
