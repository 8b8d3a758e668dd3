/**
 * The instructions that change only the image config (ENV, LABEL, CMD, …): what each does to
 * the config, as docker's builder does it, and the text of its history entry. Pure functions:
 * `expand` substitutes the build's variables where the Dockerfile reference says they apply.
 */
import { posix } from "node:path";
import type { ContainerConfig } from "../image/manifest.js";
import { parseDuration } from "../util/units.js";
import { DockerfileError, type Instruction } from "./dockerfile.js";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];

export interface ConfigChange {
  config: ContainerConfig;
  /** MAINTAINER's name: the image's author. */
  author?: string;
  /** What docker's classic builder writes after "#(nop)" in the step's history entry. */
  history: string;
}

/** The shell of a config: what RUN, shell-form CMD and the "#(nop)" history entries use. */
export function shellOf(config: ContainerConfig): string[] {
  return config.Shell?.length ? config.Shell : DEFAULT_SHELL;
}

/** What `ins` does to `config`; `cmdSet`: whether this stage has set CMD itself. */
export function configChange(
  ins: Instruction,
  config: ContainerConfig,
  expand: (text: string) => string,
  cmdSet = false,
): ConfigChange {
  const shellForm = (text: string) => [...shellOf(config), text];
  const argv = (): string[] => ins.json ?? shellForm(ins.text);
  switch (ins.name) {
    case "ENV": {
      const env = [...(config.Env ?? [])];
      const pairs = keyValuePairs(expand(ins.text), ins);
      for (const [k, v] of pairs) {
        const i = env.findIndex((e) => e.startsWith(`${k}=`));
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      return { config: { Env: env }, history: ` ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}` };
    }
    case "LABEL": {
      const pairs = keyValuePairs(expand(ins.text), ins);
      return {
        config: { Labels: { ...config.Labels, ...Object.fromEntries(pairs) } },
        history: ` LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`,
      };
    }
    case "MAINTAINER":
      return { config: {}, author: expand(ins.text), history: ` MAINTAINER ${expand(ins.text)}` };
    case "EXPOSE": {
      const ports = { ...config.ExposedPorts };
      for (const p of exposedPorts(expand(ins.text), ins)) ports[p] = {};
      return { config: { ExposedPorts: ports }, history: ` EXPOSE ${expand(ins.text)}` };
    }
    case "WORKDIR": {
      const dir = expand(ins.text);
      const path = posix.resolve(config.WorkingDir || "/", dir);
      return { config: { WorkingDir: path }, history: `WORKDIR ${path}` };
    }
    case "USER":
      return { config: { User: expand(ins.text) }, history: ` USER ${expand(ins.text)}` };
    case "CMD":
      return { config: { Cmd: argv() }, history: ` CMD ${goQuoted(argv())}` };
    case "ENTRYPOINT":
      // A new entrypoint drops the CMD inherited from the base image (not one set in this stage).
      return {
        config: { Entrypoint: argv(), ...(cmdSet ? {} : { Cmd: null as never }) },
        history: ` ENTRYPOINT ${goQuoted(argv())}`,
      };
    case "VOLUME": {
      const vols = { ...config.Volumes };
      const list = ins.json ? ins.json.map(expand) : expand(ins.text).split(/\s+/).filter(Boolean);
      for (const v of list) {
        if (!v.trim()) throw new DockerfileError(ins.line, "VOLUME specified can not be an empty string");
        vols[v] = {};
      }
      return { config: { Volumes: vols }, history: ` VOLUME [${list.join(" ")}]` };
    }
    case "STOPSIGNAL":
      return { config: { StopSignal: expand(ins.text) }, history: ` STOPSIGNAL ${expand(ins.text)}` };
    case "SHELL":
      if (!ins.json) throw new DockerfileError(ins.line, "SHELL requires the arguments to be in JSON form");
      return { config: { Shell: ins.json }, history: ` SHELL [${ins.json.join(" ")}]` };
    case "ONBUILD": {
      const word = ins.text.split(/\s+/)[0]!.toUpperCase();
      if (["ONBUILD", "FROM", "MAINTAINER"].includes(word))
        throw new DockerfileError(ins.line, `${word} isn't allowed as an ONBUILD trigger`);
      return { config: { OnBuild: [...(config.OnBuild ?? []), ins.text] }, history: ` ONBUILD ${ins.text}` };
    }
    case "HEALTHCHECK": {
      const check = healthcheck(ins)!;
      return { config: { Healthcheck: check }, history: ` HEALTHCHECK ${goHealthcheck(check)}` };
    }
    default:
      throw new DockerfileError(ins.line, `${ins.name} does not change the image config`);
  }
}

/** Go's %q of a string slice: `["a" "b"]`. */
function goQuoted(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/** Go's %q of docker's HealthConfig: `&{["CMD-SHELL" "x"] "5s" "2s" "0s" '\x04'}`. */
function goHealthcheck(h: NonNullable<ContainerConfig["Healthcheck"]>): string {
  const d = (ns: number | undefined) => JSON.stringify(goDuration(ns ?? 0));
  return `&{${goQuoted(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${goRune(h.Retries ?? 0)}}`;
}

/** Go's time.Duration String(): "0s", "500ms", "5s", "1m30s", "1h0m0s". */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  if (ns < 1e6) return ns < 1e3 ? `${ns}ns` : `${trim(ns / 1e3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6)}ms`;
  const h = Math.floor(ns / 3.6e12);
  const m = Math.floor((ns % 3.6e12) / 6e10);
  const s = trim((ns % 6e10) / 1e9);
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/** Go's %q of an int: a rune literal ('A', '\x04', '\n'). */
function goRune(n: number): string {
  const named: Record<number, string> = { 7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r" };
  if (named[n]) return `'\\${named[n]}'`;
  if (n === 39 || n === 92) return `'\\${String.fromCharCode(n)}'`;
  if (n >= 32 && n < 127) return `'${String.fromCharCode(n)}'`;
  if (n < 128) return `'\\x${n.toString(16).padStart(2, "0")}'`;
  return `'\\u${n.toString(16).padStart(4, "0")}'`;
}

/**
 * Shell-like words: whitespace separates them, quotes group and are removed, a backslash keeps
 * the next character (outside single quotes).
 */
function words(text: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i]!;
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else {
      word ??= "";
      if (c === '"' || c === "'") quote = c;
      else if (c === "\\" && i + 1 < text.length) word += text[++i]!;
      else word += c;
    }
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** `K=V K2="v 2" "k 3"=v`, or the old `K V` form (one pair, the rest of the line its value). */
export function keyValuePairs(text: string, ins: Instruction): [string, string][] {
  const first = /^\S+/.exec(text)?.[0] ?? "";
  if (!first) throw new DockerfileError(ins.line, `${ins.name} names can not be blank`);
  if (!first.includes("=")) {
    const rest = text.slice(first.length).trim();
    if (!rest) throw new DockerfileError(ins.line, `${ins.name} must have two arguments`);
    return [[first, rest]];
  }
  return words(text).map((w) => {
    const eq = w.indexOf("=");
    if (eq <= 0) throw new DockerfileError(ins.line, `${ins.name}: key=value expected, got "${w}"`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, … */
export function exposedPorts(text: string, ins: Instruction): string[] {
  const out: string[] = [];
  for (const spec of text.split(/\s+/).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
    if (!m) throw new DockerfileError(ins.line, `invalid containerPort: ${spec}`);
    const first = Number(m[1]);
    const last = m[2] ? Number(m[2]) : first;
    if (first < 1 || last > 65535 || last < first)
      throw new DockerfileError(ins.line, `invalid port range: ${spec}`);
    for (let p = first; p <= last; p++) out.push(`${p}/${(m[3] ?? "tcp").toLowerCase()}`);
  }
  return out;
}

function healthcheck(ins: Instruction): ContainerConfig["Healthcheck"] {
  if (/^NONE$/i.test(ins.text)) return { Test: ["NONE"] };
  const m = /^CMD\s+([\s\S]+)$/i.exec(ins.text);
  if (!m) throw new DockerfileError(ins.line, "HEALTHCHECK requires CMD or NONE");
  let test: string[] = ["CMD-SHELL", m[1]!];
  try {
    const json = JSON.parse(m[1]!) as unknown;
    if (Array.isArray(json)) test = ["CMD", ...(json as string[])];
  } catch {
    // The shell form.
  }
  const durations: Record<string, number> = {};
  for (const [flag, key] of [
    ["interval", "Interval"],
    ["timeout", "Timeout"],
    ["start-period", "StartPeriod"],
    ["start-interval", "StartInterval"],
  ] as const) {
    const v = ins.flags[flag]?.[0];
    if (!v) continue;
    try {
      durations[key] = parseDuration(v, `--${flag}`);
    } catch (err) {
      throw new DockerfileError(ins.line, (err as Error).message);
    }
  }
  const retries = ins.flags["retries"]?.[0];
  if (retries !== undefined && !/^\d+$/.test(retries))
    throw new DockerfileError(ins.line, `invalid value for --retries: ${retries}`);
  return { Test: test, ...durations, ...(retries !== undefined ? { Retries: Number(retries) } : {}) };
}
