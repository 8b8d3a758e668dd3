import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type ImageRecord, ImageStore } from "../../../src/image/image-store.js";
import { parseReference } from "../../../src/image/reference.js";

const HEX = "a".repeat(64);

function record(): ImageRecord {
  const descriptor = {
    mediaType: "application/vnd.oci.image.config.v1+json",
    digest: `sha256:${HEX}`,
    size: 2,
  };
  return {
    id: `sha256:${HEX}`,
    manifest: { ...descriptor, digest: `sha256:${"b".repeat(64)}` },
    config: descriptor,
    layers: [],
    platform: { os: "linux", architecture: "amd64" },
    added: new Date(0).toISOString(),
  };
}

test("a name whose image record a crash took (rmi stopped half-way) is dropped when the store opens", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "berth-images-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = await new ImageStore(root).open();
  await store.put(record());
  await store.setRef(parseReference("crashed:1", { defaultTag: true }), `sha256:${HEX}`);
  // deleteRecord removes the record first: a crash before the names are saved leaves this.
  await rm(join(root, "images", `${HEX}.json`));
  const reopened = await new ImageStore(root).open();
  assert.equal(reopened.find("crashed:1"), undefined);
  assert.deepEqual(reopened.allRefs(), []);
  assert.deepEqual(reopened.all(), []);
});

test("deleteRecord removes the image and every name of it, for good", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "berth-images-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = await new ImageStore(root).open();
  await store.put(record());
  await store.setRef(parseReference("a:1", { defaultTag: true }), `sha256:${HEX}`);
  await store.setRef(parseReference("b:2", { defaultTag: true }), `sha256:${HEX}`);
  await store.deleteRecord(`sha256:${HEX}`);
  assert.deepEqual(store.allRefs(), []);
  const reopened = await new ImageStore(root).open();
  assert.deepEqual([reopened.all(), reopened.allRefs()], [[], []]);
});
