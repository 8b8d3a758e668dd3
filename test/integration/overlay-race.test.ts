/**
 * One overlay's namespace on a node is made by whichever comes first: a task's container joining
 * the overlay, or the node's pass over the cluster's store (found in CI by the chaos test: the
 * second `ip netns add` failed with "File exists" and the task was rejected). Made, programmed
 * and removed one call at a time, and a removal keeps a namespace that a container joined since.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { ensureOverlay, overlayNetns, programPeers, removeOverlay } from "../../src/network/overlay.js";

// Far from the VXLAN ids a cluster's allocator hands out (from 4096 up).
const VNI = 16_000_001;
const spec = { vni: VNI, subnet: "10.250.7.0/24", gateway: "10.250.7.1", mtu: 1450, localAddr: "127.0.0.1" };
const netnsPath = `/run/netns/${overlayNetns(VNI)}`;

const linksIn = (ns: string) =>
  spawnSync("ip", ["-n", ns, "-br", "link"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(/[\s@]/)[0])
    .filter(Boolean)
    .sort();

test("an overlay's namespace made by calls at once is made once; a removal keeps it while a container is on it", async (t) => {
  t.after(() => spawnSync("ip", ["netns", "del", overlayNetns(VNI)]));
  // At once, as a joining container and the node's pass do: both succeed, one namespace results.
  await Promise.all([
    ensureOverlay(spec),
    ensureOverlay(spec),
    programPeers(VNI, [{ ip: "10.250.7.9", mac: "02:42:0a:fa:07:09", nodeAddr: "127.0.0.2" }]),
    ensureOverlay(spec),
  ]);
  assert.ok(existsSync(netnsPath));
  assert.deepEqual(linksIn(overlayNetns(VNI)), ["br0", "lo", "vxlan0"]);

  // A container on it (asked when the removal's turn comes): it stays.
  let onIt = false;
  const removal = removeOverlay(VNI, () => onIt);
  onIt = true; // joined while the removal waited
  await removal;
  assert.ok(existsSync(netnsPath), "the namespace a container joined is kept");

  // The last container gone: removed; a join right after makes it again, whole.
  onIt = false;
  await Promise.all([removeOverlay(VNI, () => onIt), ensureOverlay(spec)]);
  assert.ok(existsSync(netnsPath), "made again by the join that came after the removal");
  assert.deepEqual(linksIn(overlayNetns(VNI)), ["br0", "lo", "vxlan0"]);
  await removeOverlay(VNI, () => false);
  assert.ok(!existsSync(netnsPath));
  assert.ok(
    !spawnSync("ip", ["link", "show", `vx-${VNI}`]).stdout.length,
    "no VXLAN device left on the host",
  );
});
