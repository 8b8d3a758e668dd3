/**
 * The build cache and the builder's execution: unchanged rebuilds run no step, a changed file
 * reruns only what reads it, the cache survives a daemon restart and goes with `builder prune`;
 * RUN --mount (cache, bind, tmpfs) and --network; ADD of archives and URLs; COPY --chown by
 * name, --chmod and globs; ONBUILD; stages built in parallel and only when the target needs them;
 * RUN output streamed while the step runs.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { builderFixture } from "../helpers/build-context.js";
import { BERTH, ok } from "../helpers/daemon.js";

const { d, context } = builderFixture("build-cache");

const run = (image: string, ...cmd: string[]) =>
  ok(d.berth(["run", "--rm", "--network", "none", image, ...cmd])).stdout;

/** The steps a build ran (not from the cache), by their instruction text; FROM lines aside. */
function ranSteps(output: string): string[] {
  const steps = output.split(/^Step \d+\/\d+ : /m).slice(1);
  return steps
    .filter((s) => !s.startsWith("FROM ") && !s.includes(" ---> Using cache"))
    .map((s) => s.split("\n")[0]!);
}

const FILE_SERVER = `
const server = require("node:http").createServer((req, res) => {
  if (req.url !== "/files/hello.txt") return res.writeHead(404).end();
  res.writeHead(200, { "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" }).end("downloaded\\n");
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
`;

const TWO_STAGES = [
  "FROM busybox AS build",
  "WORKDIR /src",
  "COPY a.txt ./",
  "RUN cat a.txt > built.txt",
  "COPY b.txt ./",
  "RUN cat b.txt >> built.txt",
  "FROM busybox",
  "COPY --from=build /src/built.txt /out.txt",
  'CMD ["cat", "/out.txt"]',
].join("\n");

test("an unchanged rebuild runs no step; a changed file reruns only the steps from the first that reads it", async () => {
  const dir = context({ Dockerfile: TWO_STAGES, "a.txt": "A\n", "b.txt": "B\n" });
  const first = ok(d.berth(["build", "-t", "cached:1", dir])).stdout;
  assert.equal(ranSteps(first).length, 7, first);
  assert.match(first, / ---> [0-9a-f]{12} \(\d+\.\d\ds\)/, "each step's time");
  const id = ok(d.berth(["images", "-q", "cached:1"])).stdout.trim();

  const again = ok(d.berth(["build", "-t", "cached:1", dir])).stdout;
  assert.deepEqual(ranSteps(again), [], again);
  assert.doesNotMatch(again, /Running in/);
  assert.equal(ok(d.berth(["images", "-q", "cached:1"])).stdout.trim(), id, "the same image");

  // A new mtime alone is not a change: the cache compares content.
  utimesSync(join(dir, "a.txt"), new Date(), new Date(Date.now() + 5000));
  assert.deepEqual(ranSteps(ok(d.berth(["build", "-t", "cached:1", dir])).stdout), []);

  writeFileSync(join(dir, "b.txt"), "B2\n");
  const changed = ok(d.berth(["build", "-t", "cached:1", dir])).stdout;
  assert.deepEqual(ranSteps(changed), [
    "COPY b.txt ./",
    "RUN cat b.txt >> built.txt",
    "COPY --from=build /src/built.txt /out.txt",
    'CMD ["cat", "/out.txt"]',
  ]);
  assert.equal(run("cached:1"), "A\nB2\n");
  // The image cached:1 named before is now dangling, as with docker; no intermediate image is.
  assert.equal(
    ok(d.berth(["images", "-a", "--filter", "dangling=true", "-q"]))
      .stdout.trim()
      .split("\n").length,
    1,
    "no intermediate image shows",
  );

  // The cache survives the daemon; --no-cache runs everything; builder prune empties it.
  await d.stop();
  await d.start();
  assert.deepEqual(ranSteps(ok(d.berth(["build", "-t", "cached:1", dir])).stdout), []);
  assert.equal(ranSteps(ok(d.berth(["build", "--no-cache", "-t", "cached:1", dir])).stdout).length, 7);
  assert.match(ok(d.berth(["system", "df"])).stdout, /Build Cache\s+[1-9]\d*/);
  const refused = d.berth(["builder", "prune"]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /confirm with --force/);
  assert.match(
    ok(d.berth(["system", "df"])).stdout,
    /Build Cache\s+[1-9]/,
    "a refused prune removed nothing",
  );
  const pruned = ok(d.berth(["builder", "prune", "-f"])).stdout;
  assert.match(pruned, /Total reclaimed space/);
  assert.match(ok(d.berth(["system", "df"])).stdout, /Build Cache\s+0\s/);
  assert.equal(run("cached:1"), "A\nB2\n", "the tagged image keeps its layers");
  assert.equal(ranSteps(ok(d.berth(["build", "-t", "cached:1", dir])).stdout).length, 7);
  ok(d.berth(["rmi", "cached:1"]));
});

