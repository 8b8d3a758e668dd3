/**
 * The classic builder: a Dockerfile run step by step, each step a new image. RUN runs in a
 * container of the engine on the previous step's image and its diff becomes a layer; COPY and
 * ADD write into a created container's filesystem and commit it the same way; the other
 * instructions change the image config only. Only the stages the target needs are built.
 */
import { chown as chownFile, cp, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { withContainerRoot } from "../engine/archive.js";
import { createContainer } from "../engine/container-create.js";
import { removeContainer } from "../engine/container-remove.js";
import { startContainer } from "../engine/container-start.js";
import type { Engine } from "../engine/engine.js";
import { InvalidArgument } from "../errors.js";
import { commitSnapshot, configStep } from "../image/commit.js";
import type { ContainerConfig } from "../image/manifest.js";
import { parseDuration } from "../util/units.js";
import { checkFlags, DockerfileError, type Instruction, parseDockerfile, substitute } from "./dockerfile.js";
import { DockerIgnore } from "./dockerignore.js";

export interface BuildOptions {
  /** The extracted build context. */
  context: string;
  dockerfile?: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
}

interface Stage {
  name?: string;
  index: number;
  from: Instruction;
  steps: Instruction[];
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];
const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Builds and returns the image id; `say` receives docker's progress lines ("Step 1/4 : FROM x"). */
export async function build(engine: Engine, o: BuildOptions, say: (line: string) => void): Promise<string> {
  const dockerfilePath = join(o.context, o.dockerfile ?? "Dockerfile");
  let source: string;
  try {
    source = await readFile(dockerfilePath, "utf8");
  } catch {
    throw new InvalidArgument(`Cannot locate specified Dockerfile: ${o.dockerfile ?? "Dockerfile"}`);
  }
  const df = parseDockerfile(source);
  const ignore = new DockerIgnore(await readFile(join(o.context, ".dockerignore"), "utf8").catch(() => ""));
  // ARGs before the first FROM are global: usable in FROM lines.
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of df.instructions) {
    checkFlags(ins);
    if (ins.name === "FROM") {
      const m = /^(\S+)(?:\s+[Aa][Ss]\s+(\S+))?$/.exec(ins.text);
      if (!m) throw new DockerfileError(ins.line, `FROM requires either one or three arguments`);
      stages.push({
        ...(m[2] ? { name: m[2].toLowerCase() } : {}),
        index: stages.length,
        from: ins,
        steps: [],
      });
    } else if (!stages.length) {
      if (ins.name !== "ARG") throw new DockerfileError(ins.line, "no build stage in current context");
      const [k, v] = splitKeyValue(ins.text);
      globalArgs.set(k, o.buildArgs[k] ?? v ?? "");
    } else stages.at(-1)!.steps.push(ins);
  }
  if (!stages.length) throw new DockerfileError(1, "file with no instructions");
  const target = o.target?.toLowerCase();
  const lastIndex = target ? stages.findIndex((s) => s.name === target) : stages.length - 1;
  if (lastIndex < 0) throw new InvalidArgument(`failed to reach build target ${o.target} in Dockerfile`);
  const total = stages.slice(0, lastIndex + 1).reduce((n, s) => n + 1 + s.steps.length, 0);
  let step = 0;
  const built = new Map<number, string>();
  const stageOf = (ref: string): Stage | undefined =>
    stages.find((s) => s.name === ref.toLowerCase()) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined);

  for (const stage of stages.slice(0, lastIndex + 1)) {
    step++;
    const fromRef = substitute(stage.from.text.split(/\s+/)[0]!, globalArgs, df.escape, stage.from.line);
    say(`Step ${step}/${total} : FROM ${stage.from.text}\n`);
    const base = stageOf(fromRef);
    let imageId: string;
    if (base) imageId = built.get(base.index)!;
    else if (fromRef === "scratch") imageId = await configStep(engine.images, undefined, {}, "");
    else {
      try {
        imageId = engine.images.resolve(fromRef).id;
      } catch {
        say(`Pulling ${fromRef}\n`);
        imageId = (await engine.images.pull(fromRef)).id;
      }
    }
    say(` ---> ${imageId.slice(7, 19)}\n`);
    let config: ContainerConfig = {
      ...((await engine.images.config(engine.images.resolve(imageId))).config ?? {}),
    };
    const args = new Map<string, string>();
    const vars = () => {
      const m = new Map(args);
      for (const e of config.Env ?? []) m.set(e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1));
      return m;
    };
    const expand = (ins: Instruction, text = ins.text) => substitute(text, vars(), df.escape, ins.line);

    for (const ins of stage.steps) {
      step++;
      say(`Step ${step}/${total} : ${ins.name} ${ins.text}\n`);
      const update = (changes: ContainerConfig) => {
        config = { ...config, ...changes };
      };
      switch (ins.name) {
        case "ARG": {
          const [k, v] = splitKeyValue(expand(ins));
          args.set(k, o.buildArgs[k] ?? globalArgs.get(k) ?? v ?? "");
          continue; // no image of its own, as docker's classic builder
        }
        case "ENV": {
          const env = [...(config.Env ?? [])];
          for (const [k, v] of keyValuePairs(expand(ins), ins)) {
            const i = env.findIndex((e) => e.startsWith(`${k}=`));
            if (i >= 0) env[i] = `${k}=${v}`;
            else env.push(`${k}=${v}`);
          }
          update({ Env: env });
          break;
        }
        case "LABEL":
          update({ Labels: { ...config.Labels, ...Object.fromEntries(keyValuePairs(expand(ins), ins)) } });
          break;
        case "MAINTAINER":
          break;
        case "EXPOSE": {
          const ports = { ...config.ExposedPorts };
          for (const p of expand(ins).split(/\s+/)) ports[p.includes("/") ? p : `${p}/tcp`] = {};
          update({ ExposedPorts: ports });
          break;
        }
        case "WORKDIR": {
          const dir = posix.resolve(config.WorkingDir || "/", expand(ins));
          update({ WorkingDir: dir });
          break;
        }
        case "USER":
          update({ User: expand(ins) });
          break;
        case "CMD":
        case "ENTRYPOINT": {
          const argv = ins.json ?? [...(config.Shell ?? DEFAULT_SHELL), ins.text];
          update(ins.name === "CMD" ? { Cmd: argv } : { Entrypoint: argv });
          break;
        }
        case "VOLUME": {
          const vols = { ...config.Volumes };
          for (const v of ins.json ?? expand(ins).split(/\s+/)) vols[v] = {};
          update({ Volumes: vols });
          break;
        }
        case "STOPSIGNAL":
          update({ StopSignal: expand(ins) });
          break;
        case "SHELL":
          if (!ins.json)
            throw new DockerfileError(ins.line, "SHELL requires the arguments to be in JSON form");
          update({ Shell: ins.json });
          break;
        case "ONBUILD":
          update({ OnBuild: [...(config.OnBuild ?? []), ins.text] });
          break;
        case "HEALTHCHECK":
          update({ Healthcheck: healthcheck(ins) });
          break;
        case "RUN": {
          const argv = ins.json ?? [...(config.Shell ?? DEFAULT_SHELL), runScript(ins)];
          imageId = await runStep(
            engine,
            imageId,
            config,
            argv,
            [...args].map(([k, v]) => `${k}=${v}`),
            say,
            ins,
          );
          say(` ---> ${imageId.slice(7, 19)}\n`);
          continue;
        }
        case "COPY":
        case "ADD": {
          imageId = await copyStep(engine, imageId, config, ins, expand(ins), o.context, ignore, (ref) => {
            const s = stageOf(ref);
            if (s && !built.has(s.index))
              throw new DockerfileError(ins.line, `stage ${ref} is not built before this one`);
            return s ? built.get(s.index)! : engine.images.resolve(ref).id;
          });
          say(` ---> ${imageId.slice(7, 19)}\n`);
          continue;
        }
        default:
          throw new DockerfileError(ins.line, `${ins.name} is not supported by this builder`);
      }
      imageId = await configStep(
        engine.images,
        imageId,
        config,
        `/bin/sh -c #(nop)  ${ins.name} ${ins.text}`,
      );
      say(` ---> ${imageId.slice(7, 19)}\n`);
    }
    built.set(stage.index, imageId);
  }
  let finalId = built.get(lastIndex)!;
  if (Object.keys(o.labels).length) {
    const image = engine.images.resolve(finalId);
    const c = (await engine.images.config(image)).config ?? {};
    finalId = await configStep(
      engine.images,
      finalId,
      { ...c, Labels: { ...c.Labels, ...o.labels } },
      "LABEL",
    );
  }
  for (const tag of o.tags) {
    await engine.images.tag(finalId, tag);
    say(`Successfully tagged ${tag}\n`);
  }
  say(`Successfully built ${finalId.slice(7, 19)}\n`);
  return finalId;
}

