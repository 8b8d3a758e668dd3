import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CopySnapshotter } from "../../../src/snapshot/copy.js";
import { withMounted } from "../../../src/snapshot/mount.js";
import { OverlaySnapshotter } from "../../../src/snapshot/overlay.js";
import type { Snapshotter } from "../../../src/snapshot/snapshotter.js";
import { unpackLayer } from "../../../src/snapshot/unpack.js";
import { dir, file, tarBuffer } from "../../helpers/tar.js";

const work = mkdtempSync(join(tmpdir(), "berth-snap-"));
after(() => rmSync(work, { recursive: true, force: true }));

async function layer(
  s: Snapshotter,
  name: string,
  parent: string | undefined,
  entries: Parameters<typeof tarBuffer>[0],
) {
  const key = `extract-${name}`;
  await s.prepare(key, parent);
  await unpackLayer([await tarBuffer(entries)], await s.upperDir(key), s.whiteouts);
  await s.commit(name, key);
}

for (const make of [(r: string) => new OverlaySnapshotter(r), (r: string) => new CopySnapshotter(r)]) {
  const kind = make("/x").name;
  test(`${kind}: a container sees its image's layers, whiteouts applied, and writes to its own layer`, async () => {
    const s = await make(mkdtempSync(join(work, kind))).open();
    await layer(s, "l1", undefined, [
      dir("etc/"),
      file("etc/passwd", "root"),
      file("etc/motd", "hello"),
      dir("var/cache/"),
      file("var/cache/a", "a"),
    ]);
    await layer(s, "l2", "l1", [
      file("etc/.wh.motd", ""),
      file("var/cache/.wh..wh..opq", ""),
      file("var/cache/b", "b"),
    ]);
    const mounts = await s.prepare("container", "l2");
    await withMounted(mounts, async (root) => {
      assert.equal(readFileSync(join(root, "etc/passwd"), "utf8"), "root");
      assert.equal(existsSync(join(root, "etc/motd")), false);
      assert.equal(existsSync(join(root, "var/cache/a")), false);
      assert.equal(readFileSync(join(root, "var/cache/b"), "utf8"), "b");
      writeFileSync(join(root, "etc/passwd"), "changed");
    });
    // The layers are unchanged, the container's own directory has the change.
    await withMounted(await s.view("check", "l2"), async (root) => {
      assert.equal(readFileSync(join(root, "etc/passwd"), "utf8"), "root");
    });
    await assert.rejects(s.remove("l2"), /is the parent of/);
    for (const k of ["check", "container", "l2", "l1"]) await s.remove(k);
    assert.deepEqual(await s.list(), []);
  });
}

test("an image of 150 layers mounts, every layer visible", async () => {
  const s = await new OverlaySnapshotter(mkdtempSync(join(work, "deep"))).open();
  let parent: string | undefined;
  for (let i = 0; i < 150; i++) {
    await layer(s, `l${i}`, parent, [file(`layer${i}`, String(i))]);
    parent = `l${i}`;
  }
  const mounts = await s.prepare("c", parent);
  assert.ok(mounts[0]!.cwd, "relative lowerdirs");
  await withMounted(mounts, async (root) => {
    for (const i of [0, 1, 75, 149]) assert.equal(readFileSync(join(root, `layer${i}`), "utf8"), String(i));
  });
});

test("a snapshot directory left by a crash, with no record, is removed when the store opens", async () => {
  const root = mkdtempSync(join(work, "crash"));
  const s = await new OverlaySnapshotter(root).open();
  await s.prepare("a");
  const { mkdirSync, readdirSync } = await import("node:fs");
  mkdirSync(join(root, "snapshots/orphan/fs"), { recursive: true });
  await new OverlaySnapshotter(root).open();
  assert.equal(readdirSync(join(root, "snapshots")).length, 1);
});
