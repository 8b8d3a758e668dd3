/**
 * A pull onto a full disk: it ends with "no space left on device" in the CLI, and what it had
 * downloaded and unpacked is given back at once; the store stays usable.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../../helpers/daemon.js";
import { anonymousClient, pushTestImage, randomLayer } from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

const MIB = 1 << 20;
const d = new DaemonFixture();
let registry: TestRegistry;

/** Bytes in use on the daemon's root (a small tmpfs of its own). */
function used(): number {
  const r = spawnSync("df", ["-B1", "--output=used", d.root], { encoding: "utf8" });
  return Number(r.stdout.trim().split("\n")[1]);
}

before(async () => {
  registry = await startRegistry();
  // Two layers of 14 MiB of random bytes: 56 MiB stored (blobs and unpacked) on a 40 MiB disk.
  const layers = [await randomLayer("a", 14 * MIB), await randomLayer("b", 14 * MIB)];
  await pushTestImage(anonymousClient(registry.host), "full/disk", "1", layers);
  await pushTestImage(anonymousClient(registry.host), "small/one", "1", [await randomLayer("s", 1 * MIB)]);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=40m", "berth-test-full-disk", d.root]);
  assert.equal(mounted.status, 0, String(mounted.stderr));
  await d.start();
});

after(async () => {
  await d.stop();
  spawnSync("umount", [d.root]);
  await d.cleanup();
  await registry?.stop();
});

test("a pull onto a full disk says no space left on device, and gives back what it stored at once", () => {
  const before = used();
  for (const cli of ["docker", "berth"] as const) {
    const r =
      cli === "docker"
        ? d.docker(["pull", `${registry.host}/full/disk:1`])
        : d.berth(["pull", `${registry.host}/full/disk:1`]);
    assert.notEqual(r.status, 0, `${cli}: ${r.stdout}`);
    assert.match(r.stderr, /no space left on device/i, `${cli}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /EPIPE/);
    const left = used() - before;
    assert.ok(left < MIB, `${cli}: ${left} bytes of the failed pull are still stored`);
  }
  // The store is whole: a pull that fits succeeds, and the failed image is not listed.
  ok(d.docker(["pull", `${registry.host}/small/one:1`]));
  assert.equal(ok(d.docker(["images", "-q", `${registry.host}/full/disk`])).stdout, "");
  ok(d.docker(["rmi", `${registry.host}/small/one:1`]));
  assert.ok(used() - before < MIB);
});
