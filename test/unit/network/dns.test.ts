import assert from "node:assert/strict";
import { test } from "node:test";
import { answer, parseQuestion } from "../../../src/network/dns.js";

/** A query for `name`, type `type` (1 = A, 28 = AAAA), id 0x1234, recursion desired. */
function query(name: string, type: number): Buffer {
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])]);
}

test("a question is read (lower-cased), and malformed ones are refused", () => {
  const q = parseQuestion(query("Web.Local", 1))!;
  assert.equal(q.name, "web.local");
  assert.equal(q.type, 1);
  assert.equal(parseQuestion(Buffer.from([1, 2, 3])), undefined);
  const truncated = query("web", 1).subarray(0, 15);
  assert.equal(parseQuestion(truncated), undefined);
  const pointer = Buffer.concat([query("web", 1).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  assert.equal(parseQuestion(pointer), undefined, "no compression pointers in a question");
});

test("answers carry the question, one A record per address, and NXDOMAIN for unknown names", () => {
  const msg = query("web", 1);
  const q = parseQuestion(msg)!;
  const reply = answer(msg, q, ["10.92.0.2", "10.92.0.3"]);
  assert.equal(reply.readUInt16BE(0), 0x1234, "same id");
  assert.equal(reply[2]! & 0x80, 0x80, "a response");
  assert.equal(reply[3]! & 0x0f, 0, "NOERROR");
  assert.equal(reply.readUInt16BE(6), 2, "two answers");
  assert.deepEqual([...reply.subarray(reply.length - 4)], [10, 92, 0, 3]);
  const none = answer(msg, q, []);
  assert.equal(none[3]! & 0x0f, 3, "NXDOMAIN");
  const known = answer(query("web", 28), parseQuestion(query("web", 28))!, [], true);
  assert.equal(known[3]! & 0x0f, 0, "a known name without IPv6: NOERROR, no records");
  assert.equal(known.readUInt16BE(6), 0);
});
