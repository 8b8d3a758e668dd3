/**
 * The instructions that change only the image config (ENV, LABEL, CMD, …): what each does to
 * the config, as docker's builder does it, and the text of its history entry. Pure functions:
 * `expand` substitutes the build's variables where the Dockerfile reference says they apply.
 */
import type { ContainerConfig } from "../image/manifest.js";
import { parseDuration } from "../util/units.js";
import { DockerfileError, type Instruction } from "./dockerfile.js";

export const DEFAULT_SHELL = ["/bin/sh", "-c"];

export interface ConfigChange {
  config: ContainerConfig;
  /** MAINTAINER's name: the image's author. */
  author?: string;
}

/** What `ins` does to `config`; `cmdSet`: whether this stage has set CMD itself. */
export function configChange(
  ins: Instruction,
  config: ContainerConfig,
  expand: (text: string) => string,
  cmdSet = false,
): ConfigChange {
  const shellForm = (text: string) => [...(config.Shell?.length ? config.Shell : DEFAULT_SHELL), text];
  switch (ins.name) {
    case "ENV": {
      const env = [...(config.Env ?? [])];
      for (const [k, v] of keyValuePairs(expand(ins.text), ins)) {
        const i = env.findIndex((e) => e.startsWith(`${k}=`));
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      return { config: { Env: env } };
    }
    case "LABEL":
      return {
        config: { Labels: { ...config.Labels, ...Object.fromEntries(keyValuePairs(expand(ins.text), ins)) } },
      };
    case "MAINTAINER":
      return { config: {}, author: expand(ins.text) };
    case "EXPOSE": {
      const ports = { ...config.ExposedPorts };
      for (const p of exposedPorts(expand(ins.text), ins)) ports[p] = {};
      return { config: { ExposedPorts: ports } };
    }
    case "WORKDIR": {
      const dir = expand(ins.text);
      const base = config.WorkingDir || "/";
      return { config: { WorkingDir: normalize(dir.startsWith("/") ? dir : `${base}/${dir}`) } };
    }
    case "USER":
      return { config: { User: expand(ins.text) } };
    case "CMD":
      return { config: { Cmd: ins.json ?? shellForm(ins.text) } };
    case "ENTRYPOINT":
      // A new entrypoint drops the CMD inherited from the base image (not one set in this stage).
      return {
        config: { Entrypoint: ins.json ?? shellForm(ins.text), ...(cmdSet ? {} : { Cmd: null as never }) },
      };
    case "VOLUME": {
      const vols = { ...config.Volumes };
      const list = ins.json ? ins.json.map(expand) : expand(ins.text).split(/\s+/).filter(Boolean);
      for (const v of list) {
        if (!v.trim()) throw new DockerfileError(ins.line, "VOLUME specified can not be an empty string");
        vols[v] = {};
      }
      return { config: { Volumes: vols } };
    }
    case "STOPSIGNAL":
      return { config: { StopSignal: expand(ins.text) } };
    case "SHELL":
      if (!ins.json) throw new DockerfileError(ins.line, "SHELL requires the arguments to be in JSON form");
      return { config: { Shell: ins.json } };
    case "ONBUILD": {
      const word = ins.text.split(/\s+/)[0]!.toUpperCase();
      if (["ONBUILD", "FROM", "MAINTAINER"].includes(word))
        throw new DockerfileError(ins.line, `${word} isn't allowed as an ONBUILD trigger`);
      return { config: { OnBuild: [...(config.OnBuild ?? []), ins.text] } };
    }
    case "HEALTHCHECK":
      return { config: { Healthcheck: healthcheck(ins) } };
    default:
      throw new DockerfileError(ins.line, `${ins.name} does not change the image config`);
  }
}

/** The history text docker's builder writes after "#(nop)" for a config-only step. */
export function historyText(ins: Instruction, expand: (text: string) => string): string {
  switch (ins.name) {
    case "WORKDIR":
      return `WORKDIR ${expand(ins.text)}`;
    case "CMD":
    case "ENTRYPOINT":
    case "SHELL":
      return ` ${ins.name} ${goQuoted(ins.json ?? [...DEFAULT_SHELL, ins.text])}`;
    case "ONBUILD":
    case "HEALTHCHECK":
      return ` ${ins.name} ${ins.text}`;
    default:
      return ` ${ins.name} ${expand(ins.text)}`;
  }
}

/** Go's %q of a string slice: `["a" "b"]`. */
function goQuoted(list: string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(" ")}]`;
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return `/${out.join("/")}`;
}

function unquote(v: string): string {
  return /^(["']).*\1$/s.test(v) ? v.slice(1, -1).replace(/\\(.)/g, "$1") : v;
}

/** `K=V K2="v 2"`, or the old `K V` form (one pair, the rest of the line its value). */
export function keyValuePairs(text: string, ins: Instruction): [string, string][] {
  const pairs = [...text.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|(?:\\.|\S)*)/g)].map(
    (m) => [unquote(m[1]!), unquote(m[2]!)] as [string, string],
  );
  if (pairs.length) return pairs;
  const m = /^(\S+)\s+([\s\S]+)$/.exec(text);
  if (!m) throw new DockerfileError(ins.line, `${ins.name} names can not be blank`);
  return [[m[1]!, m[2]!]];
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
