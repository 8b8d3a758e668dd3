import assert from "node:assert/strict";
import { test } from "node:test";
import {
  boolean,
  childrenOf,
  integer,
  namedBits,
  octetString,
  oid,
  readElement,
  sequence,
  TAG,
  time,
  tlv,
  toPem,
} from "../../../src/cluster/der.js";
import { InvalidArgument } from "../../../src/errors.js";

const hex = (b: Buffer) => b.toString("hex");

test("elements are encoded as DER has them: shortest lengths, positive integers, base-128 arcs", () => {
  assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.equal(hex(oid("2.5.29.37")), "0603551d25");
  assert.equal(hex(integer(0)), "020100");
  assert.equal(hex(integer(Buffer.from("0080", "hex"))), "02020080", "a set top bit keeps its zero");
  assert.equal(hex(integer(Buffer.from("000001", "hex"))), "020101", "leading zeros go");
  assert.equal(hex(boolean(true)), "0101ff");
  assert.equal(hex(namedBits([0, 2])), "030205a0", "digitalSignature, keyEncipherment");
  assert.equal(hex(namedBits([5, 6])), "03020106", "keyCertSign, cRLSign");
  assert.equal(hex(octetString(Buffer.alloc(127))).slice(0, 4), "047f");
  assert.equal(hex(octetString(Buffer.alloc(128))).slice(0, 6), "048180");
  assert.equal(hex(octetString(Buffer.alloc(300))).slice(0, 8), "0482012c");
  assert.equal(time(new Date("2049-12-31T23:59:59.900Z")).toString("latin1", 2), "491231235959Z");
  assert.equal(time(new Date("2050-01-01T00:00:00Z")).toString("latin1", 2), "20500101000000Z");
  assert.equal(time(new Date("2050-01-01T00:00:00Z"))[0], TAG.GENERALIZED_TIME);
  assert.match(
    toPem("X", Buffer.alloc(100)),
    /^-----BEGIN X-----\n([A-Za-z0-9+/]{64}\n){2}[A-Za-z0-9+/=]{8}\n-----END X-----\n$/,
  );
});

test("what is encoded reads back, one level at a time", () => {
  const der = sequence(integer(7), octetString(Buffer.from("hi")), sequence(boolean(false)));
  const top = readElement(der, TAG.SEQUENCE, "the thing");
  const [n, s, inner] = childrenOf(top, "the thing");
  assert.equal(hex(n!.contents), "07");
  assert.equal(s!.contents.toString(), "hi");
  assert.equal(hex(inner!.raw), hex(sequence(boolean(false))));
  assert.equal(childrenOf(inner!, "inner").length, 1);
});

test("malformed DER is refused, saying what and where", () => {
  const refused = (bytes: string, message: RegExp) =>
    assert.throws(
      () => childrenOf(readElement(Buffer.from(bytes, "hex"), TAG.SEQUENCE, "the thing"), "the thing"),
      (err: unknown) => err instanceof InvalidArgument && message.test(err.message),
      bytes,
    );
  refused("", /the thing is not valid DER: it ends inside an element's header at byte 0/);
  refused("30", /ends inside an element's header/);
  refused("3082", /ends inside an element's length/);
  refused("3003020100ff", /1 bytes after its end/);
  refused("3080", /an indefinite length/);
  refused("30820003000000", /a length not in its shortest form/);
  refused("3081050000000000", /a length not in its shortest form/);
  refused("3085ffffffffff", /a length of 5 bytes/);
  refused("3003020500", /an element of 5 bytes where 1 are left at byte 2/);
  refused("3f0100", /a multi-byte tag/);
  refused("0400", /has tag 0x04 where 0x30 was expected/);
  refused(hex(sequence(...Array.from({ length: 65 }, () => integer(1)))), /has more than 64 members/);
  assert.throws(
    () => childrenOf(readElement(tlv(TAG.INTEGER, Buffer.from([1])), TAG.INTEGER, "n"), "n"),
    /a primitive element has no members/,
  );
});
