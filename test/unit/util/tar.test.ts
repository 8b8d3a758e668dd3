import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readTar } from "../../../src/util/tar/reader.js";
import { type TarInput, writeTar } from "../../../src/util/tar/writer.js";

async function collect(gen: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of gen) parts.push(c);
  return Buffer.concat(parts);
}

function* chunked(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

const longName = `${"d".repeat(120)}/${"f".repeat(120)}`;
const entries: TarInput[] = [
  { header: { name: "dir/", type: "directory", mode: 0o1777, mtime: 1700000000 } },
  {
    header: {
      name: "dir/file",
      type: "file",
      mode: 0o4755,
      uid: 1000,
      gid: 1001,
      size: 5,
      mtime: 1700000000.5,
    },
    body: Buffer.from("hello"),
  },
  { header: { name: "dir/link", type: "symlink", linkname: "file" } },
  { header: { name: "dir/hard", type: "link", linkname: "dir/file" } },
  { header: { name: "dev/null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 } },
  { header: { name: "dev/sda", type: "block", mode: 0o660, devmajor: 8, devminor: 0 } },
  { header: { name: "fifo", type: "fifo", mode: 0o600 } },
  { header: { name: longName, type: "file", size: 3, uid: 5_000_000 }, body: Buffer.from("big") },
  {
    header: {
      name: "ping",
      type: "file",
      size: 0,
      xattrs: new Map([
        ["security.capability", Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
        ["user.note", Buffer.from("x")],
      ]),
    },
  },
];

test("tar writer and reader round-trip every entry type, long names, big ids, xattrs", async () => {
  const tar = await collect(writeTar(entries));
  assert.equal(tar.length % 512, 0);
  // Feed it back in awkward chunk sizes, so that headers and bodies straddle chunks.
  const seen: { name: string; data: string }[] = [];
  for await (const e of readTar(chunked(tar, 7))) {
    const data = (await collect(e.body)).toString();
    seen.push({ name: e.header.name, data });
    const input = entries.find((x) => x.header.name === e.header.name)!;
    assert.ok(input, e.header.name);
    assert.equal(e.header.type, input.header.type);
    for (const key of ["mode", "uid", "gid", "mtime", "linkname", "devmajor", "devminor"] as const)
      if (input.header[key] !== undefined)
        assert.equal(e.header[key], input.header[key], `${e.header.name} ${key}`);
    if (input.header.xattrs) assert.deepEqual(e.header.xattrs, input.header.xattrs);
  }
  assert.deepEqual(
    seen.map((s) => s.name),
    entries.map((e) => e.header.name),
  );
  assert.equal(seen[1]!.data, "hello");
  assert.equal(seen[7]!.data, "big");
});

test("GNU tar reads what the writer wrote, and the reader reads GNU tar's pax output", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-tar-"));
  try {
    const tar = await collect(writeTar(entries.filter((e) => !["char", "block"].includes(e.header.type))));
    writeFileSync(join(dir, "a.tar"), tar);
    const listing = execFileSync("tar", ["-tvf", join(dir, "a.tar")], { encoding: "utf8" });
    assert.match(listing, /-rwsr-xr-x 1000\/1001\s+5 .* dir\/file/);
    assert.ok(listing.includes(longName));
    mkdirSync(join(dir, "src/sub"), { recursive: true });
    writeFileSync(join(dir, "src/sub/x"), "data");
    execFileSync("tar", ["--format=pax", "-cf", join(dir, "b.tar"), "-C", join(dir, "src"), "."]);
    const names: string[] = [];
    for await (const e of readTar(chunked(readFileSync(join(dir, "b.tar")), 1000))) {
      names.push(e.header.name);
      if (e.header.name.endsWith("x")) assert.equal((await collect(e.body)).toString(), "data");
    }
    assert.deepEqual(names.sort(), ["./", "./sub/", "./sub/x"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a truncated tar stream is an error naming the entry", async () => {
  const tar = await collect(
    writeTar([{ header: { name: "f", type: "file", size: 2000 }, body: Buffer.alloc(2000) }]),
  );
  await assert.rejects(async () => {
    for await (const e of readTar([tar.subarray(0, 1200)])) await collect(e.body);
  }, /truncated inside f/);
  await assert.rejects(async () => {
    for await (const _ of readTar([Buffer.alloc(512, 1)]));
  }, /checksum/);
});

test("bodies a consumer skips are skipped", async () => {
  const tar = await collect(
    writeTar([
      { header: { name: "a", type: "file", size: 700 }, body: Buffer.alloc(700, 1) },
      { header: { name: "b", type: "file", size: 1 }, body: Buffer.from("z") },
    ]),
  );
  const names: string[] = [];
  for await (const e of readTar(chunked(tar, 100))) {
    names.push(e.header.name);
    if (e.header.name === "a") {
      for await (const _ of e.body) break; // read a little, then stop
    } else assert.equal((await collect(e.body)).toString(), "z");
  }
  assert.deepEqual(names, ["a", "b"]);
});
