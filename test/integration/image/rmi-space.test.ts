/**
 * What `rmi` says it deleted is deleted: the image's blobs and unpacked layers go with it, at
 * once, and a removal that a crash interrupts is finished by the next start.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../../helpers/daemon.js";
import { exited } from "../../helpers/processes.js";
import { file, tarBuffer } from "../../helpers/tar.js";
import { until } from "../../helpers/wait.js";

const d = new DaemonFixture();
before(async () => {
  await d.importBusybox();
  await d.start();
});
after(() => d.cleanup());

/** Bytes under the daemon's image and snapshot directories (du's count). */
function stored(): number {
  const r = spawnSync("du", ["-sb", join(d.root, "image"), join(d.root, "snapshots")], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .reduce((sum, line) => sum + Number(line.split("\t")[0]), 0);
}

/** Imports an image of one layer holding `mb` MiB of random bytes. */
async function importLarge(reference: string, mb: number): Promise<void> {
  const tar = await tarBuffer([file("blob", randomBytes(mb << 20).toString("latin1"))]);
  const r = await d.api("POST", `/images/create?fromSrc=-&repo=${reference}`, tar, {
    "Content-Type": "application/x-tar",
  });
  assert.equal(r.status, 200, r.body.toString());
}

const MIB = 1 << 20;

test("rmi gives back the image's blobs and unpacked layer at once, and says which", async () => {
  const before = stored();
  await importLarge("large:1", 16);
  assert.ok(stored() - before > 16 * MIB, "the blob and the unpacked layer are stored");
  const r = ok(d.docker(["rmi", "large:1"]));
  assert.match(r.stdout, /^Untagged: large:1\nDeleted: sha256:[0-9a-f]{64}\nDeleted: sha256:[0-9a-f]{64}\n$/);
  assert.ok(stored() - before < MIB, `${stored() - before} bytes more than before the import`);
});

test("an rmi that a kill -9 interrupts is finished when the daemon starts again", async () => {
  const before = stored();
  for (const delay of [0, 5, 20, 60]) {
    await importLarge("crashed:1", 8);
    const rmi = spawn("docker", ["-H", `unix://${d.socket}`, "rmi", "crashed:1"], { stdio: "ignore" });
    // The daemon dies at a point of the removal (or after it): what it left goes at the start.
    await new Promise((r) => setTimeout(r, delay));
    await d.crash();
    await exited(rmi);
    await d.start();
    if (ok(d.docker(["images", "-q", "crashed:1"])).stdout.trim()) ok(d.docker(["rmi", "crashed:1"]));
  }
  await until("the start's collection", () => stored() - before < MIB, 20_000);
});