/**
 * The shell script of a RUN: its text, or with heredocs, as BuildKit runs them: `RUN <<EOF` alone
 * runs the heredoc as the script; otherwise the heredocs follow the command line, for the shell
 * to feed them where the command says.
 */
function runScript(ins: Instruction): string {
  if (!ins.heredocs.length) return ins.text;
  if (/^(<<-?(["']?)[A-Za-z_][A-Za-z0-9_]*\2\s*)+$/.test(ins.text))
    return ins.heredocs.map((h) => h.content).join("");
  return `${ins.text}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join("")}`;
}

function splitKeyValue(text: string): [string, string | undefined] {
  const eq = text.indexOf("=");
  return eq < 0 ? [text.trim(), undefined] : [text.slice(0, eq).trim(), unquote(text.slice(eq + 1).trim())];
}

function unquote(v: string): string {
  return /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
}

/** `K=V K2="v 2"` (or the old `K V` form). */
function keyValuePairs(text: string, ins: Instruction): [string, string][] {
  const pairs = [...text.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)/g)].map(
    (m) => [m[1]!, unquote(m[2]!)] as [string, string],
  );
  if (pairs.length) return pairs;
  const m = /^(\S+)\s+([\s\S]+)$/.exec(text);
  if (!m) throw new DockerfileError(ins.line, `${ins.name} names can not be blank`);
  return [[m[1]!, m[2]!]];
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
  ] as const) {
    const v = ins.flags[flag]?.[0];
    if (!v) continue;
    try {
      durations[key] = parseDuration(v, `--${flag}`);
    } catch (err) {
      throw new DockerfileError(ins.line, (err as Error).message);
    }
  }
  return {
    Test: test,
    ...durations,
    ...(ins.flags["retries"] ? { Retries: Number(ins.flags["retries"][0]) } : {}),
  };
}

