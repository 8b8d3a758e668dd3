/**
 * The builder: a Dockerfile run step by step, each step an image. RUN runs in a container of
 * the engine on the previous step's image and its diff becomes a layer; COPY and ADD write into
 * a created container's filesystem and commit it the same way; the other instructions change
 * the image config only. Every step goes through the build cache first (cache.ts), so an
 * unchanged rebuild runs nothing. Only the stages the target needs are built, independent
 * ones at the same time. The progress lines are the classic builder's ("Step 2/5 : RUN make",
 * " ---> Using cache"), with each step's time.
 */
import type { Engine } from "../engine/engine.js";
import { InvalidArgument } from "../errors.js";
import { configStep, scratchImage } from "../image/commit.js";
import type { ImageRecord } from "../image/image-store.js";
import type { ContainerConfig } from "../image/manifest.js";
import { shortImageId } from "../image/service.js";
import { DEFAULT_PATH_ENV } from "../oci/default-spec.js";
import { readFileInTree } from "../snapshot/tree-reader.js";
import { type BuildCache, stepKey } from "./cache.js";
import { configChange, shellOf } from "./config-instructions.js";
import { checksumSources, matchSources } from "./copy-sources.js";
import { copyStep } from "./copy-step.js";
import { DockerfileError, type Instruction, parseDockerfile, substitute } from "./dockerfile.js";
import { DockerIgnore } from "./dockerignore.js";
import { withImageTrees } from "./image-trees.js";
import { parseRunMount } from "./run-mounts.js";
import { runStep } from "./run-step.js";
import { planStages, type Stage, type StagePlan, splitArg, stageByRef } from "./stages.js";

export interface BuildOptions {
  /** The extracted build context (the builder removes what .dockerignore excludes from it). */
  context: string;
  dockerfile?: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  labels: Record<string, string>;
  /** Run every step, using no cache entry (new entries are still written). */
  noCache?: boolean;
  /** Pull the FROM images even when they are present. */
  pull?: boolean;
  /** The network RUN steps use unless they say `--network` (default: the default bridge). */
  network?: string;
  /** `--add-host` lines for RUN steps' /etc/hosts. */
  extraHosts?: string[];
  /**
   * `--cache-from`: the images whose steps the cache may give (with the steps that made them);
   * unset: any step of the cache.
   */
  cacheFrom?: string[];
  /** Called with the result before "Successfully built" (the API's aux message). */
  onImage?: (id: string) => void;
  cache: BuildCache;
}

/** Args that RUN sees when given with --build-arg, without an ARG line, and that stay out of history. */
const PROXY_ARGS = new Set(
  ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"].flatMap((a) => [a, a.toLowerCase()]),
);

interface StageState {
  image: ImageRecord;
  config: ContainerConfig;
  /** ARGs declared in the stage; undefined: declared without a value. */
  args: Map<string, string | undefined>;
  /** Whether the stage set CMD itself (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  stage: Stage;
}

/**
 * The images named by `--cache-from` (names that resolve to nothing are passed over, as docker
 * does) and every image their build steps went through, by the cache's parent links.
 */
function cacheSources(engine: Engine, cache: BuildCache, names: string[]): Set<string> {
  const parentOf = new Map(cache.all().map((e) => [e.image.id, e.parent]));
  const sources = new Set<string>();
  for (const name of names) {
    let id: string | undefined;
    try {
      id = engine.images.resolve(name).id;
    } catch {
      continue;
    }
    for (; id && !sources.has(id); id = parentOf.get(id)) sources.add(id);
  }
  return sources;
}

/** Builds and returns the image id; `say` receives the progress text. */
export async function build(engine: Engine, o: BuildOptions, say: (text: string) => void): Promise<string> {
  const name = o.dockerfile ?? "Dockerfile";
  // Both files are read inside the context: a symlink or a ".." in the name stays in it.
  const source = await readFileInTree(o.context, name);
  if (!source) throw new InvalidArgument(`Cannot locate specified Dockerfile: ${name}`);
  const df = parseDockerfile(source.toString());
  const plan = planStages(df, o.buildArgs, o.target);
  const ignore = new DockerIgnore((await readFileInTree(o.context, ".dockerignore"))?.toString() ?? "");
  await ignore.prune(o.context);
  return new Build(engine, o, say, plan, df.escape).run();
}

class Build {
  private readonly before: Set<string>;
  /** Records this build put in the image store that only it needs: removed at the end. */
  private readonly transient = new Set<string>();
  private readonly results = new Map<number, Promise<StageState>>();
  private readonly numbers = new Map<Instruction, number>();
  private readonly total: number;
  private readonly usedArgs = new Set<string>();
  /** The first failure of any stage. */
  private failed?: Error;
  /** With --cache-from: the images the cache may give (theirs and their steps'). */
  private readonly cacheSources?: Set<string>;

