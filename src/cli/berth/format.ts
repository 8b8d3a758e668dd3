/**
 * Output as docker prints it: aligned tables with its column names, and `--format` with the
 * subset of Go templates that people put in scripts: `{{.Field}}`, nested `{{.A.B}}`,
 * `{{index .Labels "k"}}`, `{{json .}}`, `{{upper …}}`/`{{lower …}}`, and a leading `table`.
 */
import { InvalidArgument } from "../../errors.js";
import { humanDuration } from "../../util/human.js";

type Value = unknown;

function field(value: Value, path: string): Value {
  let v = value;
  for (const key of path.split(".").filter(Boolean)) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, Value>)[key];
  }
  return v;
}

function text(v: Value): string {
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map(text).join(" ")}]`;
  if (typeof v === "object")
    return `map[${Object.entries(v as Record<string, Value>)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, x]) => `${k}:${text(x)}`)
      .join(" ")}]`;
  return String(v);
}

function unquote(token: string): string {
  if (/^".*"$/.test(token)) return JSON.parse(token) as string;
  throw new InvalidArgument(`template: bad argument ${token}: expected a quoted string`);
}

function evaluate(expr: string, dot: Value): Value {
  const tokens = expr.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const arg = (t: string | undefined): Value => {
    if (t === undefined) throw new InvalidArgument(`template: missing argument in {{${expr}}}`);
    if (t === ".") return dot;
    if (t.startsWith(".")) return field(dot, t.slice(1));
    return unquote(t);
  };
  const [head, ...rest] = tokens;
  switch (head) {
    case "json":
      return JSON.stringify(arg(rest[0]) ?? null);
    case "upper":
      return text(arg(rest[0])).toUpperCase();
    case "lower":
      return text(arg(rest[0])).toLowerCase();
    case "index": {
      let v = arg(rest[0]);
      for (const k of rest.slice(1)) v = (v as Record<string, Value> | undefined)?.[String(arg(k))];
      return v === undefined ? "" : v;
    }
    case "join": {
      const list = arg(rest[0]);
      return Array.isArray(list) ? list.map(text).join(String(arg(rest[1]))) : "";
    }
    default:
      if (tokens.length !== 1) throw new InvalidArgument(`template: function "${head}" not defined`);
      return arg(head);
  }
}

/** Renders `template` (docker's --format) for one value. */
export function renderTemplate(template: string, dot: Value): string {
  return template
    .replace(/\\t/g, "\t")
    .replace(/\\n/g, "\n")
    .replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, expr: string) => text(evaluate(expr, dot)));
}

/** Columns padded as Go's tabwriter does for docker (three spaces between columns). */
export function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths: number[] = [];
  for (const row of rows)
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
        .join("")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/**
 * Prints `items` with a --format (a `table …` template keeps the header) or as the default table
 * of `columns`: [header, template] pairs.
 */
export function formatList(items: Value[], format: string | undefined, columns: [string, string][]): string {
  if (format === "json") return items.map((i) => `${JSON.stringify(i)}\n`).join("");
  if (format && !format.startsWith("table"))
    return items.map((i) => `${renderTemplate(format, i)}\n`).join("");
  const body = format ? format.slice("table".length).trim() : columns.map(([, t]) => t).join("\t");
  const headerTemplate = format
    ? body.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, name: string) => headerOf(name, columns))
    : columns.map(([h]) => h).join("\t");
  const rows = [headerTemplate, ...items.map((i) => renderTemplate(body, i))].map((line) =>
    line.replace(/\\t/g, "\t").split("\t"),
  );
  return table(rows);
}

function headerOf(name: string, columns: [string, string][]): string {
  const found = columns.find(([, t]) => t.includes(`.${name}}`));
  return found ? found[0] : name.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
}

export function ago(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(Math.max(0, now - unixSeconds * 1000))} ago`;
}
