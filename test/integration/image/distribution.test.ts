/** `GET /distribution/{name}/json`: a registry's descriptor and platforms for a name, no pull. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MediaType } from "../../../src/image/manifest.js";
import { DaemonFixture } from "../../helpers/daemon.js";
import {
  anonymousClient,
  type PushedImage,
  pushTestImage,
  pushTestIndex,
  randomLayer,
} from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

const d = new DaemonFixture();
let registry: TestRegistry;
let single: PushedImage;
let index: { digest: string; size: number };

before(async () => {
  registry = await startRegistry();
  const client = anonymousClient(registry.host);
  single = await pushTestImage(client, "dist/app", "single", [await randomLayer("a", 1000)]);
  const arm = await pushTestImage(client, "dist/app", "arm", [await randomLayer("b", 1000)], {
    architecture: "arm64",
  });
  index = await pushTestIndex(client, "dist/app", "multi", [
    { manifest: single.manifest, platform: { architecture: "amd64", os: "linux" } },
    { manifest: arm.manifest, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
  ]);
  await d.start();
});
after(async () => {
  await d.cleanup();
  await registry?.stop();
});

async function inspect(name: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await d.api("GET", `/distribution/${name}/json`);
  return { status: r.status, body: JSON.parse(r.body.toString()) as Record<string, unknown> };
}

test("a single manifest: its descriptor, and the platform its config says", async () => {
  const r = await inspect(`${registry.host}/dist/app:single`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, {
    Descriptor: {
      mediaType: MediaType.DockerManifest,
      digest: single.manifest.digest,
      size: single.manifest.size,
    },
    Platforms: [{ architecture: "amd64", os: "linux" }],
  });
  assert.equal((await d.api("GET", "/images/json")).body.toString(), "[]", "nothing was pulled");
});

test("an index: its own descriptor, and every platform it lists", async () => {
  const r = await inspect(`${registry.host}/dist/app:multi`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, {
    Descriptor: { mediaType: MediaType.OciIndex, ...index },
    Platforms: [
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ],
  });
  // By digest, the same.
  const byDigest = await inspect(`${registry.host}/dist/app@${index.digest}`);
  assert.deepEqual(byDigest.body["Descriptor"], r.body["Descriptor"]);
});

test("an unknown tag is a 404 and a bad name a 400, each with a message", async () => {
  const unknown = await inspect(`${registry.host}/dist/app:nope`);
  assert.equal(unknown.status, 404);
  assert.match(String(unknown.body["message"]), /manifest unknown|not found/i);
  const bad = await inspect("UPPER/Case");
  assert.equal(bad.status, 400);
  assert.match(String(bad.body["message"]), /invalid reference|repository name must be lowercase/i);
});
