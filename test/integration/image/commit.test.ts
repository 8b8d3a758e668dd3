import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { commitSnapshot } from "../../../src/image/commit.js";
import { importImage } from "../../../src/image/import.js";
import { diffUpperDir } from "../../../src/snapshot/diff.js";
import { withMounted } from "../../../src/snapshot/mount.js";
import { readTar } from "../../../src/util/tar/reader.js";
import { openStore, type TestStore } from "../../helpers/images.js";
import { dir, file, symlink, tarBuffer } from "../../helpers/tar.js";

let store: TestStore;
before(async () => {
  store = await openStore();
});
after(() => store?.remove());

for (const copy of [false, true])
  test(`${copy ? "copy" : "overlay"}: a container's changes become a layer with whiteouts, and a new image shows them`, async () => {
    const st = copy ? await openStore(undefined, { copy: true }) : store;
    const s = st.service;
    await importImage(
      s,
      [
        await tarBuffer([
          dir("etc/"),
          file("etc/passwd", "root"),
          file("etc/keep", "k"),
          dir("var/lib/"),
          file("var/lib/old", "o"),
          symlink("bin", "usr/bin"),
        ]),
      ],
      { reference: "base:1", config: { Cmd: ["sh"] } },
    );
    await s.prepareRootfs("c1", "base:1");
    await withMounted(await s.snapshotter.mounts("c1"), async (root) => {
      writeFileSync(join(root, "etc/new"), "new");
      unlinkSync(join(root, "etc/passwd"));
      rmSync(join(root, "var/lib"), { recursive: true });
      mkdirSync(join(root, "var/lib"));
      writeFileSync(join(root, "var/lib/fresh"), "f");
    });
    const names: string[] = [];
    if (!copy) {
      for await (const e of readTar(diffUpperDir(await s.snapshotter.upperDir("c1"))))
        names.push(e.header.name);
      assert.ok(names.includes("etc/.wh.passwd"), names.join(" "));
      assert.ok(names.includes("etc/new"));
      assert.ok(names.includes("var/lib/.wh..wh..opq"));
      assert.ok(!names.includes("etc/keep"));
    }

    const committed = await commitSnapshot(s, "c1", "base:1", {
      reference: "derived:1",
      config: { Cmd: ["echo", "hi"] },
    });
    assert.equal(committed.layers.length, 2);
    assert.deepEqual((await s.config(committed)).config?.Cmd, ["echo", "hi"]);
    await withMounted(await s.prepareRootfs("c2", "derived:1"), async (root) => {
      assert.equal(readFileSync(join(root, "etc/new"), "utf8"), "new");
      assert.equal(existsSync(join(root, "etc/passwd")), false);
      assert.equal(readFileSync(join(root, "etc/keep"), "utf8"), "k");
      assert.equal(existsSync(join(root, "var/lib/old")), false);
      assert.equal(readFileSync(join(root, "var/lib/fresh"), "utf8"), "f");
    });
    for (const k of ["c1", "c2"]) await s.snapshotter.remove(k);
    if (copy) st.remove();
  });

test("an image used by a container cannot be removed; unused ones are pruned", async () => {
  const inUse = new Set<string>();
  const st = await openStore(undefined, { inUse: (id) => inUse.has(id) });
  try {
    const img = await importImage(st.service, [await tarBuffer([file("a", "a")])], { reference: "used:1" });
    inUse.add(img.id);
    await assert.rejects(st.service.remove("used:1"), /used by a container/);
    inUse.clear();
    await st.service.tag("used:1", "used:2");
    assert.deepEqual(await st.service.remove("used:1"), {
      untagged: ["docker.io/library/used:1"],
      deleted: [],
      layers: [],
    });
    const r = await st.service.remove("used:2");
    assert.deepEqual(r.deleted, [img.id]);
    await importImage(st.service, [await tarBuffer([file("b", "b")])]);
    const pruned = await st.service.prune();
    assert.equal(pruned.deleted.length, 1);
    assert.ok(pruned.spaceReclaimed > 0);
    assert.deepEqual(await st.service.content.list(), []);
    assert.deepEqual(await st.service.snapshotter.list(), []);
  } finally {
    st.remove();
  }
});

test("GC keeps the layers under a container's snapshot even when no image names them any more", async () => {
  const st = await openStore();
  try {
    const img = await importImage(st.service, [await tarBuffer([file("a", "a")])], { reference: "gone:1" });
    await st.service.prepareRootfs("container", "gone:1");
    // rmi collects at once: the blobs go, the layer under the container stays.
    const removed = await st.service.remove("gone:1");
    assert.deepEqual(removed.layers, []);
    assert.deepEqual(await st.service.content.list(), [], "manifest, config and layer blobs go");
    assert.ok(await st.service.snapshotter.stat(img.layers[0]!.chainId));
    await st.service.snapshotter.remove("container");
    assert.equal((await st.service.gc()).snapshots, 1);
    assert.deepEqual(await st.service.snapshotter.list(), []);
  } finally {
    st.remove();
  }
});
