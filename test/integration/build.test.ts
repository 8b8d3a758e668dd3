// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text, whose ${VAR} is the subject here
/**
 * Builds of real Dockerfiles by the daemon, through `berth build` and `docker build` (the classic
 * builder endpoint): multi-stage COPY --from, ARG/ENV, USER and WORKDIR, .dockerignore, heredocs,
 * the produced config, and broken Dockerfiles with their line numbers.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { builderFixture } from "../helpers/build-context.js";
import { ok } from "../helpers/daemon.js";

const { d, context } = builderFixture("build-ctx");

test("a multi-stage build with ARG, ENV, WORKDIR, USER, COPY --from, heredoc, .dockerignore", () => {
  const dir = context({
    Dockerfile: [
      "ARG BASE=busybox",
      "FROM ${BASE} AS build",
      "ARG GREETING=hello",
      "ENV NAME=world",
      "WORKDIR /src",
      "COPY app.txt ./",
      'RUN echo "$GREETING $NAME from $(cat app.txt)" > out.txt',
      "RUN <<EOF",
      "echo heredoc > /src/h.txt",
      "EOF",
      "FROM busybox",
      "LABEL purpose=test",
      "EXPOSE 8080",
      "COPY --from=build /src/out.txt /src/h.txt /app/",
      "COPY . /ctx/",
      "USER 1000:1000",
      "WORKDIR /app",
      'CMD ["cat", "out.txt", "h.txt"]',
    ].join("\n"),
    "app.txt": "the context",
    "secret.key": "do not ship",
    ".dockerignore": "secret.key\n",
  });
  const built = ok(d.berth(["build", "-t", "built:1", "--build-arg", "GREETING=ahoy", dir]));
  assert.match(built.stdout, /^Step 1\/\d+ : FROM \$\{BASE\} AS build$/m);
  assert.match(built.stdout, /Successfully tagged built:1/);
  assert.equal(
    ok(d.berth(["run", "--rm", "--network", "none", "built:1"])).stdout,
    "ahoy world from the context\nheredoc\n",
  );
  const config = JSON.parse(ok(d.berth(["inspect", "-f", "{{json .Config}}", "built:1"])).stdout) as {
    User: string;
    WorkingDir: string;
    Labels: Record<string, string>;
    ExposedPorts: Record<string, unknown>;
    Cmd: string[];
  };
  assert.equal(config.User, "1000:1000");
  assert.equal(config.WorkingDir, "/app");
  assert.equal(config.Labels["purpose"], "test");
  assert.ok("8080/tcp" in config.ExposedPorts);
  const listing = ok(d.berth(["run", "--rm", "--network", "none", "built:1", "ls", "/ctx"])).stdout;
  assert.match(listing, /app\.txt/);
  assert.doesNotMatch(listing, /secret\.key/, ".dockerignore keeps it out");
  ok(d.berth(["rmi", "built:1"]));
});

test("contexts from standard input: a lone Dockerfile, a compressed archive, -f - beside a directory", () => {
  ok(
    d.berth(["build", "-t", "stdin:1", "-"], {
      input: "FROM busybox\nRUN echo from-stdin > /f\nCMD cat /f\n",
    }),
  );
  assert.equal(ok(d.berth(["run", "--rm", "--network", "none", "stdin:1"])).stdout, "from-stdin\n");
  const dir = context({
    Dockerfile: "FROM busybox\nCOPY data.txt /\nCMD cat /data.txt\n",
    "data.txt": "archived\n",
  });
  const tgz = execFileSync("tar", ["-C", dir, "-czf", "-", "."]);
  ok(d.berth(["build", "-t", "stdin:2", "-"], { input: tgz as unknown as string }));
  assert.equal(ok(d.berth(["run", "--rm", "--network", "none", "stdin:2"])).stdout, "archived\n");
  ok(
    d.berth(["build", "-f", "-", "-t", "stdin:3", dir], {
      input: "FROM busybox\nCOPY data.txt /other.txt\nCMD cat /other.txt\n",
    }),
  );
  assert.equal(ok(d.berth(["run", "--rm", "--network", "none", "stdin:3"])).stdout, "archived\n");
  const both = d.berth(["build", "-f", "-", "-"], { input: "FROM busybox\n" });
  assert.notEqual(both.status, 0);
  assert.match(both.stderr, /can't use stdin for both build context and dockerfile/);
  ok(d.berth(["rmi", "stdin:1", "stdin:2", "stdin:3"]));
});

test("docker build (classic builder endpoint) against Berth", () => {
  const dir = context({ Dockerfile: "FROM busybox\nRUN echo built > /marker\nCMD cat /marker\n" });
  const r = ok(d.docker(["build", "-t", "from-docker:1", dir]));
  assert.match(r.stdout + r.stderr, /Successfully (built|tagged)/);
  assert.equal(ok(d.docker(["run", "--rm", "--network", "none", "from-docker:1"])).stdout, "built\n");
  ok(d.docker(["rmi", "from-docker:1"]));
});

test("broken Dockerfiles and failing steps: the line, the command, the exit code; nothing left", () => {
  const cases: [string, RegExp][] = [
    ["FROM busybox\nFROBNICATE now\n", /Dockerfile:2: unknown instruction: FROBNICATE/],
    ["FROM busybox\nRUN <<EOF\necho\n", /Dockerfile:2: unterminated heredoc EOF/],
    ["FROM busybox\nCOPY --frob=1 a b\n", /Dockerfile:2: unknown flag: --frob for COPY/],
    ["FROM busybox AS a\nCOPY --from=nowhere /x /y\n", /nowhere/],
    ["FROM busybox\nCOPY missing.txt /\n", /Dockerfile:2: COPY failed: file not found in build context/],
    ["FROM busybox\nRUN --mount=type=secret,id=x true\n", /Dockerfile:2: unsupported mount type "secret"/],
    ["FROM busybox\nRUN --mount=type=cache true\n", /Dockerfile:2: mount 'type=cache' has no target/],
    [
      "FROM busybox\nRUN --mount=type=cache,target=/c,sharing=bogus true\n",
      /Dockerfile:2: invalid sharing mode "bogus"/,
    ],
    ["FROM busybox\nRUN --network=bridge2 true\n", /Dockerfile:2: unsupported network mode "bridge2"/],
    ["FROM busybox\nCOPY --chmod=abc Dockerfile /x\n", /Dockerfile:2: invalid chmod parameter: abc/],
    [
      "FROM busybox\nCOPY --chown=nosuchuser Dockerfile /x\n",
      /Dockerfile:2: --chown=nosuchuser: unable to find user nosuchuser/,
    ],
    ["FROM busybox\nCOPY http://127.0.0.1:1/x /x\n", /Dockerfile:2: source can't be a URL for COPY/],
    [
      "FROM busybox\nCOPY Dockerfile Dockerfile /x\n",
      /Dockerfile:2: When using COPY with more than one source file/,
    ],
    ["FROM busybox\nONBUILD FROM busybox\n", /Dockerfile:2: FROM isn't allowed as an ONBUILD trigger/],
    ["FROM busybox AS a\nFROM busybox AS a\n", /Dockerfile:2: duplicate stage name "a"/],
    ["FROM busybox\nEXPOSE 99999\n", /Dockerfile:2: invalid port range: 99999/],
    ["FROM busybox\nHEALTHCHECK --retries=x CMD true\n", /Dockerfile:2: invalid value for --retries: x/],
    [
      "FROM busybox\nRUN exit 3\n",
      /Dockerfile:2: The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/,
    ],
  ];
  for (const [dockerfile, message] of cases) {
    const r = d.berth(["build", "-t", "broken:1", context({ Dockerfile: dockerfile })]);
    assert.notEqual(r.status, 0, dockerfile);
    assert.match(r.stderr, message, dockerfile);
  }
  const dir = context({ Dockerfile: "FROM busybox\n" });
  for (const [flag, message] of [
    ["--progress=fancy", /invalid progress mode "fancy"/],
    ["--network=weird", /network weird not found/],
    ["--tag=Bad:Name", /invalid reference format: repository name must be lowercase/],
  ] as const) {
    const r = d.berth(["build", flag, dir]);
    assert.notEqual(r.status, 0, flag);
    assert.match(r.stderr, message);
  }
  // A stage that fails stops the ones running beside it at their next step; nothing is left.
  const parallel = d.berth([
    "build",
    context({
      Dockerfile: [
        "FROM busybox AS slow",
        "RUN sleep 2",
        "RUN echo never-runs",
        "FROM busybox AS bad",
        "RUN exit 4",
        "FROM busybox",
        "COPY --from=slow /etc/hostname /a",
        "COPY --from=bad /etc/hostname /b",
      ].join("\n"),
    }),
  ]);
  assert.notEqual(parallel.status, 0);
  assert.match(
    parallel.stderr,
    /Dockerfile:5: The command '\/bin\/sh -c exit 4' returned a non-zero code: 4/,
  );
  assert.doesNotMatch(parallel.stdout, /echo never-runs/);
  const outside = d.berth(["build", "-f", "/etc/hostname", dir]);
  assert.notEqual(outside.status, 0);
  assert.match(outside.stderr, /the Dockerfile \(\/etc\/hostname\) must be within the build context/);
  assert.equal(ok(d.berth(["ps", "-aq"])).stdout, "", "no build container is left");
  assert.doesNotMatch(ok(d.berth(["images", "--format", "{{.Repository}}"])).stdout, /broken/);
});
