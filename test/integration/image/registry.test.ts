import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { importBusybox } from "../../../src/image/import.js";
import { MediaType } from "../../../src/image/manifest.js";
import { hostPlatform, parsePlatform } from "../../../src/image/platform.js";
import type { ProgressEvent } from "../../../src/image/progress.js";
import { withMounted } from "../../../src/snapshot/mount.js";
import {
  anonymousClient,
  layerTar,
  openStore,
  pushTestImage,
  pushTestIndex,
  type TestStore,
} from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

describe("an anonymous registry", () => {
  let registry: TestRegistry;
  let store: TestStore;
  before(async () => {
    registry = await startRegistry();
    store = await openStore();
  });
  after(async () => {
    await registry?.stop();
    store?.remove();
  });

  test("an image pushed, removed locally and pulled back has the same digests", async () => {
    const s = store.service;
    const local = await importBusybox(s, "busybox:latest");
    const ref = `${registry.host}/test/busybox:v1`;
    await s.tag("busybox", ref);
    const events: ProgressEvent[] = [];
    const pushed = await s.push(ref, { onProgress: (e) => events.push(e) });
    assert.equal(pushed.digest, local.manifest.digest);
    assert.ok(events.some((e) => e.status === "Pushed"));
    await s.remove("busybox");
    const removed = await s.remove(ref);
    assert.equal(s.images.all().length, 0);
    assert.equal(removed.layers.length, 1, "its layer went with it");
    const gc = await s.gc();
    assert.ok(gc.blobs === 0 && gc.snapshots === 0, `nothing left to collect: ${JSON.stringify(gc)}`);
    const pullEvents: ProgressEvent[] = [];
    const pulled = await s.pull(ref, { onProgress: (e) => pullEvents.push(e) });
    assert.equal(pulled.id, local.id);
    assert.equal(pulled.manifest.digest, local.manifest.digest);
    assert.deepEqual(
      pulled.layers.map((l) => l.chainId),
      local.layers.map((l) => l.chainId),
    );
    const statuses = pullEvents.map((e) => e.status);
    for (const s of [
      "Pulling fs layer",
      "Downloading",
      "Download complete",
      "Pull complete",
      `Digest: ${local.manifest.digest}`,
    ])
      assert.ok(statuses.includes(s), `${s} in ${statuses.join(", ")}`);
    assert.equal(statuses.at(-1), `Status: Downloaded newer image for ${ref}`);
    // The rootfs mounts and has busybox in it.
    await withMounted(await s.prepareRootfs("c1", ref), async (root) => {
      assert.deepEqual(readFileSync(join(root, "bin/busybox")), readFileSync("/bin/busybox"));
    });
    await s.snapshotter.remove("c1");
    // Pulling again changes nothing.
    const again: ProgressEvent[] = [];
    await s.pull(ref, { onProgress: (e) => again.push(e) });
    assert.ok(again.some((e) => e.status === "Already exists"));
    assert.equal(again.at(-1)!.status, `Status: Image is up to date for ${ref}`);
  });

  test("the copying snapshotter pulls and mounts the same image where overlayfs is unavailable", async () => {
    const client = anonymousClient(registry.host);
    await pushTestImage(client, "copy/img", "1", [
      await layerTar({ "etc/a": "a", "etc/b": "b" }),
      await layerTar({ "etc/.wh.a": "", "etc/c": "c" }),
      await layerTar({ "etc/d": "d" }),
    ]);
    const copy = await openStore(undefined, { copy: true });
    try {
      const image = await copy.service.pull(`${registry.host}/copy/img:1`);
      assert.equal(image.layers.length, 3);
      await withMounted(
        await copy.service.prepareRootfs("c", `${registry.host}/copy/img:1`),
        async (root) => {
          assert.deepEqual(readdirSync(join(root, "etc")).sort(), ["b", "c", "d"]);
        },
      );
    } finally {
      copy.remove();
    }
  });

  test("a pull with one download slot and many layers completes (slots are taken in layer order)", async () => {
    const client = anonymousClient(registry.host);
    const tars = [];
    for (let i = 0; i < 6; i++) tars.push(await layerTar({ [`layer${i}`]: "x".repeat(1000 * (6 - i)) }));
    await pushTestImage(client, "slots/img", "1", tars);
    const one = await openStore(undefined, { concurrency: 1 });
    try {
      const image = await one.service.pull(`${registry.host}/slots/img:1`);
      assert.equal(image.layers.length, 6);
    } finally {
      one.remove();
    }
  });

  test("an index offers one manifest per platform: the host's by default, another on request", async () => {
    const client = anonymousClient(registry.host);
    const amd = await pushTestImage(client, "multi/img", "amd", [await layerTar({ arch: "amd64" })], {
      oci: true,
    });
    const arm = await pushTestImage(client, "multi/img", "arm", [await layerTar({ arch: "arm64" })], {
      oci: true,
      architecture: "arm64",
    });
    const { digest: indexDigest } = await pushTestIndex(client, "multi/img", "1", [
      { manifest: amd.manifest, platform: { os: "linux", architecture: "amd64" } },
      { manifest: arm.manifest, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ]);
    const s = store.service;
    const arm64 = await s.pull(`${registry.host}/multi/img:1`, { platform: parsePlatform("linux/arm64") });
    assert.equal(arm64.platform.architecture, "arm64");
    assert.equal(arm64.manifest.digest, arm.manifest.digest);
    assert.equal(arm64.index?.digest, indexDigest);
    const host = await s.pull(`${registry.host}/multi/img:1`);
    assert.equal(host.platform.architecture, hostPlatform().architecture);
    assert.equal(s.resolve(`${registry.host}/multi/img@${indexDigest}`).id, host.id);
    await assert.rejects(
      s.pull(`${registry.host}/multi/img:1`, { platform: parsePlatform("linux/s390x") }),
      /no manifest for platform linux\/s390x/,
    );
  });

  test("zstd-compressed OCI layers are pulled (through the zstd program)", async () => {
    const client = anonymousClient(registry.host);
    await pushTestImage(client, "zstd/img", "1", [await layerTar({ "etc/zstd": "z" })], {
      oci: true,
      compress: "zstd",
    });
    const image = await store.service.pull(`${registry.host}/zstd/img:1`);
    assert.equal(image.layers[0]!.mediaType, MediaType.OciLayerZstd);
    await withMounted(await store.service.prepareRootfs("z", image.id), async (root) => {
      assert.equal(readFileSync(join(root, "etc/zstd"), "utf8"), "z");
    });
    await store.service.snapshotter.remove("z");
  });

  test("two images sharing layers store and unpack the shared ones once", async () => {
    const client = anonymousClient(registry.host);
    const base = await layerTar({ "etc/base": "base" });
    const a = await pushTestImage(client, "shared/a", "1", [base, await layerTar({ a: "a" })]);
    const b = await pushTestImage(client, "shared/b", "1", [base, await layerTar({ b: "b" })], { oci: true });
    assert.equal(a.chainIds[0], b.chainIds[0]);
    const s = store.service;
    const before = (await s.snapshotter.list()).length;
    await s.pull(`${registry.host}/shared/a:1`);
    const events: ProgressEvent[] = [];
    await s.pull(`${registry.host}/shared/b:1`, { onProgress: (e) => events.push(e) });
    assert.ok(events.some((e) => e.status === "Already exists" && a.layers[0]!.digest.includes(e.id!)));
    const snapshots = (await s.snapshotter.list()).filter((x) => x.kind === "committed");
    assert.equal(snapshots.length - before, 3, "base, a and b: three layer snapshots");
    const blobs = await s.content.list();
    assert.equal(blobs.filter((d) => d === a.layers[0]!.digest).length, 1);
  });
});
