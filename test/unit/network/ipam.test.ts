import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatIp, parseIp, parseSubnet } from "../../../src/network/ip.js";
import { Ipam, pickAddress } from "../../../src/network/ipam.js";

const subnet = parseSubnet("10.91.0.0/29"); // .1 gateway, .2-.6 usable, .7 broadcast
const parseAddress = (text: string) => parseIp(text, 4).value;
const formatAddress = (value: bigint) => formatIp(value, 4);
const gateway = parseAddress("10.91.0.1");

test("subnets are normalised to their network address, bad ones refused", () => {
  assert.equal(formatAddress(parseSubnet("10.91.3.7/16").base), "10.91.0.0");
  for (const bad of ["10.91.0.0", "10.91.0.0/33", "10.91.0.0/4", "300.1.1.1/24", "a.b.c.d/24"])
    assert.throws(() => parseSubnet(bad), /invalid/);
});

test("addresses skip the network, gateway and broadcast addresses and go round-robin", () => {
  const leased = new Set<bigint>();
  const got: string[] = [];
  let last = subnet.base;
  for (let i = 0; i < 5; i++) {
    last = pickAddress(subnet, gateway, leased, undefined, last);
    leased.add(last);
    got.push(formatAddress(last));
  }
  assert.deepEqual(got, ["10.91.0.2", "10.91.0.3", "10.91.0.4", "10.91.0.5", "10.91.0.6"]);
  assert.throws(() => pickAddress(subnet, gateway, leased, undefined, last), /no available IPv4 addresses/);
  leased.delete(parseAddress("10.91.0.3"));
  assert.equal(formatAddress(pickAddress(subnet, gateway, leased, undefined, last)), "10.91.0.3");
});

test("a requested address must be in the subnet and free", () => {
  const leased = new Set([parseAddress("10.91.0.2")]);
  assert.equal(formatAddress(pickAddress(subnet, gateway, leased, parseAddress("10.91.0.5"))), "10.91.0.5");
  assert.throws(() => pickAddress(subnet, gateway, leased, parseAddress("10.91.0.2")), /already in use/);
  assert.throws(() => pickAddress(subnet, gateway, leased, gateway), /already in use/);
  assert.throws(
    () => pickAddress(subnet, gateway, leased, parseAddress("10.92.0.2")),
    /not in the network's subnet/,
  );
  assert.throws(
    () => pickAddress(subnet, gateway, leased, parseAddress("10.91.0.7")),
    /not in the network's subnet/,
  );
});

test("leases persist in their file: a new Ipam (a restarted daemon) hands out no address twice", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-ipam-"));
  try {
    const file = join(dir, "ipam.json");
    const a = new Ipam(file, subnet, gateway);
    assert.equal(a.allocate("c1"), "10.91.0.2");
    assert.equal(a.allocate("c1"), "10.91.0.2", "the same container keeps its address");
    const b = new Ipam(file, subnet, gateway);
    assert.equal(b.allocate("c2"), "10.91.0.3");
    b.release("c1");
    assert.deepEqual(new Ipam(file, subnet, gateway).holders(), ["c2"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("IPv6: addresses after the gateway, a requested one, and a small prefix runs out", () => {
  const v6 = parseSubnet("fd00:b1::/124");
  const gw = parseIp("fd00:b1::1", 6).value;
  const leased = new Set<bigint>();
  let last = v6.base;
  for (let i = 0; i < 14; i++) {
    last = pickAddress(v6, gw, leased, undefined, last);
    leased.add(last);
  }
  assert.equal(formatIp([...leased][0]!, 6), "fd00:b1::2");
  assert.equal(formatIp(last, 6), "fd00:b1::f", "no broadcast address in IPv6: the last one is a host's");
  assert.throws(() => pickAddress(v6, gw, leased, undefined, last), /no available IPv6 addresses/);
  assert.throws(
    () => pickAddress(v6, gw, new Set(), parseIp("fd00:b2::2", 6).value),
    /not in the network's subnet/,
  );
});

test("IPv6: in a /64, an address is found at once however many the subnet holds", () => {
  const v6 = parseSubnet("fd00:b1::/64");
  const gw = v6.base + 1n;
  const leased = new Set([v6.base + 2n, v6.base + 3n]);
  assert.equal(formatIp(pickAddress(v6, gw, leased, undefined, v6.base + 1n), 6), "fd00:b1::4");
});

test("an IPv4 lease file of an older version (numbers) is read, and written back as addresses", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-ipam-"));
  try {
    const file = join(dir, "ipam.json");
    writeFileSync(
      file,
      JSON.stringify({
        last: Number(parseAddress("10.91.0.2")),
        leases: { c1: Number(parseAddress("10.91.0.2")) },
      }),
    );
    const ipam = new Ipam(file, subnet, gateway);
    assert.equal(ipam.allocate("c1"), "10.91.0.2");
    assert.equal(ipam.allocate("c2"), "10.91.0.3");
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")).leases, { c1: "10.91.0.2", c2: "10.91.0.3" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
