import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { FsFlag, FsOp, HEADER_SIZE } from "../../../src/snapshot/fsops.js";
import { FsRead } from "../../../src/snapshot/tree-reader.js";

const header = readFileSync(new URL("../../../../native/fsops.h", import.meta.url), "utf8");

test("every operation number in fsops.ts equals native/fsops.h", () => {
  const ops: Record<string, number> = {};
  for (const m of header.matchAll(/#define FSOP_([A-Z_]+) (\d+)\s/g)) ops[m[1]!] = Number(m[2]);
  const { HEADER_SIZE: size, KEEP_EXISTING, MAX_PATH, MAX_ARG, ...rest } = ops;
  assert.deepEqual(rest, { ...FsOp });
  assert.equal(size, HEADER_SIZE);
  assert.equal(KEEP_EXISTING, FsFlag.KEEP_EXISTING);
});

test("every read request flag and record number in tree-reader.ts equals native/fsops.h", () => {
  const defined: Record<string, number> = {};
  for (const m of header.matchAll(/#define FSREAD_([A-Z_]+) (\d+)\s/g)) defined[m[1]!] = Number(m[2]);
  const { MAX_HIDDEN, ...rest } = defined;
  assert.deepEqual(rest, { ...FsRead });
  assert.ok(MAX_HIDDEN! >= 1024);
});
