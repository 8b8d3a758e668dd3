import assert from "node:assert/strict";
import { test } from "node:test";
import { OverlaySnapshotter, overlayMount, PAGE_SIZE } from "../../../src/snapshot/overlay.js";

const id = (i: number) => i.toString(16).padStart(12, "0");

test("a shallow image mounts with absolute paths", () => {
  const m = overlayMount({
    snapshotsDir: "/var/lib/berth/overlay/snapshots",
    lowers: [id(2), id(1)],
    upper: id(3),
  });
  assert.equal(m.cwd, undefined);
  assert.deepEqual(m.options, [
    `lowerdir=/var/lib/berth/overlay/snapshots/${id(2)}/fs:/var/lib/berth/overlay/snapshots/${id(1)}/fs`,
    `upperdir=/var/lib/berth/overlay/snapshots/${id(3)}/fs`,
    `workdir=/var/lib/berth/overlay/snapshots/${id(3)}/work`,
    "index=off",
  ]);
});

test("150 layers switch to relative lowerdirs from a cwd and fit in one page", () => {
  const lowers = Array.from({ length: 150 }, (_, i) => id(150 - i));
  const m = overlayMount({ snapshotsDir: "/var/lib/berth/overlay/snapshots", lowers, upper: id(999) });
  assert.equal(m.cwd, "/var/lib/berth/overlay/snapshots");
  const text = m.options.join(",");
  assert.ok(text.length < PAGE_SIZE, `${text.length} bytes`);
  assert.ok(m.options[0]!.startsWith(`lowerdir=${id(150)}/fs:${id(149)}/fs:`));
  assert.ok(m.options[0]!.endsWith(`:${id(1)}/fs`));
  assert.equal(m.options[1], `upperdir=${id(999)}/fs`);
});

test("250 layers still fit in a page", () => {
  const lowers = Array.from({ length: 250 }, (_, i) => id(i));
  assert.ok(
    overlayMount({ snapshotsDir: "/x", lowers, upper: id(999) }).options.join(",").length < PAGE_SIZE,
  );
});

test("the snapshotter's names are short enough for that", () => {
  assert.equal(new OverlaySnapshotter("/tmp/x").name, "overlayfs");
});