test("RUN --mount: a cache directory kept between builds, bind mounts of the context and a stage, tmpfs; --network=none", () => {
  const dir = context({
    Dockerfile: [
      "FROM busybox AS data",
      "RUN mkdir /d && echo from-stage > /d/f",
      "FROM busybox",
      "RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs",
      "RUN --mount=type=bind,source=input.txt,target=/in.txt cat /in.txt > /copied",
      "RUN --mount=type=bind,from=data,source=/d,target=/mnt/d cat /mnt/d/f > /from-stage",
      "RUN --mount=type=bind,source=.,target=/ctx,rw touch /ctx/written && ls /ctx > /ctx-list",
      "RUN --mount=type=tmpfs,target=/scratch grep -q ' /scratch tmpfs' /proc/mounts && echo tmpfs > /scratch/x && echo ok > /tmpfs",
      "RUN --network=none ip -o link | wc -l > /links",
    ].join("\n"),
    "input.txt": "from-context\n",
  });
  ok(d.berth(["build", "-t", "mounts:1", dir]));
  assert.equal(run("mounts:1", "cat", "/runs").trim(), "1");
  assert.equal(run("mounts:1", "cat", "/copied"), "from-context\n");
  assert.equal(run("mounts:1", "cat", "/from-stage"), "from-stage\n");
  assert.match(run("mounts:1", "cat", "/ctx-list"), /Dockerfile\ninput\.txt\nwritten/);
  assert.equal(run("mounts:1", "cat", "/tmpfs"), "ok\n");
  assert.equal(run("mounts:1", "cat", "/links").trim(), "1", "only lo");
  // Mount points the image lacked are not part of it; rw bind writes did not reach the context.
  assert.equal(d.berth(["run", "--rm", "--network", "none", "mounts:1", "ls", "/var/cache/app"]).status, 1);
  assert.equal(d.berth(["run", "--rm", "--network", "none", "mounts:1", "ls", "/scratch"]).status, 1);
  assert.equal(d.berth(["run", "--rm", "--network", "none", "mounts:1", "ls", "/mnt"]).status, 1);
  assert.throws(() => execFileSync("ls", [join(dir, "written")], { stdio: "ignore" }));

  ok(d.berth(["build", "--no-cache", "-t", "mounts:1", dir]));
  assert.equal(run("mounts:1", "cat", "/runs").trim(), "2", "the cache mount kept the first run's file");
  // A changed bind-mounted file is a changed step.
  writeFileSync(join(dir, "input.txt"), "changed\n");
  const out = ok(d.berth(["build", "-t", "mounts:1", dir])).stdout;
  assert.ok(
    ranSteps(out).some((s) => s.startsWith("RUN --mount=type=bind,source=input.txt")),
    out,
  );
  assert.equal(run("mounts:1", "cat", "/copied"), "changed\n");
  ok(d.berth(["rmi", "mounts:1"]));
});

