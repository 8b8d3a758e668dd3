/**
 * The Dockerfile language, parsed as BuildKit's frontend reads it: parser directives (`# syntax`,
 * `# escape`) at the top, comments, line continuations with the escape character, JSON and shell
 * forms, `--flag=value` options, and heredocs (`RUN <<EOF`, `COPY <<EOF /dst`, `<<-` and quoted
 * delimiters). Errors name the line. Variable substitution is separate (substitute below), since
 * it needs the build's ARG and ENV state.
 */
import { BerthError } from "../errors.js";

export class DockerfileError extends BerthError {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super("dockerfile", `Dockerfile:${line}: ${message}`);
  }
}

/** A RUN whose command exited non-zero: the code goes in the API's errorDetail, as dockerd's. */
export class RunStepFailed extends DockerfileError {
  constructor(
    line: number,
    message: string,
    readonly exitCode: number,
  ) {
    super(line, message);
  }
}

export const INSTRUCTIONS = [
  "FROM",
  "RUN",
  "CMD",
  "LABEL",
  "MAINTAINER",
  "EXPOSE",
  "ENV",
  "ADD",
  "COPY",
  "ENTRYPOINT",
  "VOLUME",
  "USER",
  "WORKDIR",
  "ARG",
  "ONBUILD",
  "STOPSIGNAL",
  "HEALTHCHECK",
  "SHELL",
] as const;
export type InstructionName = (typeof INSTRUCTIONS)[number];

/** Instructions whose arguments may be a JSON array. */
const JSON_FORMS = new Set(["RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME", "HEALTHCHECK"]);
/** Instructions that take heredocs. */
const HEREDOC_FORMS = new Set(["RUN", "COPY", "ADD"]);

export interface Heredoc {
  name: string;
  content: string;
  /** A quoted delimiter (<<"EOF") turns expansion off. */
  expand: boolean;
}

export interface Instruction {
  name: InstructionName;
  /** 1-based line of the instruction's first line. */
  line: number;
  /** `--name=value` options before the arguments (repeatable ones keep every value). */
  flags: Record<string, string[]>;
  /** The arguments as written (shell form), after the flags, continuation lines joined. */
  text: string;
  /** The JSON form's strings, when the arguments are a JSON array of strings. */
  json?: string[];
  heredocs: Heredoc[];
}

export interface Dockerfile {
  directives: Record<string, string>;
  escape: string;
  instructions: Instruction[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const HEREDOC = /<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g;

export function parseDockerfile(source: string): Dockerfile {
  const lines = source.replace(/\r\n/g, "\n").split("\n");
  const directives: Record<string, string> = {};
  let i = 0;
  // Directives: only at the very top, before any other comment, blank line or instruction.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i]!);
    if (!m) break;
    const key = m[1]!.toLowerCase();
    if (!["syntax", "escape", "check"].includes(key)) break;
    if (key in directives) throw new DockerfileError(i + 1, `only one ${key} parser directive can be used`);
    directives[key] = m[2]!;
  }
  const escapeChar = directives["escape"] ?? "\\";
  if (escapeChar !== "\\" && escapeChar !== "`")
    throw new DockerfileError(1, `invalid escape token '${escapeChar}' does not match ` + "` or \\");
  const instructions: Instruction[] = [];
  while (i < lines.length) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) {
      i++;
      continue;
    }
    const start = i;
    // Join continuation lines; comment lines inside a continuation are dropped.
    let text = raw.trimStart();
    while (endsWithEscape(text, escapeChar) && i + 1 < lines.length) {
      text = text.replace(new RegExp(`${escapeRe(escapeChar)}\\s*$`), "");
      i++;
      while (i < lines.length && lines[i]!.trim().startsWith("#")) i++;
      if (i < lines.length) text += lines[i]!;
    }
    if (endsWithEscape(text, escapeChar)) text = text.replace(new RegExp(`${escapeRe(escapeChar)}\\s*$`), "");
    i++;
    const m = /^(\S+)\s*([\s\S]*)$/.exec(text.trim())!;
    const word = m[1]!.toUpperCase();
    if (!(INSTRUCTIONS as readonly string[]).includes(word))
      throw new DockerfileError(start + 1, `unknown instruction: ${m[1]}`);
    const name = word as InstructionName;
    const { flags, rest } = parseFlags(m[2]!, start + 1);
    const instruction: Instruction = { name, line: start + 1, flags, text: rest, heredocs: [] };
    if (HEREDOC_FORMS.has(name)) {
      for (const h of rest.matchAll(HEREDOC)) {
        const [, dash, quote, delimiter] = h;
        const body: string[] = [];
        for (;;) {
          if (i >= lines.length) throw new DockerfileError(start + 1, `unterminated heredoc ${delimiter}`);
          const l = lines[i++]!;
          const content = dash ? l.replace(/^\t+/, "") : l;
          if (content === delimiter) break;
          body.push(content);
        }
        instruction.heredocs.push({
          name: delimiter!,
          content: body.length ? `${body.join("\n")}\n` : "",
          expand: !quote,
        });
      }
    }
    if (JSON_FORMS.has(name) && rest.startsWith("[")) {
      try {
        const parsed = JSON.parse(rest) as unknown;
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")) instruction.json = parsed;
      } catch {
        // Not JSON after all: docker runs it in the shell form.
      }
    }
    if (rest === "") throw new DockerfileError(start + 1, `${name} requires at least one argument`);
    instructions.push(instruction);
  }
  return { directives, escape: escapeChar, instructions };
}