  constructor(
    private readonly engine: Engine,
    private readonly o: BuildOptions,
    private readonly say: (text: string) => void,
    private readonly plan: StagePlan,
    private readonly escapeChar: string,
  ) {
    this.before = new Set(engine.images.images.all().map((i) => i.id));
    if (o.cacheFrom?.length) this.cacheSources = cacheSources(engine, o.cache, o.cacheFrom);
    let n = 0;
    for (const s of plan.build) for (const ins of [s.from, ...s.steps]) this.numbers.set(ins, ++n);
    this.total = n;
  }

  async run(): Promise<string> {
    try {
      for (const s of this.plan.build) this.stage(s).catch(() => {}); // awaited below, in order
      let final = (await this.stage(this.plan.build.at(-1)!)).image;
      await Promise.all(this.plan.build.map((s) => this.stage(s)));
      if (Object.keys(this.o.labels).length) {
        // --label: one more step on the target, as docker's builder adds it.
        const last = await this.stage(this.plan.build.at(-1)!);
        const labels = Object.entries(this.o.labels);
        last.config = { ...last.config, Labels: { ...last.config.Labels, ...this.o.labels } };
        await this.configStep(
          last,
          ` LABEL ${labels.map(([k, v]) => `${k}=${v}`).join(" ")}`,
          "LABEL (--label)",
        );
        final = last.image;
      }
      await this.materialize(final);
      this.transient.delete(final.id);
      const unused = Object.keys(this.o.buildArgs).filter(
        (a) => !this.usedArgs.has(a) && !PROXY_ARGS.has(a) && !this.plan.globalArgs.has(a),
      );
      if (unused.length)
        this.say(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed\n`);
      // The tags are made first, so that a bad one fails the build; they are said last, as the
      // classic builder says them (clients read the last line for the tag).
      for (const tag of this.o.tags) await this.engine.images.tag(final.id, tag);
      this.o.onImage?.(final.id);
      this.say(`Successfully built ${shortImageId(final.id)}\n`);
      for (const tag of this.o.tags) this.say(`Successfully tagged ${tag}\n`);
      return final.id;
    } catch (err) {
      // Stages running beside the one that failed end first: nothing of the build outlives it.
      await Promise.allSettled(this.results.values());
      throw err;
    } finally {
      await this.dropTransient();
    }
  }

  private stage(s: Stage): Promise<StageState> {
    let p = this.results.get(s.index);
    if (!p) {
      p = (async () => {
        // What it needs first (all of them, so that a failure shows the first failing step).
        await Promise.all(s.needs.map((i) => this.stage(this.plan.stages[i]!)));
        return this.buildStage(s);
      })().catch((err: Error) => {
        this.failed ??= err;
        throw err;
      });
      this.results.set(s.index, p);
    }
    return p;
  }

  private header(ins: Instruction): void {
    const flags = Object.entries(ins.flags)
      .flatMap(([k, vs]) => vs.map((v) => `--${k}=${v} `))
      .join("");
    this.say(`Step ${this.numbers.get(ins) ?? "-"}/${this.total} : ${ins.name} ${flags}${ins.text}\n`);
  }

  private async buildStage(stage: Stage): Promise<StageState> {
    this.header(stage.from);
    const image = await this.baseImage(stage);
    this.say(` ---> ${shortImageId(image.id)}\n`);
    const base = (await this.engine.images.config(image)).config ?? {};
    const state: StageState = {
      image,
      // Docker's builder gives a base without PATH the default one.
      config: base.Env?.some((e) => e.startsWith("PATH="))
        ? { ...base }
        : { ...base, Env: [DEFAULT_PATH_ENV, ...(base.Env ?? [])] },
      args: new Map(),
      cmdSet: false,
      stage,
    };
    const triggers = state.config.OnBuild ?? [];
    if (triggers.length) {
      // The base image's ONBUILD triggers run first, and its children do not inherit them.
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? "s" : ""}\n`);
      const { instructions } = parseDockerfile(triggers.join("\n"));
      state.config = { ...state.config, OnBuild: null as never };
      for (const ins of instructions) {
        if (["ONBUILD", "FROM", "MAINTAINER"].includes(ins.name))
          throw new DockerfileError(stage.from.line, `${ins.name} isn't allowed as an ONBUILD trigger`);
        await this.step(state, { ...ins, line: stage.from.line });
      }
    }
    for (const ins of stage.steps) {
      // Another stage failed: this one stops at its next step rather than run on for nothing.
      if (this.failed) throw this.failed;
      this.header(ins);
      await this.step(state, ins);
    }
    return state;
  }

