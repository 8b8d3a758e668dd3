import assert from "node:assert/strict";
import { test } from "node:test";
import { ruleset } from "../../../src/network/bridge.js";
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

test("the ruleset lives in Berth's own table and names the bridge and subnet", () => {
  const text = ruleset("berth0", "10.91.0.0/16");
  assert.match(text, /^table ip berth \{/);
  assert.match(text, /ip saddr 10\.91\.0\.0\/16 oifname != "berth0" masquerade/);
  assert.match(text, /dnat ip to meta l4proto \. th dport map @ports/);
  assert.equal(text.match(/^table /gm)?.length, 1, "one table, nothing outside it");
});
