import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Ipam, pickAddress } from "../../../src/network/ipam.js";
import { formatAddress, parseAddress, parseSubnet } from "../../../src/network/ipv4.js";

const subnet = parseSubnet("10.91.0.0/29"); // .1 gateway, .2-.6 usable, .7 broadcast
const gateway = parseAddress("10.91.0.1");

test("subnets are normalised to their network address, bad ones refused", () => {
  assert.equal(formatAddress(parseSubnet("10.91.3.7/16").base), "10.91.0.0");
  for (const bad of ["10.91.0.0", "10.91.0.0/33", "10.91.0.0/4", "300.1.1.1/24", "a.b.c.d/24"])
    assert.throws(() => parseSubnet(bad), /invalid/);
});

test("addresses skip the network, gateway and broadcast addresses and go round-robin", () => {
  const leased = new Set<number>();
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
