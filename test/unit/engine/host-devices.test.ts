import assert from "node:assert/strict";
import { test } from "node:test";
import { major, minor } from "../../../src/engine/host-devices.js";

/** glibc's makedev, in arithmetic that survives past 32 bits. */
function makedev(ma: number, mi: number): number {
  const low = ((ma & 0xfff) << 8) | (mi & 0xff) | ((mi & 0xfff00) << 12);
  return (low >>> 0) + (ma & ~0xfff) * 2 ** 32;
}

test("device numbers split as glibc does, including majors above 255 and large minors", () => {
  for (const [ma, mi] of [
    [1, 3],
    [203, 0],
    [259, 1],
    [4095, 1048575],
    [8192, 7],
  ] as const) {
    const rdev = makedev(ma, mi);
    assert.deepEqual([major(rdev), minor(rdev)], [ma, mi], `makedev(${ma}, ${mi}) = ${rdev}`);
  }
});
