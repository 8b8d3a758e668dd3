import assert from "node:assert/strict";
import { test } from "node:test";
import { vipRuleset } from "../../../src/cluster/overlay-node.js";
import { freeAddress, freeSubnet, freeVni } from "../../../src/cluster/overlays.js";

test("VXLAN ids start at 4097 and skip those taken", () => {
  assert.equal(freeVni(new Set()), 4097);
  assert.equal(freeVni(new Set([4097, 4098, 4100])), 4099);
});

test("subnets come from the pool in order, clear of every taken one", () => {
  assert.equal(freeSubnet(["10.0.0.0/8"], 24, []), "10.0.0.0/24");
  assert.equal(freeSubnet(["10.0.0.0/8"], 24, ["10.0.0.0/24", "10.0.1.0/24"]), "10.0.2.0/24");
  // A user's wider subnet blocks every /24 inside it.
  assert.equal(freeSubnet(["10.0.0.0/8"], 24, ["10.0.0.0/22"]), "10.0.4.0/24");
  assert.equal(freeSubnet(["10.10.0.0/16", "10.20.0.0/16"], 16, ["10.10.0.0/16"]), "10.20.0.0/16");
  assert.throws(() => freeSubnet(["10.0.0.0/23"], 24, ["10.0.0.0/24", "10.0.1.0/24"]), /non-overlapping/);
});

test("an address is the first free host, never the gateway, network or broadcast address", () => {
  assert.equal(freeAddress("10.0.0.0/24", "10.0.0.1", new Set()), "10.0.0.2");
  assert.equal(freeAddress("10.0.0.0/24", "10.0.0.1", new Set(["10.0.0.2", "10.0.0.3"])), "10.0.0.4");
  const full = new Set(Array.from({ length: 253 }, (_, i) => `10.0.0.${i + 2}`));
  assert.throws(() => freeAddress("10.0.0.0/24", "10.0.0.1", full), /no available IPv4 addresses/);
});

test("a container's VIP table: each VIP sent to its backends in turn; none: refused; no VIP: no table", () => {
  const script = vipRuleset([
    { vip: "10.0.0.2", backends: ["10.0.0.5", "10.0.0.6"] },
    { vip: "10.0.0.3", backends: [] },
  ]);
  assert.match(script, /^table ip berth_vip\ndelete table ip berth_vip\n/);
  assert.match(
    script,
    /ip daddr 10\.0\.0\.2 dnat to numgen inc mod 2 map \{ 0 : 10\.0\.0\.5, 1 : 10\.0\.0\.6 \}/,
  );
  assert.match(script, /ip daddr 10\.0\.0\.3 reject/);
  assert.equal(vipRuleset([]), "table ip berth_vip\ndelete table ip berth_vip\n");
});