  private async baseImage(stage: Stage): Promise<ImageRecord> {
    const from = stageByRef(this.plan.stages, stage.base);
    if (from) return (await this.stage(from)).image;
    if (stage.base.toLowerCase() === "scratch") {
      const image = await scratchImage(this.engine.images);
      if (!this.before.has(image.id)) this.transient.add(image.id);
      return image;
    }
    return this.externalImage(stage.base);
  }

  /** An image by reference, pulled when missing (or always, with --pull). */
  private async externalImage(ref: string): Promise<ImageRecord> {
    const present = this.engine.images.images.find(ref);
    if (present && !this.o.pull) return present;
    this.say(`Pulling ${ref}\n`);
    try {
      return await this.engine.images.pull(ref);
    } catch (err) {
      if (present) {
        this.say(`Pull failed, using the local image: ${(err as Error).message}\n`);
        return present;
      }
      throw err;
    }
  }

  private vars(state: StageState): Map<string, string> {
    const m = new Map<string, string>();
    for (const [k, v] of state.args) if (v !== undefined) m.set(k, v);
    for (const e of state.config.Env ?? []) m.set(e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1));
    return m;
  }

  private expand(state: StageState, ins: Instruction, text: string): string {
    return substitute(text, this.vars(state), this.escapeChar, ins.line);
  }

  private async step(state: StageState, ins: Instruction): Promise<void> {
    const expand = (text: string) => this.expand(state, ins, text);
    const label = `[${state.stage.name ?? `stage-${state.stage.index}`}] ${ins.name} ${ins.text}`.slice(
      0,
      200,
    );
    switch (ins.name) {
      case "ARG": {
        const [k, v] = splitArg(expand(ins.text));
        this.usedArgs.add(k);
        const value = this.o.buildArgs[k] ?? v ?? this.plan.globalArgs.get(k);
        state.args.set(k, value);
        // An empty-layer history entry, as docker's builder makes; the value is in the key.
        await this.configStep(state, ` ARG ${k}${v !== undefined ? `=${v}` : ""}`, label, undefined, value);
        return;
      }
      case "RUN":
        state.image = await this.runInstruction(state, ins, label);
        return;
      case "COPY":
      case "ADD": {
        const from = ins.flags["from"]?.[0];
        const fromRef = from ? substitute(from, this.plan.globalArgs, this.escapeChar, ins.line) : undefined;
        const fromStage = fromRef ? stageByRef(this.plan.stages, fromRef) : undefined;
        const fromImage = fromRef
          ? fromStage
            ? (await this.stage(fromStage)).image
            : await this.externalImage(fromRef)
          : undefined;
        state.image = await copyStep(
          {
            engine: this.engine,
            parent: state.image,
            config: state.config,
            ins,
            expand,
            context: this.o.context,
            ...(fromImage ? { fromImage } : {}),
          },
          (key, make) => this.cached(key, label, make, state.image),
          (image) => this.materialize(image),
        );
        return;
      }
      default: {
        const change = configChange(ins, state.config, expand, state.cmdSet);
        if (ins.name === "CMD") state.cmdSet = true;
        state.config = { ...state.config, ...change.config };
        await this.configStep(state, change.history, label, change.author);
      }
    }
  }

