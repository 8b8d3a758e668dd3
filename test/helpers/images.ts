/** Image-service fixtures: a store in a temporary directory, test images pushed straight to a registry. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chainIds } from "../../src/image/chain.js";
import { digestOf } from "../../src/image/digest.js";
import { type Descriptor, type ImageConfig, MediaType, type Platform } from "../../src/image/manifest.js";
import { RegistryClient } from "../../src/image/registry/client.js";
import { ImageService } from "../../src/image/service.js";
import { CopySnapshotter } from "../../src/snapshot/copy.js";
import { OverlaySnapshotter } from "../../src/snapshot/overlay.js";
import { file, tarBuffer } from "./tar.js";

export interface TestStore {
  root: string;
  service: ImageService;
  reopen(): Promise<ImageService>;
  remove(): void;
}

export async function openStore(
  root = mkdtempSync(join(tmpdir(), "berth-images-")),
  options: { copy?: boolean; inUse?: (id: string) => boolean; concurrency?: number } = {},
): Promise<TestStore> {
  const open = async () => {
    const snapshotter = await (options.copy
      ? new CopySnapshotter(join(root, "copy"))
      : new OverlaySnapshotter(join(root, "overlay"))
    ).open();
    return ImageService.open({
      root: join(root, "image"),
      snapshotter,
      registry: { credentials: async () => undefined },
      ...(options.inUse ? { imageInUse: options.inUse } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
  };
  const store: TestStore = {
    root,
    service: await open(),
    reopen: async () => {
      store.service = await open();
      return store.service;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
  return store;
}

/** A layer tar with `files` (name → content). */
export function layerTar(files: Record<string, string | Buffer>): Promise<Buffer> {
  return tarBuffer(Object.entries(files).map(([name, content]) => file(name, content.toString("binary"))));
}

export function randomLayer(name: string, bytes: number): Promise<Buffer> {
  // Random data does not compress: the blob is as large as asked.
  return tarBuffer([{ header: { name, type: "file", size: bytes, mode: 0o644 }, body: randomBytes(bytes) }]);
}

export interface PushedImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
  chainIds: string[];
}

/** Uploads layers (tars, gzipped here), a config and a manifest with the registry client itself. */
export async function pushTestImage(
  client: RegistryClient,
  repo: string,
  tag: string,
  tars: Buffer[],
  options: { oci?: boolean; architecture?: string; compress?: "gzip" | "zstd" | false } = {},
): Promise<PushedImage> {
  const layers: Descriptor[] = [];
  for (const tar of tars) {
    const compress = options.compress ?? "gzip";
    const blob =
      compress === "gzip"
        ? gzipSync(tar)
        : compress === "zstd"
          ? execFileSync("zstd", ["-q", "-c"], { input: tar })
          : tar;
    const desc = {
      mediaType: !options.oci
        ? MediaType.DockerLayer
        : compress === "gzip"
          ? MediaType.OciLayerGzip
          : compress === "zstd"
            ? MediaType.OciLayerZstd
            : MediaType.OciLayer,
      digest: digestOf(blob),
      size: blob.length,
    };
    if (!(await client.hasBlob(repo, desc.digest)))
      await client.putBlob(repo, desc, async function* () {
        yield blob;
      });
    layers.push(desc);
  }
  const diffIds = tars.map((t) => digestOf(t));
  const config: ImageConfig = {
    os: "linux",
    architecture: options.architecture ?? "amd64",
    config: { Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: diffIds },
    created: "2024-01-01T00:00:00Z",
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDesc = {
    mediaType: options.oci ? MediaType.OciConfig : MediaType.DockerConfig,
    digest: digestOf(configBytes),
    size: configBytes.length,
  };
  await client.putBlob(repo, configDesc, async function* () {
    yield configBytes;
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: options.oci ? MediaType.OciManifest : MediaType.DockerManifest,
      config: configDesc,
      layers,
    }),
  );
  const type = options.oci ? MediaType.OciManifest : MediaType.DockerManifest;
  await client.putManifest(repo, tag, manifest, type);
  return {
    manifest: { mediaType: type, digest: digestOf(manifest), size: manifest.length },
    config: configDesc,
    layers,
    diffIds,
    chainIds: chainIds(diffIds),
  };
}

export function anonymousClient(host: string): RegistryClient {
  return new RegistryClient(host, { credentials: async () => undefined });
}

/**
 * The store's invariants, which must hold after a crash at any instant (once reopened): every
 * name points at a record, every record's blobs verify and its layers are committed snapshots
 * chained in order, no half-unpacked snapshot or partial blob is left, every blob verifies.
 */
export async function assertConsistent(service: ImageService, root: string): Promise<void> {
  const imageRoot = join(root, "image");
  if (existsSync(join(imageRoot, "repositories.json"))) {
    const refs = JSON.parse(readFileSync(join(imageRoot, "repositories.json"), "utf8")).refs as Record<
      string,
      string
    >;
    for (const [name, id] of Object.entries(refs))
      assert.ok(
        existsSync(join(imageRoot, "images", `${id.slice(7)}.json`)),
        `${name} points at a missing record`,
      );
  }
  assert.deepEqual(readdirSync(join(imageRoot, "ingest")), [], "partial blobs left in ingest/");
  const snapshots = new Map((await service.snapshotter.list()).map((s) => [s.key, s]));
  for (const s of snapshots.values()) {
    assert.equal(s.kind, "committed", `snapshot ${s.key} left ${s.kind}`);
    if (s.parent) assert.ok(snapshots.has(s.parent), `snapshot ${s.key} has a missing parent`);
  }
  for (const image of service.images.all()) {
    for (const d of [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)])
      assert.ok(await service.content.has(d), `image ${image.id}: blob ${d} missing`);
    image.layers.forEach((l, i) => {
      const snap = snapshots.get(l.chainId);
      assert.ok(snap, `image ${image.id}: layer ${l.chainId} not unpacked`);
      assert.equal(snap?.parent, i > 0 ? image.layers[i - 1]!.chainId : undefined);
    });
  }
  for (const d of await service.content.list())
    for await (const _ of service.content.read(d, { verify: true }));
}

/** Puts an OCI index of pushed manifests, each with its platform; returns its descriptor. */
export async function pushTestIndex(
  client: RegistryClient,
  repo: string,
  tag: string,
  entries: { manifest: Descriptor; platform: Platform }[],
): Promise<{ digest: string; size: number }> {
  const data = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: entries.map((e) => ({ ...e.manifest, platform: e.platform })),
    }),
  );
  const digest = await client.putManifest(repo, tag, data, MediaType.OciIndex);
  return { digest, size: data.length };
}
