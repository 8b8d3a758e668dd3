import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIp, formatSubnet, overlaps, parseIp, parseSubnet } from "../../../src/network/ip.js";

test("IPv6 addresses are read in every spelling and written as RFC 5952 writes them", () => {
  for (const [text, canonical] of [
    ["2001:389::f00d", "2001:389::f00d"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["FD00:B1::", "fd00:b1::"],
    ["::", "::"],
    ["::1", "::1"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"], // the longest run of zeros
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"], // the first of two equal runs
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"], // one zero group stays
  ] as const)
    assert.equal(formatIp(parseIp(text).value, 6), canonical, text);
  assert.equal(parseIp("10.0.0.1").family, 4);
  for (const bad of [
    "1:::2",
    "1::2::3",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "g::1",
    "1:2:3:4:5:6:7",
    "::ffff:1.2.3.4",
    "",
  ])
    assert.throws(() => parseIp(bad), /invalid IP address/, bad);
  assert.throws(() => parseIp("10.0.0.1", 6), /invalid IPv6 address/);
});

test("subnets of both families: normalised, bounded prefixes, overlap within a family only", () => {
  assert.equal(formatSubnet(parseSubnet("fd00:b1::17/64")), "fd00:b1::/64");
  assert.equal(formatSubnet(parseSubnet("10.91.3.7/16")), "10.91.0.0/16");
  for (const bad of ["fd00::/40", "fd00::/125", "fd00::", "fd00::/x", "10.0.0.0/64"])
    assert.throws(() => parseSubnet(bad), /invalid subnet/, bad);
  assert.throws(() => parseSubnet("10.0.0.0/24", 6), /IPv6 prefix/);
  assert.ok(overlaps(parseSubnet("fd00:b1::/64"), parseSubnet("fd00:b1::100/120")));
  assert.ok(!overlaps(parseSubnet("fd00:b1::/64"), parseSubnet("fd00:b2::/64")));
  assert.ok(!overlaps(parseSubnet("10.0.0.0/8"), parseSubnet("fd00:b1::/64")));
});