/** A container on `imageId` running `argv`; its output is relayed; a failure ends the build. */
async function runStep(
  engine: Engine,
  imageId: string,
  config: ContainerConfig,
  argv: string[],
  buildArgs: string[],
  say: (line: string) => void,
  ins: Instruction,
): Promise<string> {
  const { Id } = await createContainer(engine, {
    Image: imageId,
    Cmd: argv,
    Entrypoint: [""],
    Env: [...(config.Env ?? [DEFAULT_PATH]), ...buildArgs],
    WorkingDir: config.WorkingDir ?? "",
    User: config.User ?? "",
    HostConfig: { NetworkMode: ins.flags["network"]?.[0] === "none" ? "none" : "default" } as never,
  });
  const record = engine.store.get(Id);
  try {
    const exit = new Promise<number>((resolve) => {
      const off = engine.events.subscribe((e) => {
        if (e.Actor.ID === Id && e.Action === "die") {
          off();
          resolve(Number(e.Actor.Attributes["exitCode"] ?? 0));
        }
      });
    });
    await engine.lock(Id, () => startContainer(engine, record));
    const code = await exit;
    for (const line of (await readFile(record.LogPath, "utf8").catch(() => "")).split("\n").filter(Boolean)) {
      try {
        say((JSON.parse(line) as { log: string }).log);
      } catch {}
    }
    if (code !== 0)
      throw new DockerfileError(
        ins.line,
        `The command '${argv.join(" ")}' returned a non-zero code: ${code}`,
      );
    const image = await commitSnapshot(engine.images, Id, imageId, {
      config,
      createdBy: `${ins.json ? `RUN ${JSON.stringify(ins.json)}` : `/bin/sh -c ${ins.text}`}`,
    });
    return image.id;
  } finally {
    await engine
      .lock(Id, () => removeContainer(engine, engine.store.get(Id), { force: true, volumes: true }))
      .catch(() => {});
  }
}

