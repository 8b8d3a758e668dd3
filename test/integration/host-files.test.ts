/**
 * Hostile trees: a container, an image or a build context that tries to make the daemon read or
 * write a file of the host. Every case runs for real against a canary directory on the host (a
 * secret file, a passwd file, a .dockerignore) and checks that no answer carries the secret and
 * that nothing was written into the canary. The running container attacks with a static helper
 * (test/fixtures/swap-race.c) that swaps a directory and a symlink to the canary in a tight loop
 * while the host copies through the path (the CVE-2018-15664 class).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { busyboxRootfs } from "../../src/image/import.js";
import type { TarInput } from "../../src/util/tar/writer.js";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { dir, file, symlink, tarBuffer } from "../helpers/tar.js";

const d = new DaemonFixture();
const canary = mkdtempSync("/var/tmp/berth-canary-");
const SECRET = `HOST-SECRET-${randomBytes(8).toString("hex")}`;
const CANARY_FILES = ["secret", "passwd", "group", "ignore", "sub"].sort();
const tools = mkdtempSync("/var/tmp/berth-swap-race-");
const SWAP_SOURCE = fileURLToPath(new URL("../../../test/fixtures/swap-race.c", import.meta.url));
const NONE = ["--network", "none"];

before(async () => {
  writeFileSync(join(canary, "secret"), `${SECRET}\n`);
  writeFileSync(join(canary, "passwd"), `canaryuser:x:4242:4242:${SECRET}:/:/bin/sh\n`);
  writeFileSync(join(canary, "group"), "canaryuser:x:4242:\n");
  writeFileSync(join(canary, "ignore"), "keep.txt\n");
  mkdirSync(join(canary, "sub"));
  writeFileSync(join(canary, "sub", "secret"), `${SECRET}\n`);
  execFileSync("cc", ["-O2", "-static", "-o", join(tools, "swap-race"), SWAP_SOURCE]);
  await d.importBusybox();
  await d.start();
});
after(async () => {
  await d.cleanup();
  rmSync(canary, { recursive: true, force: true });
  rmSync(tools, { recursive: true, force: true });
});

const docker = (args: string[], input?: string) => d.docker(args, input === undefined ? {} : { input });

/** The canary is untouched: the same files, nothing added. */
function assertCanaryUnchanged(): void {
  assert.deepEqual(readdirSync(canary).sort(), CANARY_FILES, "nothing was written into the host directory");
}

function assertNoSecret(text: string, what: string): void {
  assert.ok(!text.includes(SECRET), `${what} carries the host's secret:\n${text.slice(0, 2000)}`);
}

/** A container whose /race/d and /race/link (a symlink to the canary) swap names all the time. */
function startRace(name: string): void {
  ok(
    docker([
      "run",
      "-d",
      "--name",
      name,
      ...NONE,
      "-v",
      `${tools}:/t:ro`,
      "busybox",
      "sh",
      "-c",
      `mkdir -p /race/d && printf container > /race/d/secret && ln -s ${canary} /race/link && exec /t/swap-race /race/d /race/link`,
    ]),
  );
}

test("cp out of a running container never reads a host file through a swapped symlink", async () => {
  startRace("race-out");
  const seen = { container: 0, notFound: 0, host: 0 };
  const count = (status: number, text: string) => {
    if (text.includes(SECRET)) seen.host++;
    else if (status === 200) seen.container++;
    else seen.notFound++;
  };
  for (let i = 0; i < 1000; i++) {
    const r = await d.api("GET", "/containers/race-out/archive?path=/race/d/secret");
    const stat = Buffer.from(String(r.headers["x-docker-container-path-stat"] ?? ""), "base64").toString();
    count(r.status, r.body.toString("latin1") + stat);
  }
  for (let i = 0; i < 300; i++) {
    const r = await d.api("GET", "/containers/race-out/archive?path=/race/d");
    count(r.status, r.body.toString("latin1"));
    // The size in the stat header tells which file was looked at, even without its content.
    const h = await d.api("HEAD", "/containers/race-out/archive?path=/race/d/secret");
    const stat = JSON.parse(
      Buffer.from(String(h.headers["x-docker-container-path-stat"] ?? "e30="), "base64").toString(),
    ) as { size?: number };
    if (h.status === 200 && stat.size !== "container".length) seen.host++;
  }
  ok(docker(["rm", "-f", "race-out"]));
  assert.equal(seen.host, 0, `host reads: ${JSON.stringify(seen)}`);
  // The race really ran: the path was seen both as the directory and as the symlink.
  assert.ok(seen.container > 0 && seen.notFound > 0, JSON.stringify(seen));
});