test("ADD unpacks local archives and fetches URLs; COPY --chown by name, --chmod, globs, --from an image", async () => {
  const dir = context({
    Dockerfile: [
      "FROM busybox",
      "RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd && echo 'staff:x:2345:' >> /etc/group",
      "ADD tree.tar.gz /opt/",
      "ADD plain.tar /plain/",
      "ARG URL",
      "ADD $URL /downloads/",
      "COPY --chown=app:staff --chmod=0750 conf/*.conf /etc/app/",
      "COPY --chown=app conf/one.conf /one.conf",
      "COPY --from=busybox /bin/busybox /copied/",
    ].join("\n"),
    "conf/one.conf": "1\n",
    "conf/two.conf": "2\n",
    "conf/skip.txt": "no\n",
    "tree/a/file.txt": "in the archive\n",
  });
  execFileSync("tar", ["-C", dir, "-czf", join(dir, "tree.tar.gz"), "tree"]);
  execFileSync("tar", ["-C", join(dir, "tree"), "-cf", join(dir, "plain.tar"), "a"]);
  rmSync(join(dir, "tree"), { recursive: true });
  // A server of its own process: the berth CLI runs synchronously in this one.
  const server = spawn(process.execPath, ["-e", FILE_SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve) =>
    server.stdout.once("data", (b: Buffer) => resolve(b.toString().trim())),
  );
  const url = `http://127.0.0.1:${port}/files/hello.txt`;
  try {
    ok(d.berth(["build", "-t", "adds:1", "--build-arg", `URL=${url}`, dir]));
    assert.equal(run("adds:1", "cat", "/opt/tree/a/file.txt"), "in the archive\n");
    assert.equal(run("adds:1", "cat", "/plain/a/file.txt"), "in the archive\n");
    assert.equal(run("adds:1", "cat", "/downloads/hello.txt"), "downloaded\n");
    assert.equal(
      run("adds:1", "stat", "-c", "%a %Y", "/downloads/hello.txt").trim(),
      `600 ${Date.parse("2015-10-21T07:28:00Z") / 1000}`,
    );
    assert.equal(run("adds:1", "ls", "/etc/app"), "one.conf\ntwo.conf\n");
    assert.equal(run("adds:1", "stat", "-c", "%u:%g %a", "/etc/app/two.conf").trim(), "1234:2345 750");
    assert.equal(run("adds:1", "stat", "-c", "%u:%g", "/one.conf").trim(), "1234:1234");
    assert.equal(
      run("adds:1", "/copied/busybox", "echo", "copied from an image").trim(),
      "copied from an image",
    );
    // A 404 is the step's error, naming the line.
    const bad = d.berth(["build", "--build-arg", `URL=${url}.missing`, dir]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Dockerfile:6: ADD failed to fetch .*: 404/);
  } finally {
    server.kill();
  }
  ok(d.berth(["rmi", "adds:1"]));
});

test("ONBUILD triggers run in the child build, which does not inherit them", () => {
  const parent = context({
    Dockerfile:
      "FROM busybox\nONBUILD COPY marker.txt /marker.txt\nONBUILD RUN echo triggered > /triggered\n",
  });
  ok(d.berth(["build", "-t", "onbuild-parent:1", parent]));
  const child = context({
    Dockerfile: "FROM onbuild-parent:1\nCMD cat /marker.txt /triggered\n",
    "marker.txt": "child context\n",
  });
  const out = ok(d.berth(["build", "-t", "onbuild-child:1", child])).stdout;
  assert.match(out, /# Executing 2 build triggers/);
  assert.equal(
    ok(d.berth(["run", "--rm", "--network", "none", "onbuild-child:1"])).stdout,
    "child context\ntriggered\n",
  );
  assert.equal(
    ok(d.berth(["inspect", "-f", "{{json .Config.OnBuild}}", "onbuild-child:1"])).stdout.trim(),
    "null",
  );
  ok(d.berth(["rmi", "onbuild-child:1", "onbuild-parent:1"]));
});

test("stages: only those the target needs are built, independent ones at the same time", () => {
  const dir = context({
    Dockerfile: [
      "FROM busybox AS broken",
      "RUN exit 9",
      "FROM busybox AS left",
      "RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1.5 && cut -d' ' -f1 /proc/uptime > /end",
      "FROM busybox AS right",
      "RUN cut -d' ' -f1 /proc/uptime > /start && sleep 1.5 && cut -d' ' -f1 /proc/uptime > /end",
      "FROM busybox AS final",
      "COPY --from=left /start /left-start",
      "COPY --from=left /end /left-end",
      "COPY --from=right /start /right-start",
      "COPY --from=right /end /right-end",
    ].join("\n"),
  });
  const out = ok(d.berth(["build", "--target", "final", "-t", "stages:1", dir])).stdout;
  assert.doesNotMatch(out, /exit 9/, "the broken stage is not needed, so not built");
  const t = (f: string) => Number(run("stages:1", "cat", f));
  const [ls, le, rs, re] = [t("/left-start"), t("/left-end"), t("/right-start"), t("/right-end")];
  assert.ok(ls < re && rs < le, `the two stages overlap: left ${ls}-${le}, right ${rs}-${re}`);
  ok(d.berth(["rmi", "stages:1"]));
});

test("RUN output is streamed while the step runs", async () => {
  const dir = context({
    Dockerfile: "FROM busybox\nRUN echo one-$((1+1)) && sleep 2 && echo two-$((2+2))\n",
  });
  const child = spawn(process.execPath, [BERTH, "-H", `unix://${d.socket}`, "build", "--no-cache", dir]);
  const seen: Record<string, number> = {};
  let text = "";
  child.stdout.on("data", (b: Buffer) => {
    text += b.toString();
    for (const marker of ["one-2", "two-4"])
      if (!(marker in seen) && text.includes(`${marker}\n`)) seen[marker] = Date.now();
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, text);
  assert.ok(seen["two-4"]! - seen["one-2"]! >= 1500, `lines arrived as written: ${JSON.stringify(seen)}`);
});
