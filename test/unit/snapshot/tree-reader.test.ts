/**
 * The one way into an untrusted tree (snapshot/fsops.ts, tree-reader.ts, native berth-fsops):
 * paths resolve inside the root whatever the symlinks say, walks read what is there, writes
 * land inside. No privileges needed: these run the helper on a temporary directory.
 */
import assert from "node:assert/strict";
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { MissingDirectory } from "../../../src/snapshot/errors.js";
import { FsOpsBatch } from "../../../src/snapshot/fsops.js";
import {
  bodyBytes,
  listInTree,
  readFileInTree,
  statInTree,
  type TreeEntry,
  TreePathError,
  walkTree,
  withTreeReader,
} from "../../../src/snapshot/tree-reader.js";

let root: string;
let outside: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "berth-tree-"));
  outside = mkdtempSync(join(tmpdir(), "berth-outside-"));
  writeFileSync(join(outside, "secret"), "host");
  mkdirSync(join(root, "a/b"), { recursive: true });
  writeFileSync(join(root, "a/f"), "hello");
  writeFileSync(join(root, "a/b/g"), "deep");
  writeFileSync(join(root, "big"), Buffer.alloc(100_000, 7));
  linkSync(join(root, "a/f"), join(root, "a/f2"));
  symlinkSync("/a", join(root, "abs"));
  symlinkSync("../../../../a", join(root, "climb"));
  symlinkSync(outside, join(root, "out"));
  symlinkSync("/proc/self/root", join(root, "magic"));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

async function all(it: AsyncIterable<TreeEntry>): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test("a walk lists parents before children, names in order, without following symlinks", async () => {
  const entries = await all(walkTree(root, ""));
  assert.deepEqual(
    entries.map((e) => `${e.path}:${e.type}`),
    [
      ":directory",
      "a:directory",
      "a/b:directory",
      "a/b/g:file",
      "a/f:file",
      "a/f2:file",
      "abs:symlink",
      "big:file",
      "climb:symlink",
      "magic:symlink",
      "out:symlink",
    ],
  );
  const abs = entries.find((e) => e.path === "abs")!;
  assert.equal(abs.linkTarget, "/a");
  const [f, f2] = ["a/f", "a/f2"].map((p) => entries.find((e) => e.path === p)!);
  assert.equal(f!.ino, f2!.ino, "hard links show the same inode");
  assert.equal(f!.nlink, 2);
});

test("symlinks resolve inside the root: absolute, climbing and host-pointing ones alike", async () => {
  assert.equal((await readFileInTree(root, "abs/f"))?.toString(), "hello");
  assert.equal((await readFileInTree(root, "climb/b/g"))?.toString(), "deep");
  assert.equal((await readFileInTree(root, "../../../../a/f"))?.toString(), "hello");
  assert.equal(await readFileInTree(root, "out/secret"), undefined, "the host's directory is not reached");
  assert.equal(await readFileInTree(root, `${outside}/secret`), undefined);
  assert.equal(await readFileInTree(root, "magic/etc/passwd"), undefined, "no /proc magic links");
  const resolved = await statInTree(root, "climb/b", { follow: true, resolved: true });
  assert.equal(resolved?.linkTarget, "/a/b", "the resolved path is the one in the root");
  assert.equal((await statInTree(root, "abs"))?.type, "symlink", "not followed unless asked");
  assert.deepEqual(await listInTree(root, "abs"), ["b", "f", "f2"]);
  assert.equal(await listInTree(root, "big"), undefined);
});

test("contents come with their entries, limited when asked; a larger file is refused, not read", async () => {
  for await (const big of walkTree(root, "big", { content: true, limit: 10 })) {
    assert.equal(big.size, 100_000, "the size is the file's");
    assert.equal((await bodyBytes(big)).length, 10, "the body is the limit's");
  }
  const [late] = await all(walkTree(root, "a/f", { content: true }));
  await assert.rejects(bodyBytes(late!), /asked for after the next entry/);
  await assert.rejects(readFileInTree(root, "big", 1000), /larger than 1000 bytes/);
  let sum = 0;
  for await (const e of walkTree(root, "", { content: true })) sum += (await bodyBytes(e)).length;
  assert.equal(sum, 100_000 + 5 + 5 + 4);
});

test("a reader stays in step: missing paths in a batch, walks given up half-way", async () => {
  await withTreeReader(async (reader) => {
    const found = await reader.statMany(root, ["a/f", "nothing", "a/nothing/x", "big"]);
    assert.deepEqual(
      found.map((e) => e?.type),
      ["file", undefined, undefined, "file"],
    );
    // Given up on a file whose content is still coming: the rest is skipped, not misread.
    for await (const e of reader.walk(root, "", { content: true })) if (e.path === "big") break;
    assert.equal((await reader.readFile(root, "a/b/g"))?.toString(), "deep");
    await assert.rejects(
      (async () => {
        for await (const _ of reader.walk(root, "nothing"));
      })(),
      (err: unknown) => err instanceof TreePathError && err.missing && err.errno === "ENOENT",
    );
    assert.equal((await reader.readFile(root, "a/f"))?.toString(), "hello");
  });
});

test("a process root that is not the process named is refused", async () => {
  const self = { pid: process.pid, startTime: 1 };
  await assert.rejects(
    statInTree(self, "/"),
    (err: unknown) => err instanceof TreePathError && err.errno === "ESRCH",
  );
});

async function batch(
  options: ConstructorParameters<typeof FsOpsBatch>[1],
  ops: (b: FsOpsBatch) => Promise<void>,
) {
  const b = new FsOpsBatch(root, { durable: false, ...options });
  try {
    await ops(b);
    await b.finish();
  } catch (err) {
    await b.abort();
    throw err;
  }
}

const owner = { mode: 0o644, uid: 0, gid: 0 };

test("writes in the root follow its symlinks inside it, and never leave it", async () => {
  await batch({ inRoot: true }, async (b) => {
    await b.mkdir("abs", { ...owner, mode: 0o755 }, true);
    await b.file("abs/new", owner, 1, [Buffer.from("n")]);
    await b.file("climb/new2", owner, 1, [Buffer.from("m")]);
  });
  assert.equal(
    readFileSync(join(root, "a/new"), "utf8"),
    "n",
    "a symlinked directory is kept and written through",
  );
  assert.equal(readFileSync(join(root, "a/new2"), "utf8"), "m");
  await assert.rejects(
    batch({ inRoot: true }, (b) => b.file("out/pwned", owner, 1, [Buffer.from("x")])),
    /open parent directory "out"/,
  );
  assert.equal(existsSync(join(outside, "pwned")), false);
});

test("a layer's writes refuse any symlink on the way; a missing directory is its own error", async () => {
  await assert.rejects(
    batch({}, (b) => b.file("abs/x", owner, 1, [Buffer.from("x")])),
    /open parent directory/,
  );
  await assert.rejects(
    batch({}, (b) => b.file("out/x", owner, 1, [Buffer.from("x")])),
    /open parent directory/,
  );
  assert.equal(existsSync(join(outside, "x")), false);
  await batch({ dir: "abs" }, (b) => b.file("via-dir", owner, 1, [Buffer.from("d")]));
  assert.equal(readFileSync(join(root, "a/via-dir"), "utf8"), "d", "--dir resolves in the root");
  await assert.rejects(
    batch({ dir: "out" }, (b) => b.file("x", owner, 1, [Buffer.from("x")])),
    (err: unknown) => err instanceof MissingDirectory,
  );
  assert.equal(existsSync(join(outside, "x")), false);
});