test("cp into a running container never writes a host file through a swapped symlink", async () => {
  startRace("race-in");
  const statuses = new Map<number, number>();
  for (let i = 0; i < 1000; i++) {
    const tar = await tarBuffer([file(`pwned-${i}`, "x")]);
    const r = await d.api("PUT", "/containers/race-in/archive?path=/race/d", tar, {
      "Content-Type": "application/x-tar",
    });
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  // The swap goes on: whichever name is the directory, its listing once inside it.
  const inside = ok(
    docker([
      "exec",
      "race-in",
      "sh",
      "-c",
      "until cd /race/d || cd /race/link; do :; done; ls | grep -c pwned",
    ]),
  ).stdout;
  ok(docker(["rm", "-f", "race-in"]));
  assertCanaryUnchanged();
  assert.ok((statuses.get(200) ?? 0) > 0 && Number(inside) > 0, `answers: ${JSON.stringify([...statuses])}`);
  assert.ok((statuses.get(404) ?? 0) > 0, `the race ran: ${JSON.stringify([...statuses])}`);
});

test("docker cp against the same race reaches no host file, either way", () => {
  startRace("race-cli");
  const local = mkdtempSync("/var/tmp/berth-cp-src-");
  writeFileSync(join(local, "pwned"), "x");
  let outOk = 0;
  for (let i = 0; i < 150; i++) {
    const out = docker(["cp", "race-cli:/race/d/secret", "-"]);
    assertNoSecret(out.stdout + out.stderr, "docker cp out");
    if (out.status === 0) outOk++;
    docker(["cp", join(local, "pwned"), "race-cli:/race/d/"]);
  }
  ok(docker(["rm", "-f", "race-cli"]));
  rmSync(local, { recursive: true, force: true });
  assertCanaryUnchanged();
  assert.ok(outOk > 0, "some copies saw the container's own file");
});

test("the archive API shows no live /proc or /sys, and a /proc/self path is simply not found", () => {
  ok(docker(["run", "-d", "--name", "kernelfs", ...NONE, "busybox", "sleep", "600"]));
  const self = docker(["cp", "kernelfs:/proc/self/status", "-"]);
  assert.notEqual(self.status, 0);
  assert.match(self.stderr, /Could not find the file \/proc\/self\/status in container kernelfs/);
  assert.doesNotMatch(self.stderr, /\/proc\/\d+/);
  assert.notEqual(docker(["cp", "kernelfs:/sys/kernel/hostname", "-"]).status, 0);
  const proc = execFileSync("tar", ["-t"], { input: ok(docker(["cp", "kernelfs:/proc", "-"])).stdout });
  assert.equal(proc.toString(), "proc/\n", "the mount point alone, as in the image");
  ok(docker(["rm", "-f", "kernelfs"]));
});

/** POSTs a raw context to the build endpoint, as any API client may; the whole answer as text. */
async function buildRaw(entries: TarInput[], query = ""): Promise<{ status: number; text: string }> {
  const r = await d.api("POST", `/build?rm=1${query}`, await tarBuffer(entries), {
    "Content-Type": "application/x-tar",
  });
  return { status: r.status, text: r.body.toString() };
}

const failed = (r: { status: number; text: string }) => r.status !== 200 || r.text.includes('"error"');

test("COPY and ADD do not follow a context symlink out of the context", async () => {
  for (const [instruction, links] of [
    [`COPY evildir/secret /x`, [symlink("evildir", canary)]],
    [`ADD evildir/secret /x`, [symlink("evildir", canary)]],
    [`COPY rootlink${canary}/secret /x`, [symlink("rootlink", "/")]],
    [`COPY rootlink/..${canary}/secret /x`, [symlink("rootlink", "../..")]],
    [`COPY secretlink /x`, [symlink("secretlink", `${canary}/secret`)]],
  ] as const) {
    const r = await buildRaw([file("Dockerfile", `FROM busybox\n${instruction}\nRUN cat /x\n`), ...links]);
    assertNoSecret(r.text, instruction);
    assert.ok(failed(r), `${instruction}: ${r.text}`);
    assert.match(r.text, /not found in build context|no such file/, instruction);
  }
});

test("a symlink inside the context resolves inside it", async () => {
  const r = await buildRaw([
    file("Dockerfile", "FROM busybox\nCOPY abs/msg.txt rel/msg.txt /out/\nRUN cat /out/msg.txt\n"),
    file("dir/msg.txt", "inside the context\n"),
    symlink("abs", "/dir"),
    symlink("rel", "dir"),
  ]);
  assert.ok(!failed(r), r.text);
  assert.match(r.text, /inside the context/);
});

test("RUN --mount=type=bind never mounts or writes a host path", async () => {
  const ro = await buildRaw([
    file(
      "Dockerfile",
      `FROM busybox\nRUN --mount=type=bind,source=rootlink,target=/m cat /m${canary}/secret /m/evildir/secret\n`,
    ),
    symlink("rootlink", "/"),
    symlink("evildir", canary),
  ]);
  assertNoSecret(ro.text, "a read-only bind through a symlink");
  assert.ok(failed(ro), ro.text);

  const rw = await buildRaw([
    file("Dockerfile", `FROM busybox\nRUN --mount=type=bind,source=evildir,target=/m,rw touch /m/pwned\n`),
    symlink("evildir", canary),
  ]);
  assert.ok(failed(rw), rw.text);
  assert.match(rw.text, /not found in build context|no such file or directory/);

  const copy = await buildRaw([
    file(
      "Dockerfile",
      `FROM busybox\nRUN --mount=type=bind,source=rootlink,target=/m,rw mkdir -p /m${canary} && touch /m${canary}/pwned /m/evildir/pwned; ls /m/dir\n`,
    ),
    file("dir/msg.txt", "x"),
    symlink("rootlink", "/"),
    symlink("evildir", canary),
  ]);
  assert.ok(!failed(copy), copy.text);
  assert.match(copy.text, /msg\.txt/, "the rw bind is a copy of the context");
  assertCanaryUnchanged();
});

test("ADD of a URL whose name climbs with %2F writes no host file", async () => {
  const server = createServer((_req, res) => res.end("from the URL\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const climb = encodeURIComponent(`../../../../../../../..${canary}/pwned`);
  try {
    const r = await buildRaw([
      file("Dockerfile", `FROM busybox\nADD http://127.0.0.1:${port}/${climb} /x/\nRUN cat /x/pwned\n`),
    ]);
    assert.ok(!failed(r), r.text);
    assert.match(r.text, /from the URL/, "the file took the last element of the decoded path");
  } finally {
    server.close();
  }
  assertCanaryUnchanged();
});

test("the Dockerfile and .dockerignore are read from inside the context only", async () => {
  for (const [entries, query] of [
    [[symlink("Dockerfile", `${canary}/secret`)], ""],
    [
      [file("Dockerfile", "FROM busybox\n")],
      `&dockerfile=${encodeURIComponent(`../../../../..${canary}/secret`)}`,
    ],
    [[file("Dockerfile", "FROM busybox\n"), symlink("d", canary)], "&dockerfile=d/secret"],
    [[file("Dockerfile", "FROM busybox\n")], `&dockerfile=${encodeURIComponent(`${canary}/secret`)}`],
  ] as const) {
    const r = await buildRaw([...entries], query);
    assertNoSecret(r.text, `dockerfile ${query}`);
    assert.ok(failed(r), r.text);
    assert.match(r.text, /Cannot locate specified Dockerfile/);
  }
  const ignored = await buildRaw([
    file("Dockerfile", "FROM busybox\nCOPY keep.txt /k\n"),
    file("keep.txt", "kept"),
    symlink(".dockerignore", `${canary}/ignore`),
  ]);
  assert.ok(!failed(ignored), `the host's ignore file was read: ${ignored.text}`);
});

test("docker load of an archive whose layout files link to the host reads none of them", async () => {
  for (const linked of ["index.json", `blobs/sha256/${"0".repeat(64)}`]) {
    const index = {
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: `sha256:${"0".repeat(64)}`,
          size: 10,
        },
      ],
    };
    const entries = [
      file("oci-layout", '{"imageLayoutVersion":"1.0.0"}'),
      ...(linked === "index.json" ? [] : [file("index.json", JSON.stringify(index))]),
      symlink(linked, `${canary}/secret`),
    ];
    const r = await d.api("POST", "/images/load", await tarBuffer(entries), {
      "Content-Type": "application/x-tar",
    });
    assertNoSecret(r.body.toString(), `load with ${linked} linked`);
    // Resolved inside the layout, the link leads to nothing: the host file was never opened.
    assert.match(r.body.toString(), /no index\.json|is missing/, linked);
  }
});

/**
 * Imports busybox with `/etc` (or another path) replaced by a symlink to the canary's path, which
 * the image holds too, empty: inside the container the link leads to the image's own directory.
 */
async function importWithLink(reference: string, linkPath: string): Promise<void> {
  const { entries } = await busyboxRootfs();
  const kept = entries.filter((e) => !e.header.name.startsWith(`${linkPath}/`) && e.header.name !== linkPath);
  const parts = canary.split("/").filter(Boolean);
  const dirs = parts.map((_, i) => dir(`${parts.slice(0, i + 1).join("/")}/`));
  const tar = await tarBuffer([
    ...kept.filter((e) => !dirs.some((x) => x.header.name === e.header.name)),
    ...dirs,
    symlink(linkPath, canary),
  ]);
  const r = await d.api("POST", `/images/create?fromSrc=-&repo=${reference}`, tar, {
    "Content-Type": "application/x-tar",
  });
  assert.equal(r.status, 200, r.body.toString());
}

test("a volume's first fill does not follow an image symlink to the host", async () => {
  await importWithLink("evil-data:1", "data");
  const r = docker([
    "run",
    "--rm",
    ...NONE,
    "-v",
    "hostile-fill:/data/sub",
    "evil-data:1",
    "sh",
    "-c",
    "cat /data/sub/*",
  ]);
  assertNoSecret(r.stdout + r.stderr, "the volume");
  ok(docker(["volume", "rm", "hostile-fill"]));
});

test("--user and exec -u read the container's /etc/passwd, never the host's through a symlink", async () => {
  await importWithLink("evil-etc:1", "etc");
  const run = docker(["run", "--rm", ...NONE, "--user", "canaryuser", "evil-etc:1", "id", "-u"]);
  assert.notEqual(run.stdout.trim(), "4242", "the host's passwd was read at create");
  assertNoSecret(run.stdout + run.stderr, "run --user");
  ok(docker(["run", "-d", "--name", "evil-etc", ...NONE, "evil-etc:1", "sleep", "600"]));
  const exec = docker(["exec", "-u", "canaryuser", "evil-etc", "id", "-u"]);
  assert.notEqual(exec.stdout.trim(), "4242", "the host's passwd was read at exec");
  assertNoSecret(exec.stdout + exec.stderr, "exec -u");
  const cp = docker(["cp", "evil-etc:/etc/secret", "-"]);
  assertNoSecret(cp.stdout + cp.stderr, "cp through the image's symlink");
  ok(docker(["rm", "-f", "evil-etc"]));
  assertCanaryUnchanged();
});
