/**
 * The image config Berth's builder produces, compared with what docker's classic builder
 * (`DOCKER_BUILDKIT=0 docker build`, a private dockerd) produces for the same Dockerfile on the
 * same base: every config field, the author, and the history (its entries and which of them
 * added a layer). Skipped where dockerd does not run.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { busyboxRootfs } from "../helpers/busybox.js";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { startDockerd, type TestDockerd } from "../helpers/dockerd.js";

const run = promisify(execFile);
const d = new DaemonFixture();
let dockerd: TestDockerd | undefined;
const ctx = mkdtempSync("/tmp/berth-build-compare-");

before(async () => {
  await d.start();
  dockerd = await startDockerd();
  const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 28 }).stdout;
  ok(d.berth(["import", "-c", 'CMD ["sh"]', "-", "compare-base:1"], { input: tar as unknown as string }));
  await dockerd?.docker(["import", "-c", 'CMD ["sh"]', "-", "compare-base:1"], tar);
});
after(async () => {
  await dockerd?.stop();
  await d.cleanup();
  rmSync(ctx, { recursive: true, force: true });
});

const DOCKERFILE = `ARG BASE=compare-base:1
FROM \${BASE} AS base
MAINTAINER someone@example.com
ARG VERSION=1.0
ENV APP_HOME=/opt/app \\
    APP_VERSION=\${VERSION} PLAIN="two words"
ENV LEGACY form with spaces
LABEL org.example.version=\${APP_VERSION} "quoted key"="quoted value"
EXPOSE 8080 9000-9001/udp
WORKDIR \${APP_HOME}
WORKDIR sub
COPY a.txt ./
RUN echo "$APP_VERSION" > version.txt
VOLUME ["/data", "/logs"]
USER 1000:1000
STOPSIGNAL SIGQUIT
SHELL ["/bin/sh", "-ec"]
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD test -f version.txt
ONBUILD RUN echo child
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo "$APP_HOME"
`;

interface Inspect {
  Author: string;
  Config: Record<string, unknown>;
}

test("the classic builder's config and history, field by field", async (t) => {
  if (!dockerd) {
    t.skip("dockerd does not run here");
    return;
  }
  writeFileSync(join(ctx, "Dockerfile"), DOCKERFILE);
  writeFileSync(join(ctx, "a.txt"), "a\n");
  ok(d.berth(["build", "--network", "none", "-t", "compared:1", ctx]));
  await run(
    "docker",
    ["-H", `unix://${dockerd.socket}`, "build", "--network", "none", "-t", "compared:1", ctx],
    {
      env: { ...process.env, DOCKER_BUILDKIT: "0" },
    },
  );
  const berth = (JSON.parse(ok(d.berth(["image", "inspect", "compared:1"])).stdout) as Inspect[])[0]!;
  const docker = (
    JSON.parse((await dockerd.docker(["image", "inspect", "compared:1"])).toString()) as Inspect[]
  )[0]!;
  // Fields of the config that the Dockerfile decides (docker also fills in a few fixed ones).
  for (const field of [
    "Env",
    "Cmd",
    "Entrypoint",
    "User",
    "WorkingDir",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Shell",
    "Healthcheck",
    "OnBuild",
  ])
    assert.deepEqual(berth.Config[field] ?? null, docker.Config[field] ?? null, `Config.${field}`);
  assert.equal(berth.Author, docker.Author);

  // History: newest first, each entry's command and whether it added a layer.
  const format = ["history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", "compared:1"];
  const rows = (text: string) =>
    text
      .trim()
      .split("\n")
      .slice(0, -1) // the imported base: its history is each importer's own
      // Each builder has its own checksum of copied files: the form is compared, not the digest.
      .map(
        (l) =>
          `${l.startsWith("0B\t") ? "empty" : "layer"} ${l.slice(l.indexOf("\t") + 1).replace(/:[0-9a-f]{64} /, ":<sha256> ")}`,
      );
  const berthHistory = rows(ok(d.berth(format)).stdout);
  const dockerHistory = rows((await dockerd.docker(format)).toString());
  assert.deepEqual(berthHistory, dockerHistory);
});
