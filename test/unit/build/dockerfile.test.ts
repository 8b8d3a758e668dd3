// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text, whose ${VAR} is the subject here
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkFlags, parseDockerfile, substitute } from "../../../src/build/dockerfile.js";
import { DockerIgnore } from "../../../src/build/dockerignore.js";

test("directives, comments, continuations, JSON and shell forms, flags", () => {
  const df = parseDockerfile(
    [
      "# syntax=docker/dockerfile:1",
      "# escape=\\",
      "",
      "ARG BASE=busybox",
      "FROM --platform=linux/amd64 ${BASE} AS build",
      "# a comment",
      "RUN echo one \\",
      "  # a comment inside a continuation",
      "  && echo two",
      'CMD ["sh", "-c", "echo hi"]',
      "COPY --from=build --chown=1000:1000 /a /b",
      "ENTRYPOINT [not json",
    ].join("\n"),
  );
  assert.deepEqual(df.directives, { syntax: "docker/dockerfile:1", escape: "\\" });
  const [arg, from, run, cmd, copy, entry] = df.instructions;
  assert.equal(arg!.name, "ARG");
  assert.deepEqual(from!.flags, { platform: ["linux/amd64"] });
  assert.equal(from!.text, "${BASE} AS build");
  assert.equal(from!.line, 5);
  assert.equal(run!.text, "echo one   && echo two");
  assert.equal(run!.line, 7);
  assert.deepEqual(cmd!.json, ["sh", "-c", "echo hi"]);
  assert.deepEqual(copy!.flags, { from: ["build"], chown: ["1000:1000"] });
  assert.equal(copy!.text, "/a /b");
  assert.equal(entry!.json, undefined, "not JSON: the shell form");
});

test("the backtick escape directive, lower-case instructions", () => {
  const df = parseDockerfile("# escape=`\nfrom busybox\nrun echo a `\n  b\n");
  assert.equal(df.escape, "`");
  assert.equal(df.instructions[1]!.name, "RUN");
  assert.equal(df.instructions[1]!.text, "echo a   b");
});

test("heredocs: several per instruction, <<- strips tabs, a quoted delimiter turns expansion off", () => {
  const df = parseDockerfile(
    [
      "FROM busybox",
      "RUN <<EOF",
      "echo $HOME",
      "EOF",
      "COPY <<-'A' <<B /dst/",
      "\tfirst",
      "\tA",
      "second",
      "B",
      "CMD x",
    ].join("\n"),
  );
  const run = df.instructions[1]!;
  assert.deepEqual(run.heredocs, [{ name: "EOF", content: "echo $HOME\n", expand: true }]);
  const copy = df.instructions[2]!;
  assert.deepEqual(copy.heredocs, [
    { name: "A", content: "first\n", expand: false },
    { name: "B", content: "second\n", expand: true },
  ]);
  assert.equal(df.instructions[3]!.name, "CMD");
});

test("broken Dockerfiles: errors that name the line", () => {
  assert.throws(
    () => parseDockerfile("FROM busybox\nFROBNICATE x\n"),
    /Dockerfile:2: unknown instruction: FROBNICATE/,
  );
  assert.throws(
    () => parseDockerfile("FROM busybox\nRUN <<EOF\necho\n"),
    /Dockerfile:2: unterminated heredoc EOF/,
  );
  assert.throws(
    () => parseDockerfile("FROM busybox\nWORKDIR\n"),
    /Dockerfile:2: WORKDIR requires at least one argument/,
  );
  assert.throws(() => parseDockerfile("# escape=x\nFROM busybox\n"), /invalid escape token/);
  const bad = parseDockerfile("FROM busybox\nRUN --frobnicate=1 true\n").instructions[1]!;
  assert.throws(() => checkFlags(bad), /Dockerfile:2: unknown flag: --frobnicate for RUN/);
  checkFlags(parseDockerfile("FROM busybox\nRUN --mount=type=cache,target=/c true\n").instructions[1]!);
});

test("variable substitution: plain, braces, defaults, alternatives, escapes, single quotes", () => {
  const vars = new Map([
    ["A", "1"],
    ["EMPTY", ""],
  ]);
  assert.equal(substitute("$A ${A} x${A}y", vars), "1 1 x1y");
  assert.equal(substitute("${B:-dflt} ${EMPTY:-dflt} ${EMPTY-set}", vars), "dflt dflt ");
  assert.equal(substitute("${A:+alt} ${B:+alt} ${EMPTY+alt}", vars), "alt  alt");
  assert.equal(substitute("\\$A '$A' \"$A\"", vars), "$A '$A' \"1\"");
  assert.equal(substitute("${B:-${A}}", vars), "1");
  assert.throws(() => substitute("${A", vars, "\\", 3), /Dockerfile:3: missing '}'/);
});

test(".dockerignore: globs, **, directories, ! exceptions, last match wins", () => {
  const ignore = new DockerIgnore(
    [
      "# comment",
      "*.log",
      "/build",
      "**/tmp",
      "docs/**/*.md",
      "!docs/keep.md",
      "secret?.txt",
      "node_modules",
      "!node_modules/keep",
    ].join("\n"),
  );
  const cases: [string, boolean][] = [
    ["a.log", true],
    ["sub/a.log", false],
    ["build", true],
    ["build/out.o", true],
    ["src/tmp/x", true],
    ["tmp", true],
    ["docs/a/b/c.md", true],
    ["docs/keep.md", false],
    ["secret1.txt", true],
    ["secret12.txt", false],
    ["node_modules/x/y.js", true],
    ["node_modules/keep", false],
    ["src/main.ts", false],
  ];
  for (const [path, ignored] of cases) assert.equal(ignore.ignores(path), ignored, path);
});