  private async runInstruction(state: StageState, ins: Instruction, label: string): Promise<ImageRecord> {
    const argv = ins.json ?? [...shellOf(state.config), runScript(ins)];
    const envNames = new Set((state.config.Env ?? []).map((e) => e.slice(0, e.indexOf("="))));
    const args = [...state.args]
      .filter(([k, v]) => v !== undefined && !envNames.has(k))
      .map(([k, v]) => `${k}=${v}`)
      .sort();
    const proxies = Object.entries(this.o.buildArgs)
      .filter(([k]) => PROXY_ARGS.has(k) && !state.args.has(k))
      .map(([k, v]) => `${k}=${v}`);
    const env = [...args, ...proxies, ...(state.config.Env ?? [DEFAULT_PATH_ENV])];
    const mounts = (ins.flags["mount"] ?? []).map((m) =>
      parseRunMount(this.expand(state, ins, m), state.config.WorkingDir ?? "/", ins.line),
    );
    // The step's own --network, else the build's (checked by the API), else the default bridge.
    const network = ins.flags["network"]?.[0] ?? this.o.network ?? "default";
    if (ins.flags["network"] && !["none", "default", "host"].includes(network))
      throw new DockerfileError(ins.line, `unsupported network mode "${network}": use none, default or host`);
    // Bind mounts read files: their content is part of the key, as COPY's is.
    const trees = new Map<string, ImageRecord>();
    for (const m of mounts)
      if (m.type === "bind" && m.from) {
        const s = stageByRef(this.plan.stages, m.from);
        trees.set(m.from, s ? (await this.stage(s)).image : await this.externalImage(m.from));
      }
    const bindSums: string[] = [];
    for (const m of mounts)
      if (m.type === "bind")
        bindSums.push(
          m.from
            ? `${trees.get(m.from)!.id}:${m.source}`
            : await checksumSources(await matchSources(this.o.context, [m.source], ins)),
        );
    const createdBy = `${args.length ? `|${args.length} ${args.join(" ")} ` : ""}${argv.join(" ")}`;
    const parent = state.image;
    return this.cached(
      stepKey(parent.id, "RUN", createdBy, mounts, bindSums, network, state.config),
      label,
      async () => {
        await this.materialize(parent);
        const id = await withImageTrees(this.engine, trees, (roots) =>
          runStep(this.engine, {
            parent: parent.id,
            config: state.config,
            argv,
            env,
            mounts,
            network: network === "default" ? "bridge" : network,
            extraHosts: this.o.extraHosts ?? [],
            createdBy,
            ins,
            bindRoot: (from) => (from ? roots.get(from)! : this.o.context),
            cacheMountsDir: this.o.cache.mountsDir,
            say: this.say,
          }),
        );
        return this.engine.images.resolve(id);
      },
      parent,
    );
  }

  /** A step that changes only the config (and history): the stage's state becomes its image. */
  private async configStep(
    state: StageState,
    history: string,
    label: string,
    author?: string,
    argValue?: string,
  ): Promise<void> {
    const parent = state.image;
    const config = state.config;
    const createdBy = `${shellOf(config).join(" ")} #(nop) ${history}`;
    state.image = await this.cached(
      stepKey(parent.id, createdBy, author ?? null, argValue ?? null, config),
      label,
      () => configStep(this.engine.images, parent, config, createdBy, author),
      parent,
    );
  }

  /** A step through the cache: its entry when there is a usable one, otherwise `make` it. */
  private async cached(
    key: string,
    description: string,
    make: () => Promise<ImageRecord>,
    parent: ImageRecord,
  ): Promise<ImageRecord> {
    if (!this.o.noCache) {
      const hit = this.o.cache.get(key);
      if (
        hit &&
        (!this.cacheSources || this.cacheSources.has(hit.image.id)) &&
        (await this.engine.images.content.has(hit.image.config.digest))
      ) {
        this.say(` ---> Using cache\n ---> ${shortImageId(hit.image.id)}\n`);
        return hit.image;
      }
    }
    const started = performance.now();
    const image = await make();
    if (!this.before.has(image.id)) this.transient.add(image.id);
    const added = image.layers.length > parent.layers.length ? (image.layers.at(-1)?.unpackedSize ?? 0) : 0;
    await this.o.cache.put(key, image, description, added, parent.id);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    this.say(` ---> ${shortImageId(image.id)} (${seconds}s)\n`);
    return image;
  }

  /** Puts a cached image's record in the store for a container to use, for this build only. */
  private async materialize(image: ImageRecord): Promise<void> {
    const store = this.engine.images.images;
    if (store.get(image.id)) return;
    await store.lock.run(() => store.put(image));
    if (!this.before.has(image.id)) this.transient.add(image.id);
  }

  private async dropTransient(): Promise<void> {
    const store = this.engine.images.images;
    for (const id of this.transient)
      if (!this.engine.imageInUse(id) && store.refsOf(id).length === 0)
        await store.lock.run(() => store.deleteRecord(id)).catch(() => {});
  }
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
