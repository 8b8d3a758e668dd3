import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  anonymousClient,
  assertConsistent,
  openStore,
  type PushedImage,
  pushTestImage,
  randomLayer,
} from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

const child = new URL("../../helpers/image-child.js", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "berth-crash-"));
let registry: TestRegistry;
let image: PushedImage;
let ref: string;

before(async () => {
  registry = await startRegistry();
  const layers = [];
  for (let i = 0; i < 4; i++) layers.push(await randomLayer(`data${i}`, 6 * 1024 * 1024));
  image = await pushTestImage(anonymousClient(registry.host), "crash/big", "1", layers);
  ref = `${registry.host}/crash/big:1`;
});
after(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the child, SIGKILLs it after `ms` (unless it finished first); true when it finished. */
async function runAndKill(args: string[], ms: number): Promise<boolean> {
  const p = spawn(process.execPath, [child, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  p.stdout.on("data", (b: Buffer) => {
    out += b.toString();
  });
  const timer = setTimeout(() => p.kill("SIGKILL"), ms);
  await new Promise((resolve) => p.on("close", resolve));
  clearTimeout(timer);
  return out.includes("done");
}

test("a pull killed at random instants leaves a consistent store, and the next pull completes", async () => {
  const root = mkdtempSync(join(work, "pull-"));
  let finished = false;
  let kills = 0;
  // Growing delays: early kills hit the manifest and first blobs, later ones unpack and commit.
  for (let i = 0; i < 12 && !finished; i++) {
    const delay = 50 + Math.floor(Math.random() * 150) + i * 120;
    finished = await runAndKill(["pull", root, ref], delay);
    if (!finished) kills++;
    const store = await openStore(root);
    await assertConsistent(store.service, root);
  }
  assert.ok(kills >= 3, `only ${kills} pulls were killed before one finished`);
  const store = await openStore(root);
  const pulled = await store.service.pull(ref);
  assert.equal(pulled.manifest.digest, image.manifest.digest);
  assert.deepEqual(
    pulled.layers.map((l) => l.chainId),
    image.chainIds,
  );
  await assertConsistent(store.service, root);
});

test("an import killed at random instants leaves a consistent store", async () => {
  const root = mkdtempSync(join(work, "import-"));
  const tarPath = join(work, "rootfs.tar.gz");
  writeFileSync(tarPath, gzipSync(await randomLayer("big", 24 * 1024 * 1024), { level: 1 }));
  let finished = false;
  for (let i = 0; i < 8 && !finished; i++) {
    finished = await runAndKill(["import", root, tarPath], 80 + i * 150 + Math.floor(Math.random() * 100));
    const store = await openStore(root);
    await assertConsistent(store.service, root);
  }
  const store = await openStore(root);
  if (!store.service.images.find("imported:latest")) {
    const { importImage } = await import("../../../src/image/import.js");
    const { createReadStream } = await import("node:fs");
    await importImage(store.service, createReadStream(tarPath), { reference: "imported:latest" });
  }
  await assertConsistent(store.service, root);
});
