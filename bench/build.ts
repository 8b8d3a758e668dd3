/**
 * Build benchmark: the same Dockerfiles built, in one run, by Berth (the berth CLI against its
 * daemon), docker's classic builder (DOCKER_BUILDKIT=0, the docker CLI against a private dockerd)
 * and `buildah bud`, all FROM the same busybox image imported into each, with no network:
 *  - cold build: Berth after `builder prune` (its build cache empty, the base image kept). The
 *    classic builder's cache is its images, which `builder prune` does not touch, and buildah's
 *    is the same, so they build with --no-cache; Berth with --no-cache is a row of its own for
 *    the like-for-like comparison;
 *  - unchanged rebuild: the same command again, every step cached, end to end (CLI included);
 *    each CLI's `version` (start-up and one API call) is shown beside it as its floor.
 * BENCH_BUILD_RUNS repetitions (default 7), interleaved, medians.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { busyboxRootfs } from "../test/helpers/busybox.js";
import { BERTH } from "../test/helpers/daemon.js";
import { type Engines, startEngines, stopEngines } from "./engine.js";
import { runScenario, type Scenario, timeCommand, unmountUnder, type VariantResult } from "./harness.js";

const RUNS = Number(process.env["BENCH_BUILD_RUNS"] || 7);

/** A build context: its files, the Dockerfile among them. */
interface Project {
  name: string;
  files: Record<string, string>;
}

const SOURCES = {
  "src/main.c": '#include "util.h"\nint main(void) { return greet("berth"); }\n',
  "src/util.c":
    '#include <stdio.h>\n#include "util.h"\nint greet(const char *n) { return printf("hi %s\\n", n) < 0; }\n',
  "src/util.h": "int greet(const char *name);\n",
  Makefile: "app: src/main.c src/util.c\n\tcc -o $@ $^\n",
};

const PROJECTS: Project[] = [
  {
    name: "two-stage",
    files: {
      ...SOURCES,
      Dockerfile: `FROM busybox AS build
WORKDIR /src
COPY Makefile src/ ./
RUN mkdir -p out && for f in *.c; do tr a-z A-Z < "$f" > "out/\${f%.c}.o"; done
RUN cat out/*.o > out/app && chmod 755 out/app
RUN cd out && sha256sum * > SHA256SUMS
FROM busybox
COPY --from=build /src/out/ /app/
CMD ["cat", "/app/SHA256SUMS"]
`,
    },
  },
  {
    name: "ten-step",
    files: {
      "app.ini": "[server]\nport = 8080\nworkers = 4\n",
      "scripts/setup.sh": '#!/bin/sh\nset -e\nmkdir -p data logs\necho "$APP_VERSION" > VERSION\n',
      "scripts/start.sh": '#!/bin/sh\nexec httpd -f -p 8080 -h "$APP_HOME/data"\n',
      Dockerfile: `FROM busybox
ARG VERSION=1.4.2
ENV APP_HOME=/opt/app APP_VERSION=$VERSION
LABEL org.opencontainers.image.title=bench org.opencontainers.image.version=$VERSION
WORKDIR $APP_HOME
COPY app.ini ./
COPY scripts/ ./scripts/
RUN chmod 755 scripts/*.sh && ./scripts/setup.sh
RUN echo "built $(date -u +%Y-%m-%d)" > data/index.html
ENV PATH=$APP_HOME/scripts:$PATH
EXPOSE 8080
CMD ["start.sh"]
`,
    },
  },
];

/** The number of instructions (FROM included), as the builders count their steps. */
function instructions(p: Project): number {
  return p.files["Dockerfile"]!.split("\n").filter((l) => /^[A-Z]+\s/.test(l)).length;
}

