/**
 * A Dockerfile's stages and how they depend on each other: a stage needs the stage it is FROM
 * and those its `COPY --from` and `RUN --mount=…,from=` name. Only the stages the target needs
 * are built, each as soon as what it needs is built, so independent stages run in parallel.
 * ARGs before the first FROM are global: they may be used in FROM lines and `--from` values,
 * and a stage sees one by declaring it again without a value.
 */
import { InvalidArgument } from "../errors.js";
import { hostPlatform } from "../image/platform.js";
import { checkFlags, type Dockerfile, DockerfileError, type Instruction, substitute } from "./dockerfile.js";

export interface Stage {
  /** Lower-cased `AS` name. */
  name?: string;
  index: number;
  from: Instruction;
  /** The FROM image after substitution: a reference, `scratch`, or a stage's name or index. */
  base: string;
  steps: Instruction[];
  /** Indexes of the stages this one needs built first. */
  needs: number[];
}

export interface StagePlan {
  stages: Stage[];
  /** The stages to build, in Dockerfile order; the last is the target. */
  build: Stage[];
  globalArgs: Map<string, string>;
}

/** The args BuildKit defines in the global scope without any ARG line. */
export function platformArgs(): Map<string, string> {
  const p = hostPlatform();
  const platform = `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
  const args = new Map<string, string>();
  for (const prefix of ["BUILD", "TARGET"]) {
    args.set(`${prefix}PLATFORM`, platform);
    args.set(`${prefix}OS`, p.os);
    args.set(`${prefix}ARCH`, p.architecture);
    args.set(`${prefix}VARIANT`, p.variant ?? "");
  }
  return args;
}

/** `K=V`, `K="v"` or `K` (no default): the name and its default. */
export function splitArg(text: string): [string, string | undefined] {
  const eq = text.indexOf("=");
  if (eq < 0) return [text.trim(), undefined];
  const v = text.slice(eq + 1).trim();
  return [text.slice(0, eq).trim(), /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v];
}

export function planStages(df: Dockerfile, buildArgs: Record<string, string>, target?: string): StagePlan {
  const globalArgs = platformArgs();
  const stages: Stage[] = [];
  for (const ins of df.instructions) {
    checkFlags(ins);
    if (ins.name === "FROM") {
      const m = /^(\S+)(?:\s+[Aa][Ss]\s+(\S+))?$/.exec(ins.text);
      if (!m) throw new DockerfileError(ins.line, "FROM requires either one or three arguments");
      const base = substitute(m[1]!, globalArgs, df.escape, ins.line);
      if (!base) throw new DockerfileError(ins.line, `base name (${m[1]}) should not be blank`);
      const platform = ins.flags["platform"]?.[0];
      const wanted = platform ? substitute(platform, globalArgs, df.escape, ins.line) : undefined;
      if (wanted && wanted !== globalArgs.get("BUILDPLATFORM"))
        throw new DockerfileError(
          ins.line,
          `FROM --platform=${wanted}: Berth builds for this host's platform only (${globalArgs.get("BUILDPLATFORM")})`,
        );
      const name = m[2]?.toLowerCase();
      if (name && stages.some((s) => s.name === name))
        throw new DockerfileError(ins.line, `duplicate stage name "${m[2]}"`);
      stages.push({ ...(name ? { name } : {}), index: stages.length, from: ins, base, steps: [], needs: [] });
    } else if (!stages.length) {
      if (ins.name !== "ARG") throw new DockerfileError(ins.line, "no build stage in current context");
      const [k, v] = splitArg(substitute(ins.text, globalArgs, df.escape, ins.line));
      globalArgs.set(k, buildArgs[k] ?? v ?? globalArgs.get(k) ?? "");
    } else stages.at(-1)!.steps.push(ins);
  }
  if (!stages.length) throw new DockerfileError(1, "file with no instructions");

  for (const stage of stages) {
    const earlier = (ref: string, ins: Instruction): number | undefined => {
      const found = stageByRef(stages, ref);
      if (found === undefined) return undefined;
      if (found.index >= stage.index)
        throw new DockerfileError(ins.line, `stage "${ref}" is not defined before this one`);
      return found.index;
    };
    const base = earlier(stage.base, stage.from);
    if (base !== undefined) stage.needs.push(base);
    for (const ins of stage.steps)
      for (const ref of stageRefs(ins, globalArgs, df.escape)) {
        const i = earlier(ref, ins);
        if (i !== undefined && !stage.needs.includes(i)) stage.needs.push(i);
      }
  }

  const last = target ? stages.find((s) => s.name === target.toLowerCase()) : stages.at(-1);
  if (!last) throw new InvalidArgument(`failed to reach build target ${target} in Dockerfile`);
  const wanted = new Set<number>();
  const visit = (s: Stage) => {
    if (wanted.has(s.index)) return;
    wanted.add(s.index);
    for (const n of s.needs) visit(stages[n]!);
  };
  visit(last);
  return { stages, build: stages.filter((s) => wanted.has(s.index)), globalArgs };
}

export function stageByRef(stages: Stage[], ref: string): Stage | undefined {
  const lower = ref.toLowerCase();
  return stages.find((s) => s.name === lower) ?? (/^\d+$/.test(ref) ? stages[Number(ref)] : undefined);
}

/** The `--from` values of a step (COPY --from, RUN --mount from=), substituted with the global args. */
export function stageRefs(ins: Instruction, globalArgs: Map<string, string>, escapeChar: string): string[] {
  const refs: string[] = [];
  if (ins.name === "COPY" && ins.flags["from"])
    refs.push(substitute(ins.flags["from"][0]!, globalArgs, escapeChar));
  if (ins.name === "RUN")
    for (const m of ins.flags["mount"] ?? []) {
      const from = /(?:^|,)from=([^,]+)/.exec(m)?.[1];
      if (from) refs.push(substitute(from, globalArgs, escapeChar));
    }
  return refs;
}
