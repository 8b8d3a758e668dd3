import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from "../../../src/util/detach-keys.js";

test("detach keys: docker's spellings, found across chunks, a broken-off match passed on", () => {
  assert.deepEqual(parseDetachKeys("ctrl-p,ctrl-q"), DEFAULT_DETACH_KEYS);
  assert.deepEqual(parseDetachKeys("a,ctrl-@,ctrl-["), Buffer.from([0x61, 0, 27]));
  assert.throws(() => parseDetachKeys("ctrl-"), /Invalid detach keys/);
  const s = new DetachScanner(DEFAULT_DETACH_KEYS);
  assert.deepEqual(s.scan(Buffer.from("ab\x10")), { pass: Buffer.from("ab"), detach: false });
  assert.deepEqual(s.scan(Buffer.from("\x11")), { pass: Buffer.alloc(0), detach: true });
  const t = new DetachScanner(DEFAULT_DETACH_KEYS);
  assert.deepEqual(t.scan(Buffer.from("\x10x\x10\x10\x11")), {
    pass: Buffer.from("\x10x\x10"),
    detach: true,
  });
});
