import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { gzipSync } from "node:zlib";
import { digestOf } from "../../../src/image/digest.js";
import { MediaType } from "../../../src/image/manifest.js";
import { openStore, type TestStore } from "../../helpers/images.js";
import { file, symlink, tarBuffer } from "../../helpers/tar.js";

/** A registry that serves whatever each test puts in `routes`, lies included. */
const routes = new Map<string, { type?: string; body: Buffer; length?: number }>();
let server: Server;
let host: string;
let store: TestStore;
const work = mkdtempSync(join(tmpdir(), "berth-broken-"));
const outside = join(work, "outside");

before(async () => {
  server = createServer((req, res) => {
    const route = routes.get(req.url ?? "");
    if (!route) {
      res.writeHead(req.url === "/v2/" ? 200 : 404, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "NOT_FOUND", message: "no such thing" }] }));
      return;
    }
    res.writeHead(200, {
      "Content-Type": route.type ?? "application/octet-stream",
      "Content-Length": String(route.length ?? route.body.length),
    });
    // A route that claims more than it has: the connection closes early.
    if (route.length && route.length > route.body.length) {
      res.write(route.body);
      res.destroy();
      return;
    }
    res.end(req.method === "HEAD" ? undefined : route.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  store = await openStore();
  writeFileSync(join(work, "victim"), "original");
});
after(async () => {
  await new Promise((resolve) => server.close(resolve));
  store?.remove();
  rmSync(work, { recursive: true, force: true });
});

function serveBlob(repo: string, data: Buffer, digest = digestOf(data), length?: number) {
  routes.set(`/v2/${repo}/blobs/${digest}`, { body: data, ...(length ? { length } : {}) });
  return digest;
}

/** Serves an image whose parts can be tampered with; returns the layer's descriptor. */
async function serveImage(
  repo: string,
  tar: Buffer,
  tamper: { blob?: Buffer; diffId?: string; length?: number } = {},
) {
  const blob = gzipSync(tar);
  const digest = digestOf(blob);
  serveBlob(repo, tamper.blob ?? blob, digest, tamper.length);
  const config = Buffer.from(
    JSON.stringify({
      os: "linux",
      architecture: "amd64",
      rootfs: { type: "layers", diff_ids: [tamper.diffId ?? digestOf(tar)] },
    }),
  );
  const configDigest = serveBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MediaType.DockerLayer, digest, size: blob.length }],
    }),
  );
  routes.set(`/v2/${repo}/manifests/latest`, { type: MediaType.DockerManifest, body: manifest });
  return { digest, diffId: digestOf(tar), manifestDigest: digestOf(manifest) };
}

/** Nothing was recorded, no snapshot or blob of the layer exists, nothing unverified is stored. */
async function assertUnchanged(layer: { digest: string; diffId: string }) {
  const s = await store.reopen();
  assert.equal(s.images.all().length, 0);
  assert.equal(await s.content.has(layer.digest), false);
  assert.equal((await s.snapshotter.list()).length, 0);
  for (const d of await s.content.list()) for await (const _ of s.content.read(d, { verify: true }));
  assert.equal(readFileSync(join(work, "victim"), "utf8"), "original");
}

test("a layer blob whose content does not match its digest is refused", async () => {
  const tar = await tarBuffer([file("a", "good")]);
  const layer = await serveImage("lie/blob", tar, { blob: gzipSync(await tarBuffer([file("a", "evil")])) });
  await assert.rejects(
    store.service.pull(`${host}/lie/blob`),
    /digest sha256:[0-9a-f]+, expected sha256|size \d+, expected/,
  );
  await assertUnchanged(layer);
});

test("a truncated layer blob is refused", async () => {
  const tar = await tarBuffer([file("a", "x".repeat(100_000))]);
  const blob = gzipSync(tar);
  const layer = await serveImage("lie/short", tar, {
    blob: blob.subarray(0, blob.length - 100),
    length: blob.length,
  });
  await assert.rejects(
    store.service.pull(`${host}/lie/short`),
    /closed early \(truncated|size \d+, expected/,
  );
  await assertUnchanged(layer);
});

test("a layer whose content does not match the config's diff ID is refused", async () => {
  const tar = await tarBuffer([file("a", "x")]);
  const layer = await serveImage("lie/diffid", tar, { diffId: digestOf("something else") });
  await assert.rejects(
    store.service.pull(`${host}/lie/diffid`),
    /diff ID sha256:[0-9a-f]+, the image config says/,
  );
  await assertUnchanged(layer);
});

test("a manifest of an unknown media type is refused before anything is fetched", async () => {
  routes.set("/v2/lie/type/manifests/latest", {
    type: "application/vnd.example.thing+json",
    body: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.example.thing+json" })),
  });
  const blobs = await store.service.content.list();
  await assert.rejects(
    store.service.pull(`${host}/lie/type`),
    /unsupported manifest media type "application\/vnd.example.thing\+json"/,
  );
  assert.deepEqual(await store.service.content.list(), blobs);
});

test("a manifest that does not match the digest it was asked for is refused", async () => {
  const other = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }));
  const asked = digestOf("not this");
  routes.set(`/v2/lie/manifest/manifests/${asked}`, { type: MediaType.OciIndex, body: other });
  await assert.rejects(
    store.service.pull(`${host}/lie/manifest@${asked}`),
    /content has digest .* not the digest asked for/,
  );
});

test("a layer that escapes through a symlink is refused and writes nothing outside", async () => {
  const tar = await tarBuffer([
    symlink("escape", work),
    file("escape/victim", "pwned"),
    file("escape/new", "pwned"),
  ]);
  const layer = await serveImage("evil/layer", tar);
  await assert.rejects(store.service.pull(`${host}/evil/layer`), /goes through the symlink "escape"/);
  assert.equal(existsSync(join(work, "new")), false);
  await assertUnchanged(layer);
  void outside;
});
