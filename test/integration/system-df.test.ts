/** `system df` accounts for every byte under the daemon's root: a test against du. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { anonymousClient, pushTestImage, randomLayer } from "../helpers/images.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { file, tarBuffer } from "../helpers/tar.js";

const MIB = 1 << 20;
const d = new DaemonFixture();
let registry: TestRegistry;

before(async () => {
  registry = await startRegistry();
  await pushTestImage(anonymousClient(registry.host), "df/pulled", "1", [
    await randomLayer("a", 3 * MIB),
    await randomLayer("b", 2 * MIB),
  ]);
  await d.importBusybox();
  await d.start();
});
after(async () => {
  await d.cleanup();
  await registry?.stop();
});

/** du's count (allocated bytes) of the daemon's root, without the docker CLI's config kept there. */
function du(): number {
  const dirs = readdirSync(d.root)
    .filter((n) => n !== "docker-config")
    .map((n) => join(d.root, n));
  const r = spawnSync("du", ["-s", "-B1", "-c", ...dirs], { encoding: "utf8" });
  return Number(r.stdout.trim().split("\n").at(-1)!.split("\t")[0]);
}

interface Df {
  LayersSize: number;
  Containers: { SizeRw: number }[];
  Volumes: { UsageData: { Size: number } }[];
  BuilderSize: number;
}

test("system df counts every byte under the root: images with their blobs, containers with their logs, volumes, build cache", async () => {
  ok(d.docker(["pull", `${registry.host}/df/pulled:1`]));
  ok(
    d.docker([
      "run",
      "--name",
      "writer",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "head -c 3000000 /dev/urandom > /big; i=0; while [ $i -lt 20000 ]; do echo log line $i of the container; i=$((i+1)); done",
    ]),
  );
  ok(
    d.docker([
      "run",
      "--rm",
      "-v",
      "dfdata:/data",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "head -c 2000000 /dev/urandom > /data/f",
    ]),
  );
  const context = await tarBuffer([
    file(
      "Dockerfile",
      "FROM busybox\nRUN head -c 1500000 /dev/urandom > /built\nRUN --mount=type=cache,target=/c head -c 1000000 /dev/urandom > /c/f\n",
    ),
  ]);
  const built = await d.api("POST", "/build?t=df:built", context, { "Content-Type": "application/x-tar" });
  assert.equal(built.status, 200);
  assert.doesNotMatch(built.body.toString(), /"error"/);
  // The built image's name goes: its layers stay, held by the build cache alone.
  ok(d.docker(["rmi", "df:built"]));

  const df = JSON.parse((await d.api("GET", "/system/df")).body.toString()) as Df;
  const total =
    df.LayersSize +
    df.Containers.reduce((s, c) => s + c.SizeRw, 0) +
    df.Volumes.reduce((s, v) => s + v.UsageData.Size, 0) +
    df.BuilderSize;
  const onDisk = du();
  // What df does not show: records, directories' own blocks, the snapshotter's metadata.
  assert.ok(
    Math.abs(onDisk - total) < MIB,
    `du says ${onDisk} bytes, system df ${total} (layers ${df.LayersSize}, builder ${df.BuilderSize})`,
  );
  assert.ok(df.BuilderSize > 2 * MIB, "the cache's layer and its cache mount count under the build cache");
  assert.ok(
    df.Containers.some((c) => c.SizeRw > 3 * MIB + 600_000),
    "a container counts with its log",
  );
});

test("every prune gives back the space it reports, at once", async () => {
  // What the first test left: a stopped container with its log, a volume, the build cache, a
  // pulled image; each prune's SpaceReclaimed is what du sees go.
  const prunes: [string, string][] = [
    ["POST", "/containers/prune"],
    ["POST", `/volumes/prune?filters=${encodeURIComponent('{"all":["true"]}')}`],
    ["POST", "/build/prune?all=1"],
    ["POST", `/images/prune?filters=${encodeURIComponent('{"dangling":["false"]}')}`],
  ];
  for (const [method, path] of prunes) {
    const before = du();
    const r = await d.api(method, path);
    assert.equal(r.status, 200, r.body.toString());
    const reported = (JSON.parse(r.body.toString()) as { SpaceReclaimed: number }).SpaceReclaimed;
    const freed = before - du();
    assert.ok(reported > 500_000, `${path}: it reports ${reported} bytes`);
    assert.ok(Math.abs(freed - reported) < MIB, `${path}: it reports ${reported} bytes, du saw ${freed} go`);
  }
});
