import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FsOpsBatch } from "../../../src/snapshot/fsops.js";
import { withTreeReader } from "../../../src/snapshot/tree-reader.js";
import { unpackLayer } from "../../../src/snapshot/unpack.js";
import { dir, file, hardlink, symlink, tarBuffer } from "../../helpers/tar.js";

/** The extended attributes of `paths` in `dir`, as the tree reader reports them. */
async function readXattrs(dir: string, paths: string[]): Promise<Map<string, Map<string, Buffer>>> {
  const entries = await withTreeReader((r) => r.statMany(dir, paths, { xattrs: true }));
  return new Map(paths.map((p, i) => [p, entries[i]?.xattrs ?? new Map()]));
}

const work = mkdtempSync(join(tmpdir(), "berth-unpack-"));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
function layerDir(): string {
  const d = join(work, `layer${n++}`);
  mkdirSync(d);
  return d;
}
// A directory outside every layer that an escaping entry would hit.
const outside = join(work, "outside");
mkdirSync(outside);
writeFileSync(join(outside, "victim"), "original");

const CAP = Buffer.from("0100000200200000000000000000000000000000", "hex");

test("every tar entry type is unpacked with owner, mode, mtime and xattrs", async () => {
  const d = layerDir();
  const tar = await tarBuffer([
    dir("usr/", { mtime: 1_000_000 }),
    dir("usr/bin/", { mtime: 1_000_001, mode: 0o755 }),
    file("usr/bin/su", "#!su", { mode: 0o4755, uid: 0, gid: 0, mtime: 1_500_000 }),
    file("usr/bin/wall", "w", { mode: 0o2755, uid: 0, gid: 5 }),
    dir("tmp/", { mode: 0o1777 }),
    file("home/u/notes", "hi", { uid: 1000, gid: 1000, mode: 0o600 }),
    symlink("usr/bin/sudo", "su"),
    hardlink("usr/bin/su2", "usr/bin/su"),
    { header: { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 } },
    { header: { name: "dev/loop0", type: "block", mode: 0o660, devmajor: 7, devminor: 0, gid: 6 } },
    { header: { name: "run/fifo", type: "fifo", mode: 0o620 } },
    file("bin/ping", "ping", { mode: 0o755, xattrs: new Map([["security.capability", CAP]]) }),
    file("etc/x", "x", {
      xattrs: new Map([
        ["trusted.overlay.redirect", Buffer.from("/etc")],
        ["user.a", Buffer.from("b")],
      ]),
    }),
  ]);
  const stats = await unpackLayer([tar], d, "overlay");
  assert.equal(stats.entries, 13);
  const st = (p: string) => lstatSync(join(d, p));
  assert.equal(st("usr/bin/su").mode & 0o7777, 0o4755);
  assert.equal(st("usr/bin/su").mtimeMs, 1_500_000_000);
  assert.equal(st("usr/bin/wall").mode & 0o7777, 0o2755);
  assert.equal(st("usr/bin/wall").gid, 5);
  assert.equal(st("tmp").mode & 0o7777, 0o1777);
  assert.equal(st("home/u/notes").uid, 1000);
  assert.equal(readFileSync(join(d, "home/u/notes"), "utf8"), "hi");
  assert.equal(readlinkSync(join(d, "usr/bin/sudo")), "su");
  assert.equal(st("usr/bin/su2").ino, st("usr/bin/su").ino);
  assert.ok(st("dev/null").isCharacterDevice());
  assert.equal(st("dev/null").rdev, (1 << 8) | 3);
  assert.ok(st("dev/loop0").isBlockDevice());
  assert.equal(st("dev/loop0").gid, 6);
  assert.ok(st("run/fifo").isFIFO());
  assert.equal(st("run/fifo").mode & 0o777, 0o620);
  // Directory mtimes are set after their content was written.
  assert.equal(st("usr").mtimeMs, 1_000_000_000);
  assert.equal(st("usr/bin").mtimeMs, 1_000_001_000);
  const x = await readXattrs(d, ["bin/ping", "etc/x"]);
  assert.deepEqual(x.get("bin/ping")!.get("security.capability"), CAP);
  assert.equal(x.get("etc/x")!.get("user.a")!.toString(), "b");
  assert.equal(
    x.get("etc/x")!.has("trusted.overlay.redirect"),
    false,
    "overlay attributes from a tar are dropped",
  );
});

