import assert from "node:assert/strict";
import { test } from "node:test";
import { meshRuleset, vipRuleset } from "../../../src/cluster/overlay-node.js";
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

test("the routing mesh's table: other nodes' connections served here only; a client's to any task in turn; none: no table", () => {
  const script = meshRuleset(
    [{ protocol: "tcp", published: 8080, local: ["10.92.0.2 . 80"], remote: ["10.1.0.2 . 8080"] }],
    ["10.1.0.2", "10.1.0.3"],
  );
  assert.match(script, /set nodes \{ type ipv4_addr; elements = \{ 10\.1\.0\.2, 10\.1\.0\.3 \} \}/);
  assert.match(
    script,
    /fib daddr type local tcp dport 8080 ip saddr @nodes dnat ip to numgen inc mod 1 map \{ 0 : 10\.92\.0\.2 \. 80 \}/,
  );
  assert.match(
    script,
    /fib daddr type local tcp dport 8080 dnat ip to numgen inc mod 2 map \{ 0 : 10\.92\.0\.2 \. 80, 1 : 10\.1\.0\.2 \. 8080 \}/,
  );
  assert.match(script, /ct status dnat ip daddr @nodes masquerade/);
  // No task here: what another node forwards is dropped, never sent on again.
  assert.match(
    meshRuleset([{ protocol: "udp", published: 53, local: [], remote: ["10.1.0.2 . 53"] }], ["10.1.0.2"]),
    /udp dport 53 ip saddr @nodes drop/,
  );
  assert.equal(meshRuleset([], []), "table ip berth_mesh\ndelete table ip berth_mesh\n");
});
