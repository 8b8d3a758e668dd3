import assert from "node:assert/strict";
import { test } from "node:test";
import { addNetworkRules, baseRuleset } from "../../../src/network/nft-rules.js";
import { mapElements, requestedBindings } from "../../../src/network/ports.js";

test("port bindings: explicit ones, host addresses, and -P for exposed ports without one", () => {
  const got = requestedBindings(
    { "80/tcp": [{ HostIp: "", HostPort: "8080" }], "53/udp": [{ HostIp: "127.0.0.1", HostPort: "" }] },
    ["80/tcp", "53/udp", "9000/tcp"],
    true,
  );
  assert.deepEqual(got, [
    { proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80 },
    { proto: "udp", hostIp: "127.0.0.1", hostPort: 0, containerPort: 53 },
    { proto: "tcp", hostIp: "0.0.0.0", hostPort: 0, containerPort: 9000 },
  ]);
  assert.deepEqual(requestedBindings({}, ["9000/tcp"], false), []);
  assert.throws(() => requestedBindings({ "70000/tcp": null }, [], false), /invalid port specification/);
  assert.throws(() => requestedBindings({ "80/icmp": null }, [], false), /invalid port specification/);
  assert.throws(
    () => requestedBindings({ "80/tcp": [{ HostIp: "", HostPort: "http" }] }, [], false),
    /invalid host port/,
  );
});

test("published ports become map elements, by host address when one is given", () => {
  const { any, byAddress } = mapElements(
    [
      { proto: "tcp", hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80 },
      { proto: "udp", hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53 },
    ],
    "10.91.0.2",
  );
  assert.deepEqual(any, ["tcp . 8080 : 10.91.0.2 . 80"]);
  assert.deepEqual(byAddress, ["127.0.0.1 . udp . 5353 : 10.91.0.2 . 53"]);
});

test("the rules live in Berth's own table; a network adds its bridge, subnet and chain", () => {
  const base = baseRuleset();
  assert.match(base, /^table ip berth \{/);
  assert.equal(base.match(/^table /gm)?.length, 1, "one table, nothing outside it");
  assert.match(base, /ip saddr @nat_sources oifname != @bridges masquerade/);
  assert.match(base, /dnat ip to meta l4proto \. th dport map @ports/);
  const open = addNetworkRules({
    id: "0123456789abcdef",
    bridge: "br-x",
    subnet: "10.92.0.0/24",
    internal: false,
  });
  assert.match(open, /add element ip berth nat_sources \{ 10\.92\.0\.0\/24 \}/);
  assert.match(open, /add rule ip berth net-0123456789ab accept$/m);
  const internal = addNetworkRules({
    id: "0123456789abcdef",
    bridge: "br-x",
    subnet: "10.92.0.0/24",
    internal: true,
  });
  assert.doesNotMatch(internal, /nat_sources/);
  assert.match(internal, /add rule ip berth net-0123456789ab drop$/m);
  assert.ok(!/\b(iptables|table inet|table ip filter)\b/.test(base + open), "no other table is touched");
});