test("OCI whiteouts become overlayfs whiteouts and opaque directories", async () => {
  const d = layerDir();
  await unpackLayer(
    [
      await tarBuffer([
        dir("etc/"),
        file("etc/.wh.passwd", ""),
        dir("var/cache/"),
        file("var/cache/.wh..wh..opq", ""),
        file("var/cache/new", "n"),
      ]),
    ],
    d,
    "overlay",
  );
  const wh = lstatSync(join(d, "etc/passwd"));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(existsSync(join(d, "etc/.wh.passwd")), false);
  const x = await readXattrs(d, ["var/cache"]);
  assert.equal(x.get("var/cache")!.get("trusted.overlay.opaque")!.toString(), "y");
  assert.equal(readFileSync(join(d, "var/cache/new"), "utf8"), "n");
});

test("in apply mode whiteouts delete from the tree below, and opaque keeps only this layer's entries", async () => {
  const d = layerDir();
  await unpackLayer(
    [await tarBuffer([file("etc/passwd", "p"), file("var/cache/old", "o"), file("var/cache/sub/deep", "d")])],
    d,
    "apply",
  );
  await unpackLayer(
    [
      await tarBuffer([
        file("var/cache/mine", "m"),
        file("var/cache/.wh..wh..opq", ""),
        file("etc/.wh.passwd", ""),
      ]),
    ],
    d,
    "apply",
  );
  assert.equal(existsSync(join(d, "etc/passwd")), false);
  assert.equal(existsSync(join(d, "var/cache/old")), false);
  assert.equal(existsSync(join(d, "var/cache/sub")), false);
  assert.equal(readFileSync(join(d, "var/cache/mine"), "utf8"), "m");
});

const escapes: [string, () => Promise<Buffer>, RegExp][] = [
  ["a `..` path", () => tarBuffer([file("../../outside/victim", "pwned")]), /climbs out of the layer/],
  ["a `..` in the middle", () => tarBuffer([file("a/../../outside/victim", "pwned")]), /climbs out/],
  [
    "a write through an absolute symlink",
    () => tarBuffer([symlink("evil", outside), file("evil/victim", "pwned")]),
    /goes through the symlink "evil"/,
  ],
  [
    "a write through a relative symlink climbing out",
    () => tarBuffer([symlink("evil", "../../../../../../.."), file(`evil${outside}/victim`, "pwned")]),
    /goes through the symlink/,
  ],
  ["a hard link climbing out", () => tarBuffer([hardlink("h", "../outside/victim")]), /climbs out/],
  [
    "a hard link to an absolute host path",
    () => tarBuffer([hardlink("h", `${outside}/victim`)]),
    /not an earlier file/,
  ],
  [
    "a hard link through a symlink",
    () => tarBuffer([symlink("s", outside), hardlink("h", "s/victim")]),
    /goes through the symlink/,
  ],
];
for (const [what, make, message] of escapes) {
  test(`a layer with ${what} is refused and nothing outside changes`, async () => {
    const d = layerDir();
    await assert.rejects(unpackLayer([await make()], d, "overlay"), message);
    assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
    assert.equal(lstatSync(join(outside, "victim")).nlink, 1);
  });
}

test("an absolute entry name lands inside the layer", async () => {
  const d = layerDir();
  await unpackLayer([await tarBuffer([file(`${outside}/victim`, "inside")])], d, "overlay");
  assert.equal(readFileSync(join(d, outside, "victim"), "utf8"), "inside");
  assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
});

test("a file replacing a symlink to the host replaces the link, it does not write through it", async () => {
  const d = layerDir();
  await unpackLayer(
    [await tarBuffer([symlink("x", `${outside}/victim`), file("x", "inside")])],
    d,
    "overlay",
  );
  assert.equal(readFileSync(join(d, "x"), "utf8"), "inside");
  assert.equal(readFileSync(join(outside, "victim"), "utf8"), "original");
});

test("the helper itself refuses paths that leave its directory (RESOLVE_BENEATH)", async () => {
  const d = layerDir();
  mkdirSync(join(d, "sub"));
  const { symlinkSync } = await import("node:fs");
  symlinkSync(outside, join(d, "sub/link"));
  for (const path of ["../outside/victim2", "sub/link/victim2", `sub/../../outside/victim2`]) {
    const ops = new FsOpsBatch(d);
    await ops.file(path, { mode: 0o644, uid: 0, gid: 0 }, 1, [Buffer.from("x")]);
    await assert.rejects(ops.finish(), /open parent directory|bad last path/);
    assert.equal(existsSync(join(outside, "victim2")), false);
  }
});

test("a truncated layer is an error", async () => {
  const tar = await tarBuffer([file("big", "x".repeat(5000))]);
  await assert.rejects(unpackLayer([tar.subarray(0, 2000)], layerDir(), "overlay"), /truncated inside big/);
});
