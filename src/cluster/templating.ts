/**
 * Templated secrets and configs (`--template-driver golang`): the file a task gets is rendered
 * from the stored text with what swarm gives such templates — the service, node and task the
 * file is for, and the functions `env`, `secret` and `config`. Berth renders the part of Go's
 * template language that these templates use: actions that print a field path (`{{.Node.Hostname}}`),
 * `index` of a map (`{{index .Service.Labels "com.example"}}`) or one of the three functions, with
 * `{{-`/`-}}` trimming and comment actions. Any other action (if, range, pipelines, variables)
 * is refused with its text, at create and at render, rather than printed wrong.
 */

import { InvalidArgument } from "../errors.js";

export const TEMPLATE_DRIVER = "golang";

export interface TemplateContext {
  Service: { ID: string; Name: string; Labels: Record<string, string> };
  Node: { ID: string; Hostname: string; Platform: { Architecture: string; OS: string } };
  Task: { ID: string; Name: string; Slot: string };
}

export interface TemplateFunctions {
  env: (name: string) => string;
  secret: (name: string) => string;
  config: (name: string) => string;
}

/** A template that cannot be rendered: the text says which action and why. */
export class TemplateError extends InvalidArgument {}

type Part = { text: string } | { action: string };

/** The template split into text and actions, with trim markers applied; comments dropped. */
function parse(template: string): Part[] {
  const parts: Part[] = [];
  let rest = template;
  for (;;) {
    const open = rest.indexOf("{{");
    if (open < 0) {
      parts.push({ text: rest });
      return parts;
    }
    const close = rest.indexOf("}}", open + 2);
    if (close < 0) throw new TemplateError(`template: unclosed action "${rest.slice(open, open + 40)}"`);
    let text = rest.slice(0, open);
    let inner = rest.slice(open + 2, close);
    rest = rest.slice(close + 2);
    if (/^-\s/.test(inner)) {
      text = text.replace(/\s+$/, "");
      inner = inner.slice(1);
    }
    if (/\s-$/.test(inner)) {
      rest = rest.replace(/^\s+/, "");
      inner = inner.slice(0, -1);
    }
    parts.push({ text });
    inner = inner.trim();
    if (!/^\/\*[\s\S]*\*\/$/.test(inner)) parts.push({ action: inner });
  }
}

const FIELD_PATH = /^(\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const QUOTED = /^"((?:[^"\\]|\\.)*)"$/;

/** Labels are maps (a missing key prints "<no value>", as in Go); the rest are structs. */
const MAPS = new Set(["Labels"]);

function lookup(context: TemplateContext, path: string, action: string): unknown {
  let value: unknown = context;
  let inMap = false;
  for (const field of path.slice(1).split(".")) {
    if (inMap) {
      value = (value as Record<string, unknown>)[field] ?? "<no value>";
      inMap = false;
      continue;
    }
    if (value === null || typeof value !== "object" || !(field in value))
      throw new TemplateError(`template: {{${action}}}: can't evaluate field ${field}`);
    value = (value as Record<string, unknown>)[field];
    inMap = MAPS.has(field);
  }
  return value;
}

function printable(value: unknown, action: string): string {
  if (typeof value === "string" || typeof value === "number") return String(value);
  if (value && typeof value === "object" && !Array.isArray(value))
    return `map[${Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}:${typeof v === "object" ? "…" : String(v)}`)
      .join(" ")}]`;
  throw new TemplateError(`template: {{${action}}}: cannot print this value`);
}

/** The words of an action: field paths, quoted strings and function names. */
function words(action: string): string[] {
  const out: string[] = [];
  const re = /"(?:[^"\\]|\\.)*"|[^\s"]+/g;
  for (const m of action.matchAll(re)) out.push(m[0]);
  if (out.join("").length !== action.replace(/\s+/g, "").length)
    throw new TemplateError(`template: {{${action}}}: unterminated string`);
  return out;
}

const unquote = (word: string, action: string): string => {
  const m = QUOTED.exec(word);
  if (!m) throw new TemplateError(`template: {{${action}}}: ${word} is not a quoted string`);
  return JSON.parse(`"${m[1]}"`) as string;
};

function evaluate(action: string, context: TemplateContext, functions?: TemplateFunctions): string {
  const [head, ...args] = words(action);
  if (head && FIELD_PATH.test(head) && !args.length) return printable(lookup(context, head, action), action);
  if (head === "index" && args.length === 2 && FIELD_PATH.test(args[0]!)) {
    const map = lookup(context, args[0]!, action);
    if (!map || typeof map !== "object") throw new TemplateError(`template: {{${action}}}: not a map`);
    return printable((map as Record<string, unknown>)[unquote(args[1]!, action)] ?? "", action);
  }
  if ((head === "env" || head === "secret" || head === "config") && args.length === 1) {
    const name = unquote(args[0]!, action);
    return functions ? functions[head](name) : "";
  }
  throw new TemplateError(
    `template: {{${action}}} is not supported: Berth renders field paths, index, env, secret and config`,
  );
}

/** Checks a template when it is created: every action is one Berth can render. */
export function checkTemplate(template: string): void {
  const placeholder: TemplateContext = {
    Service: { ID: "", Name: "", Labels: {} },
    Node: { ID: "", Hostname: "", Platform: { Architecture: "", OS: "" } },
    Task: { ID: "", Name: "", Slot: "" },
  };
  for (const part of parse(template)) if ("action" in part) evaluate(part.action, placeholder);
}

export function renderTemplate(
  template: string,
  context: TemplateContext,
  functions: TemplateFunctions,
): string {
  return parse(template)
    .map((part) => ("text" in part ? part.text : evaluate(part.action, context, functions)))
    .join("");
}
