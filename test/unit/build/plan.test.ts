// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Dockerfile text, whose ${VAR} is the subject here
/** The pure parts of the builder: stage planning, RUN --mount, config instructions, cache keys and store. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { BuildCache, stepKey } from "../../../src/build/cache.js";
import {
  configChange,
  exposedPorts,
  goDuration,
  keyValuePairs,
} from "../../../src/build/config-instructions.js";
import { checksumSources, matchSources } from "../../../src/build/copy-sources.js";
import { type Instruction, parseDockerfile } from "../../../src/build/dockerfile.js";
import { DockerIgnore } from "../../../src/build/dockerignore.js";
import { parseRunMount } from "../../../src/build/run-mounts.js";
import { planStages } from "../../../src/build/stages.js";
import type { ImageRecord } from "../../../src/image/image-store.js";
import { detectCompression } from "../../../src/util/compression.js";

const plan = (text: string, args: Record<string, string> = {}, target?: string) =>
  planStages(parseDockerfile(text), args, target);

test("stages: dependencies by FROM, COPY --from and RUN --mount from=; only what the target needs", () => {
  const p = plan(
    [
      "ARG TOOLS=tools",
      "FROM busybox AS tools",
      "FROM busybox AS unused",
      "RUN exit 1",
      "FROM busybox AS data",
      "FROM ${TOOLS} AS build",
      "RUN --mount=type=bind,from=data,target=/d true",
      "FROM busybox",
      "COPY --from=build /a /a",
      "COPY --from=0 /b /b",
    ].join("\n"),
  );
  assert.deepEqual(
    p.build.map((s) => s.name ?? s.index),
    ["tools", "data", "build", 4],
  );
  assert.deepEqual(p.stages[3]!.needs, [0, 2]);
  assert.deepEqual(p.stages[4]!.needs, [3, 0]);
  assert.deepEqual(
    plan("FROM busybox AS a\nFROM busybox AS b\nFROM a\n", {}, "b").build.map((s) => s.name),
    ["b"],
  );
});

test("stages: global args, build args, the platform args, and bad plans", () => {
  const p = plan("ARG V=1\nARG W\nFROM busybox:${V}\n", { V: "2" });
  assert.equal(p.stages[0]!.base, "busybox:2");
  assert.equal(p.globalArgs.get("W"), "");
  assert.match(p.globalArgs.get("TARGETPLATFORM")!, /^linux\//);
  assert.throws(() => plan("RUN true\n"), /no build stage in current context/);
  assert.throws(() => plan("FROM a AS x\nFROM b AS X\n"), /Dockerfile:2: duplicate stage name "X"/);
  assert.throws(() => plan("FROM busybox\n", {}, "nope"), /failed to reach build target nope/);
  assert.throws(
    () => plan("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\n"),
    /stage "b" is not defined before/,
  );
  assert.throws(() => plan("FROM\n"), /FROM requires at least one argument/);
  assert.equal(plan("FROM --platform=$BUILDPLATFORM busybox\n").stages.length, 1);
  assert.throws(
    () => plan("FROM --platform=linux/s390x busybox\n"),
    /Berth builds for this host's platform only/,
  );
});

test("RUN --mount: types, defaults relative to WORKDIR, and errors", () => {
  assert.deepEqual(parseRunMount("type=cache,target=go", "/src", 3), {
    type: "cache",
    target: "/src/go",
    id: "/src/go",
    sharing: "shared",
    readOnly: false,
    mode: 0o755,
    uid: 0,
    gid: 0,
  });
  assert.deepEqual(parseRunMount("src=data,dst=/d,from=build,rw", "/", 1), {
    type: "bind",
    target: "/d",
    source: "data",
    from: "build",
    readOnly: false,
  });
  assert.equal((parseRunMount("type=bind,target=/d", "/", 1) as { readOnly: boolean }).readOnly, true);
  assert.deepEqual(parseRunMount("type=tmpfs,target=/t,size=64m", "/", 1), {
    type: "tmpfs",
    target: "/t",
    size: 64 * 1024 * 1024,
  });
  assert.equal(
    (parseRunMount("type=cache,target=/c,mode=0700,uid=5", "/", 1) as { mode: number }).mode,
    0o700,
  );
  for (const [spec, message] of [
    ["type=secret,id=x", /unsupported mount type "secret" \(secrets and ssh mounts are not supported/],
    ["type=volume,target=/x", /unsupported mount type "volume"/],
    ["type=cache", /has no target/],
    ["type=cache,target=/c,sharing=sometimes", /invalid sharing mode "sometimes"/],
    ["type=cache,target=/c,uid=root", /invalid value for uid/],
    ["type=tmpfs,target=/t,size=lots", /invalid tmpfs size "lots"/],
    ["type=tmpfs,target=/t,from=x", /unexpected key 'from'/],
    ["type=bind,target=/t,readonly=maybe", /invalid value for readonly/],
  ] as const)
    assert.throws(
      () => parseRunMount(spec, "/", 7),
      (err: Error) => err.message.startsWith("Dockerfile:7: ") && message.test(err.message),
      spec,
    );
});

const ins = (text: string): Instruction => parseDockerfile(`FROM x\n${text}\n`).instructions[1]!;
const same = (t: string) => t;

test("config instructions: what each does to the config and its history text", () => {
  const env = configChange(ins('ENV A=1 B="two words" C=three\\ words'), { Env: ["A=0", "PATH=/bin"] }, same);
  assert.deepEqual(env.config.Env, ["A=1", "PATH=/bin", "B=two words", "C=three words"]);
  assert.equal(env.history, " ENV A=1 B=two words C=three words");
  assert.deepEqual(configChange(ins("ENV OLD form value"), {}, same).config.Env, ["OLD=form value"]);
  const workdir = configChange(ins("WORKDIR ../b/./c"), { WorkingDir: "/a/x" }, same);
  assert.equal(workdir.config.WorkingDir, "/a/b/c");
  assert.equal(workdir.history, "WORKDIR /a/b/c");
  // ENTRYPOINT drops an inherited CMD, not one the stage set.
  assert.equal(configChange(ins('ENTRYPOINT ["a"]'), { Cmd: ["sh"] }, same).config.Cmd, null);
  assert.equal(configChange(ins('ENTRYPOINT ["a"]'), { Cmd: ["sh"] }, same, true).config.Cmd, undefined);
  assert.deepEqual(configChange(ins("CMD echo hi"), { Shell: ["/bin/bash", "-c"] }, same).config.Cmd, [
    "/bin/bash",
    "-c",
    "echo hi",
  ]);
  const health = configChange(ins("HEALTHCHECK --interval=90s --retries=3 CMD true"), {}, same);
  assert.equal(health.history, ` HEALTHCHECK &{["CMD-SHELL" "true"] "1m30s" "0s" "0s" '\\x03'}`);
  assert.equal(configChange(ins("VOLUME /a /b"), {}, same).history, " VOLUME [/a /b]");
  assert.equal(configChange(ins("MAINTAINER me"), {}, same).author, "me");
  assert.throws(
    () => configChange(ins("SHELL /bin/bash"), {}, same),
    /SHELL requires the arguments to be in JSON form/,
  );
  assert.throws(
    () => configChange(ins("ONBUILD ONBUILD RUN x"), {}, same),
    /ONBUILD isn't allowed as an ONBUILD trigger/,
  );
  assert.throws(() => keyValuePairs("=x", ins("LABEL =x")), /key=value expected/);
  assert.throws(() => keyValuePairs("LONELY", ins("ENV LONELY")), /ENV must have two arguments/);
});

test("EXPOSE ports and Go durations", () => {
  assert.deepEqual(exposedPorts("80 53/udp 7000-7002/TCP", ins("EXPOSE 80")), [
    "80/tcp",
    "53/udp",
    "7000/tcp",
    "7001/tcp",
    "7002/tcp",
  ]);
  assert.throws(() => exposedPorts("http", ins("EXPOSE http")), /invalid containerPort: http/);
  assert.throws(() => exposedPorts("90-80", ins("EXPOSE 90-80")), /invalid port range/);
  assert.deepEqual([0, 5e8, 5e9, 9e10, 3.6e12, 3.723e12].map(goDuration), [
    "0s",
    "500ms",
    "5s",
    "1m30s",
    "1h0m0s",
    "1h2m3s",
  ]);
});

test("cache keys and the cache store: stable keys, entries kept across opens, clear", async () => {
  assert.equal(stepKey("a", ["RUN", 1]), stepKey("a", ["RUN", 1]));
  assert.notEqual(stepKey("a", ["RUN", 1]), stepKey("a", ["RUN", 2]));
  const dir = mkdtempSync(join(tmpdir(), "berth-cache-"));
  try {
    const cache = new BuildCache(dir);
    await cache.open();
    const image = { id: "sha256:abc" } as ImageRecord;
    await cache.put(stepKey("k"), image, "RUN x", 10, "sha256:base");
    writeFileSync(join(dir, "cache", "tmp-partial"), "{");
    const reopened = new BuildCache(dir);
    await reopened.open();
    assert.equal(reopened.get(stepKey("k"))?.image.id, "sha256:abc");
    assert.equal(reopened.get(stepKey("k"))?.parent, "sha256:base", "--cache-from follows it back");
    assert.equal(reopened.all().length, 1, "a partial write is dropped");
    assert.equal((await reopened.clear()).length, 1);
    const empty = new BuildCache(dir);
    await empty.open();
    assert.equal(empty.all().length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("COPY sources: globs, checksums of content (not times), and missing files", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-sources-"));
  try {
    mkdirSync(join(dir, "conf/sub"), { recursive: true });
    writeFileSync(join(dir, "conf/a.conf"), "a");
    writeFileSync(join(dir, "conf/b.conf"), "b");
    writeFileSync(join(dir, "conf/c.txt"), "c");
    symlinkSync("a.conf", join(dir, "conf/link.conf"));
    const at = { line: 4, name: "COPY" };
    const found = await matchSources(dir, ["conf/*.conf"], at);
    assert.deepEqual(
      found.map((s) => s.rel),
      ["conf/a.conf", "conf/b.conf", "conf/link.conf"],
    );
    const before = await checksumSources(found);
    utimesSync(join(dir, "conf/a.conf"), new Date(0), new Date(0));
    assert.equal(await checksumSources(found), before, "times are not content");
    writeFileSync(join(dir, "conf/b.conf"), "B");
    assert.notEqual(await checksumSources(found), before);
    await assert.rejects(matchSources(dir, ["nothing*"], at), /Dockerfile:4: COPY failed: .*nothing\*/);
    await assert.rejects(matchSources(dir, ["../../etc/passwd"], at), /file does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(".dockerignore: what is never sent, exceptions keeping directories; the daemon drops a listed Dockerfile", async () => {
  const ignore = new DockerIgnore("node_modules\n*.log\nsecrets/**\n!secrets/public.pem\nDockerfile\n");
  assert.equal(ignore.excludes("node_modules", true), false, "an exception might reach under it");
  const plain = new DockerIgnore("node_modules\n*.log\n");
  assert.equal(plain.excludes("node_modules", true), true);
  assert.equal(plain.excludes("a.log", false), true);
  assert.equal(plain.excludes(".dockerignore", false), false, "the CLI always sends it");
  const dir = mkdtempSync(join(tmpdir(), "berth-ignore-"));
  try {
    for (const f of [
      "Dockerfile",
      ".dockerignore",
      "a.log",
      "keep.txt",
      "secrets/key",
      "secrets/public.pem",
      "node_modules/x/y",
    ]) {
      mkdirSync(join(dir, f, ".."), { recursive: true });
      writeFileSync(join(dir, f), f);
    }
    await ignore.prune(dir);
    // Read already, the Dockerfile goes when it is listed; .dockerignore stays, being unlisted.
    assert.deepEqual(readdirSync(dir).sort(), [".dockerignore", "keep.txt", "secrets"]);
    assert.deepEqual(readdirSync(join(dir, "secrets")), ["public.pem"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("compression magic: gzip, zstd, bzip2, xz, none", () => {
  assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0])), "gzip");
  assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), "zstd");
  assert.equal(detectCompression(Buffer.from("BZh91AY")), "bzip2");
  assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), "xz");
  assert.equal(detectCompression(Buffer.from("plain text")), "none");
});