/** COPY/ADD: files of the context (or of another stage's image) into a new layer. */
async function copyStep(
  engine: Engine,
  imageId: string,
  config: ContainerConfig,
  ins: Instruction,
  text: string,
  context: string,
  ignore: DockerIgnore,
  imageOf: (ref: string) => string,
): Promise<string> {
  const parts = ins.json ?? text.split(/\s+/);
  if (parts.length < 2 && !ins.heredocs.length)
    throw new DockerfileError(ins.line, `${ins.name} requires at least two arguments`);
  const dest = parts.at(-1)!;
  const sources = parts.slice(0, -1);
  const chown = ins.flags["chown"]?.[0];
  const from = ins.flags["from"]?.[0];
  const { Id } = await createContainer(engine, {
    Image: imageId,
    Cmd: ["true"],
    HostConfig: { NetworkMode: "none" } as never,
  });
  const record = engine.store.get(Id);
  try {
    const copyInto = async (root: string, srcRoot: string) => {
      const target = posix.resolve(config.WorkingDir || "/", dest);
      // A directory destination: several sources, a trailing slash, "." or "..", or one that exists.
      const destIsDir =
        sources.length > 1 ||
        dest.endsWith("/") ||
        dest === "." ||
        dest === ".." ||
        (await lstat(join(root, target)).then(
          (st) => st.isDirectory(),
          () => false,
        ));
      const many = destIsDir;
      for (const src of sources) {
        if (src.startsWith("<<")) continue;
        if (/^https?:\/\//.test(src))
          throw new DockerfileError(ins.line, "ADD from a URL is not supported by this builder yet");
        const rel = posix.normalize(src).replace(/^(\.\.\/)+|^\//g, "");
        if (!from && ignore.ignores(rel))
          throw new DockerfileError(
            ins.line,
            `${ins.name} failed: file not found in build context or excluded by .dockerignore: ${src}`,
          );
        const host = join(srcRoot, rel);
        const st = await lstat(host).catch(() => undefined);
        if (!st)
          throw new DockerfileError(
            ins.line,
            `${ins.name} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`,
          );
        const to = join(root, st.isDirectory() || many ? target : posix.dirname(target));
        await mkdir(to, { recursive: true });
        if (st.isDirectory()) {
          for (const entry of await readdir(host))
            if (from || !ignore.ignores(posix.join(rel, entry)))
              await cp(join(host, entry), join(to, entry), {
                recursive: true,
                verbatimSymlinks: true,
                preserveTimestamps: true,
              });
        } else
          await cp(host, many ? join(to, posix.basename(rel)) : join(root, target), {
            verbatimSymlinks: true,
            preserveTimestamps: true,
          });
      }
      for (const h of ins.heredocs) {
        const file = join(
          root,
          posix.resolve(config.WorkingDir || "/", dest.endsWith("/") ? posix.join(dest, h.name) : dest),
        );
        await mkdir(posix.dirname(file), { recursive: true });
        await writeFile(file, h.content);
      }
      if (chown) {
        const [u, g = u] = chown.split(":");
        if (!/^\d+$/.test(u!) || !/^\d+$/.test(g!))
          throw new DockerfileError(ins.line, "--chown takes numeric uid:gid in this builder");
        for (const src of sources) {
          const p = join(
            root,
            posix.resolve(
              config.WorkingDir || "/",
              many ||
                (await lstat(join(srcRoot, src)).then(
                  (s) => s.isDirectory(),
                  () => false,
                ))
                ? posix.join(dest, posix.basename(src))
                : dest,
            ),
          );
          await chownFile(p, Number(u), Number(g)).catch(() => {});
        }
      }
    };
    await withContainerRoot(engine, record, async (root) => {
      if (from) {
        const fromId = imageOf(from);
        const { Id: fromContainer } = await createContainer(engine, {
          Image: fromId,
          Cmd: ["true"],
          HostConfig: { NetworkMode: "none" } as never,
        });
        try {
          await withContainerRoot(engine, engine.store.get(fromContainer), (fromRoot) =>
            copyInto(root, fromRoot),
          );
        } finally {
          await removeContainer(engine, engine.store.get(fromContainer), { force: true });
        }
      } else await copyInto(root, context);
    });
    const image = await commitSnapshot(engine.images, Id, imageId, {
      config,
      createdBy: `/bin/sh -c #(nop) ${ins.name} ${ins.text}`,
    });
    return image.id;
  } finally {
    await removeContainer(engine, engine.store.get(Id), { force: true }).catch(() => {});
  }
}