function writeContext(p: Project): string {
  const dir = mkdtempSync(join(tmpdir(), `bench-build-${p.name}-`));
  for (const [path, text] of Object.entries(p.files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

/** One builder as the benchmark drives it: every call times the whole CLI command (ms). */
interface Builder {
  name: string;
  /** Why it does not build here; undefined when it does. */
  unavailable?: string;
  build(context: string, tag: string, noCache: boolean): number;
  /** `version`: the CLI's start-up and one API call. */
  version?(): number;
  /** Empties the build cache, the base image kept. */
  prune?(): void;
}

function berthBuilder(e: Engines): Builder {
  const cli = [BERTH, "-H", `unix://${e.berth.socket}`];
  return {
    name: "berth",
    build: (context, tag, noCache) =>
      timeCommand(process.execPath, [
        ...cli,
        "build",
        "--network",
        "none",
        "-t",
        tag,
        ...(noCache ? ["--no-cache"] : []),
        context,
      ]),
    version: () => timeCommand(process.execPath, [...cli, "version"]),
    prune: () => void timeCommand(process.execPath, [...cli, "builder", "prune", "-f"]),
  };
}

function dockerBuilder(e: Engines): Builder {
  if (!e.dockerd)
    return { name: "docker", unavailable: "dockerd is not installed or does not start here", build: () => 0 };
  const cli = ["-H", `unix://${e.dockerd.socket}`];
  // The classic builder; dockerd runs with --bridge=none, so RUN steps get no network either.
  const env = { ...process.env, DOCKER_BUILDKIT: "0" };
  return {
    name: "docker",
    build: (context, tag, noCache) =>
      timeCommand(
        "docker",
        [...cli, "build", "--network", "none", "-t", tag, ...(noCache ? ["--no-cache"] : []), context],
        { env },
      ),
    version: () => timeCommand("docker", [...cli, "version"]),
  };
}

/**
 * buildah with private storage (overlay) under a temporary directory and busybox committed
 * from the same rootfs as the engines' (named docker.io/library/busybox, which `FROM busybox`
 * resolves to). --layers keeps each step's image: buildah's build cache, off by default.
 */
function startBuildah(): { builder: Builder; stop: () => void } {
  const name = "buildah";
  if (spawnSync("buildah", ["--version"]).error)
    return { builder: { name, unavailable: "not installed", build: () => 0 }, stop: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "bench-buildah-"));
  const storage = ["--root", join(dir, "root"), "--runroot", join(dir, "run"), "--storage-driver", "overlay"];
  const buildah = (args: string[]) => spawnSync("buildah", [...storage, ...args], { encoding: "utf8" });
  const stop = () => {
    buildah(["rm", "--all"]);
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  const bud = (context: string, tag: string, noCache: boolean) => [
    "bud",
    "--pull=never",
    "--layers",
    "--network",
    "none",
    "-q",
    "-t",
    tag,
    ...(noCache ? ["--no-cache"] : []),
    context,
  ];
  // Its first error line: warnings may come before it.
  const failure = (r: ReturnType<typeof buildah>) => {
    if (r.status === 0) return undefined;
    const lines = (r.stderr.trim() || String(r.error ?? `exit ${r.status}`)).split("\n");
    return `does not run here: ${lines.find((l) => /error/i.test(l)) ?? lines[0]}`;
  };
  const from = buildah(["from", "scratch"]);
  const container = from.stdout.trim();
  let unavailable = failure(from);
  for (const step of [
    ["add", container, busyboxRootfs(), "/"],
    ["config", "--cmd", "sh", container],
    ["commit", "-q", container, "busybox:latest"],
  ])
    unavailable ??= failure(buildah(step));
  buildah(["rm", container]);
  if (!unavailable) {
    // Whether it can run a RUN step here at all (runc, cgroups), before it is measured.
    const probe = writeContext({ name: "probe", files: { Dockerfile: "FROM busybox\nRUN true\n" } });
    unavailable = failure(buildah(bud(probe, "bench/probe", true)));
    rmSync(probe, { recursive: true, force: true });
  }
  return {
    builder: {
      name,
      unavailable,
      build: (context, tag, noCache) => timeCommand("buildah", [...storage, ...bud(context, tag, noCache)]),
    },
    stop,
  };
}

/** What one project's table shows: a row per measurement, a column per builder. */
interface Rows {
  cold: VariantResult[];
  coldNoCache: VariantResult[];
  rebuild: VariantResult[];
  version: VariantResult[];
  /** Node's own start-up, the part of berth's floor that is not Berth's. */
  node: VariantResult;
}

async function measure(p: Project, builders: Builder[]): Promise<Rows> {
  const context = writeContext(p);
  const tag = `bench/${p.name}`;
  const available = (b: Builder) => () => b.unavailable;
  const scenario = (name: string, variants: Scenario["variants"]): Scenario => ({
    name: `${p.name} ${name}`,
    description: "",
    baseline: "docker",
    repetitions: RUNS,
    variants,
  });
  try {
    const cold = await runScenario(
      scenario(
        "cold",
        builders.flatMap((b) =>
          b.prune
            ? [
                {
                  name: b.name,
                  setup: available(b),
                  run: () => {
                    b.prune!();
                    return b.build(context, tag, false);
                  },
                },
                { name: `${b.name} --no-cache`, setup: available(b), run: () => b.build(context, tag, true) },
              ]
            : [{ name: b.name, setup: available(b), run: () => b.build(context, tag, true) }],
        ),
      ),
    );
    // The uncounted first round fills the cache of every builder.
    const rebuild = await runScenario(
      scenario("rebuild", [
        ...builders.flatMap((b) => [
          { name: b.name, setup: available(b), run: () => b.build(context, tag, false) },
          ...(b.version ? [{ name: `${b.name} version`, setup: available(b), run: () => b.version!() }] : []),
        ]),
        { name: "node", run: () => timeCommand(process.execPath, ["-e", ""]) },
      ]),
    );
    const result = (results: VariantResult[], name: string) =>
      results.find((r) => r.name === name) ?? { name, samples: [] };
    return {
      cold: builders.map((b) => result(cold, b.name)),
      // Those without a prune built with --no-cache already.
      coldNoCache: builders.map((b) => result(cold, b.prune ? `${b.name} --no-cache` : b.name)),
      rebuild: builders.map((b) => result(rebuild, b.name)),
      version: builders.map((b) => result(rebuild, `${b.name} version`)),
      node: result(rebuild, "node"),
    };
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

const cell = (r: VariantResult) =>
  r.median === undefined ? "—" : `${r.median.toFixed(0)} (${r.min!.toFixed(0)}–${r.max!.toFixed(0)})`;

function ratio(results: VariantResult[]): string {
  const [berth, docker] = results;
  return berth?.median && docker?.median ? (berth.median / docker.median).toFixed(2) : "—";
}

function table(p: Project, builders: Builder[], rows: Rows): string {
  const lines = [
    `\n### ${p.name} Dockerfile (${instructions(p)} instructions): ms, median (min–max) of ${RUNS}\n`,
    `| | ${builders.map((b) => b.name).join(" | ")} | berth ÷ docker |`,
    `|---|${builders.map(() => "--:|").join("")}--:|`,
  ];
  const row = (label: string, results: VariantResult[]) =>
    lines.push(`| ${label} | ${results.map(cell).join(" | ")} | ${ratio(results)} |`);
  row("cold build (berth: after `builder prune`; others: `--no-cache`)", rows.cold);
  row("cold build, all `--no-cache`", rows.coldNoCache);
  row("unchanged rebuild", rows.rebuild);
  row("floor: `version` (CLI start-up + one API call)", rows.version);
  lines.push(`\nNode's own start-up (\`node -e ""\`), in berth's floor: ${cell(rows.node)} ms`);
  return lines.join("\n");
}

export async function buildBench(): Promise<void> {
  const engines = await startEngines();
  let buildah: ReturnType<typeof startBuildah> | undefined;
  try {
    buildah = startBuildah();
    const builders = [berthBuilder(engines), dockerBuilder(engines), buildah.builder];
    process.stdout.write(
      "\n## build: cold build and unchanged rebuild, berth vs docker's classic builder vs buildah bud\n",
    );
    const unavailable = new Map<string, string>();
    for (const p of PROJECTS) {
      const rows = await measure(p, builders);
      process.stdout.write(`${table(p, builders, rows)}\n`);
      for (const r of Object.values(rows).flat()) if (r.unavailable) unavailable.set(r.name, r.unavailable);
    }
    for (const [name, reason] of unavailable) process.stdout.write(`- ${name}: ${reason}\n`);
  } finally {
    await stopEngines(engines);
    buildah?.stop();
  }
}