function escapeRe(c: string): string {
  return c.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
}

function endsWithEscape(text: string, escapeChar: string): boolean {
  return new RegExp(`${escapeRe(escapeChar)}\\s*$`).test(text);
}

const FLAGS: Partial<Record<InstructionName, string[]>> = {
  FROM: ["platform"],
  RUN: ["mount", "network", "security"],
  COPY: ["from", "chown", "chmod", "link", "parents", "exclude"],
  ADD: ["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"],
  HEALTHCHECK: ["interval", "timeout", "start-period", "start-interval", "retries"],
};

/** Leading `--name=value` options; the instruction decides which are allowed (checked later). */
function parseFlags(args: string, line: number): { flags: Record<string, string[]>; rest: string } {
  const flags: Record<string, string[]> = {};
  let rest = args.trimStart();
  for (;;) {
    const m = /^--([a-z][a-z0-9-]*)(?:=("[^"]*"|\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    const value = m[2] === undefined ? "true" : m[2].replace(/^"(.*)"$/, "$1");
    flags[m[1]!] = [...(flags[m[1]!] ?? []), value];
    rest = rest.slice(m[0].length);
    if (rest.startsWith("--") && !/^--[a-z]/.test(rest))
      throw new DockerfileError(line, `invalid flag "${rest.split(/\s/)[0]}"`);
  }
  return { flags, rest: rest.trimEnd() };
}

/** Checks each instruction's flags against what it accepts, with BuildKit's message. */
export function checkFlags(instruction: Instruction): void {
  const allowed = FLAGS[instruction.name] ?? [];
  for (const flag of Object.keys(instruction.flags))
    if (!allowed.includes(flag))
      throw new DockerfileError(instruction.line, `unknown flag: --${flag} for ${instruction.name}`);
}

/** The index of the `}` closing a `${` whose content starts at `from` (nested `${...}` skipped). */
function matchingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "{") {
      depth++;
      i++;
    } else if (text[i] === "}" && --depth === 0) return i;
  }
  return -1;
}

/**
 * Variable substitution as the Dockerfile reference gives it: `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR:+alternative}` (and the forms without the colon, which only look at
 * whether the variable is set), `\$` for a literal dollar sign; nothing inside single quotes.
 */
export function substitute(
  text: string,
  vars: ReadonlyMap<string, string>,
  escapeChar = "\\",
  line = 0,
): string {
  let out = "";
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escapeChar && text[i + 1] === "$") {
      out += "$";
      i++;
      continue;
    }
    if (c === escapeChar && i + 1 < text.length) {
      out += c + text[i + 1];
      i++;
      continue;
    }
    if ((c === "'" || c === '"') && (!quote || quote === c)) {
      quote = quote ? undefined : c;
      out += c;
      continue;
    }
    if (c !== "$" || quote === "'") {
      out += c;
      continue;
    }
    const braced = text[i + 1] === "{";
    if (braced) {
      const close = matchingBrace(text, i + 2);
      if (close < 0) throw new DockerfileError(line, `missing '}' in ${text}`);
      const expr = text.slice(i + 2, close);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-+])([\s\S]*))?$/.exec(expr);
      if (!m) throw new DockerfileError(line, `unsupported modifier in \${${expr}}`);
      const [, name, colon, op, word = ""] = m;
      const value = vars.get(name!);
      const set = colon ? value !== undefined && value !== "" : value !== undefined;
      if (op === "-") out += set ? value : substitute(word, vars, escapeChar, line);
      else if (op === "+") out += set ? substitute(word, vars, escapeChar, line) : "";
      else out += value ?? "";
      i = close;
      continue;
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!m) {
      out += c;
      continue;
    }
    out += vars.get(m[0]) ?? "";
    i += m[0].length;
  }
  return out;
}
