/**
 * Plugins in a registry, through the registry client images use: a plugin is a schema 2
 * manifest with a plugin config and its root file system as gzip layers (blobs.ts). `privileges`
 * reads the config only; `fetch` stores the manifest, config and layers as verified blobs and
 * unpacks the layers into a fresh root (no device nodes, nothing outside it); `push` uploads
 * what a plugin is made of and its manifest, as stored, so its digest stays the same.
 */
import type { ContentStore } from "../image/content-store.js";
import { digestOf } from "../image/digest.js";
import { InvalidImage } from "../image/errors.js";
import { type Descriptor, layerCompression, type Manifest, MediaType } from "../image/manifest.js";
import { noProgress, type ProgressSink, reportBytes, shortId } from "../image/progress.js";
import { familiarName, type Reference, repositoryName } from "../image/reference.js";
import type { RegistryClient } from "../image/registry/client.js";
import { InvalidLayer } from "../snapshot/errors.js";
import { unpackLayer } from "../snapshot/unpack.js";
import { decompress } from "../util/compression.js";
import { parsePluginManifest } from "./blobs.js";
import { parsePluginConfig } from "./config.js";
import { InvalidPluginArchive } from "./errors.js";
import type { PluginConfig, PluginRecord } from "./types.js";

/** A plugin config is a few KiB; a registry sending more is not sending a config. */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface RemotePlugin {
  manifest: Manifest;
  manifestData: Buffer;
  manifestDigest: string;
  config: PluginConfig;
}

function describe(ref: Reference): string {
  return `${familiarName(ref)}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The manifest and the (verified, checked) config of the plugin `ref` names. */
export async function fetchPluginHead(client: RegistryClient, ref: Reference): Promise<RemotePlugin> {
  const what = describe(ref);
  const m = await client.getManifest(ref.path, ref.digest ?? ref.tag ?? "latest");
  const manifest = parsePluginManifest(m.data, m.mediaType, what);
  if (manifest.config.size > MAX_CONFIG_BYTES)
    throw new InvalidImage(`the config of ${what} is ${manifest.config.size} bytes: not a plugin config`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of (await client.getBlob(ref.path, manifest.config.digest)).body) {
    size += chunk.length;
    if (size > manifest.config.size)
      throw new InvalidImage(`the config of ${what}: more than its ${manifest.config.size} bytes`);
    parts.push(chunk);
  }
  const data = Buffer.concat(parts);
  if (digestOf(data) !== manifest.config.digest)
    throw new InvalidImage(`the config of ${what} does not have the digest its manifest names`);
  return { manifest, manifestData: m.data, manifestDigest: m.digest, config: parsePluginConfig(data) };
}

export interface FetchedPlugin extends RemotePlugin {
  configDigest: string;
  blobsums: string[];
}

/**
 * Stores a plugin's blobs (each verified against its digest) and unpacks its layers in order
 * into `rootfsDir`. `lease` is told of every digest before it is written (GC must spare them).
 */
export async function fetchPlugin(
  blobs: ContentStore,
  client: RegistryClient,
  ref: Reference,
  head: RemotePlugin,
  rootfsDir: string,
  lease: (digest: string) => void,
  emit: ProgressSink = noProgress,
): Promise<FetchedPlugin> {
  const { manifest } = head;
  for (const d of [head.manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)])
    lease(d);
  await blobs.writeBytes(head.manifestData, { digest: head.manifestDigest });
  const configDigest = await storeRemoteConfig(blobs, client, ref, manifest.config);
  for (const layer of manifest.layers) {
    const id = shortId(layer.digest);
    if (!(await blobs.has(layer.digest))) {
      emit({ status: "Pulling fs layer", id });
      const { body } = await client.getBlob(ref.path, layer.digest);
      await blobs.write(reportBytes(body, emit, "Downloading", id, layer.size), layer);
    }
    emit({ status: "Download complete", id });
  }
  for (const layer of manifest.layers) {
    const id = shortId(layer.digest);
    emit({ status: "Extracting", id });
    await unpackRemoteLayer(blobs, layer, rootfsDir, describe(ref));
    emit({ status: "Pull complete", id });
  }
  return { ...head, configDigest, blobsums: manifest.layers.map((l) => l.digest) };
}

/** The config blob exactly as the registry has it (its digest is what the manifest names). */
async function storeRemoteConfig(
  blobs: ContentStore,
  client: RegistryClient,
  ref: Reference,
  config: Descriptor,
): Promise<string> {
  if (!(await blobs.has(config.digest)))
    await blobs.write((await client.getBlob(ref.path, config.digest)).body, config);
  return config.digest;
}

async function unpackRemoteLayer(
  blobs: ContentStore,
  layer: Descriptor,
  rootfsDir: string,
  what: string,
): Promise<void> {
  const compression = layerCompression(layer.mediaType);
  try {
    await unpackLayer(
      decompress(blobs.read(layer.digest, { verify: true }), compression === "none" ? "detect" : compression),
      rootfsDir,
      "apply",
      { devices: false },
    );
  } catch (err) {
    if (err instanceof InvalidLayer)
      throw new InvalidPluginArchive(`layer ${layer.digest} of ${what}: ${err.message}`);
    throw err;
  }
}

/** Uploads the plugin's layers and config where the registry lacks them, then its manifest under `tag`. */
export async function pushPlugin(
  blobs: ContentStore,
  client: RegistryClient,
  ref: Reference,
  record: PluginRecord,
  emit: ProgressSink = noProgress,
): Promise<{ digest: string; size: number }> {
  const tag = ref.tag ?? "latest";
  emit({ status: `The push refers to repository [${repositoryName(ref)}]` });
  const manifestData = await blobs.readBytes(record.manifest);
  const manifest = parsePluginManifest(manifestData, "", describe(ref));
  const upload = async (blob: Descriptor, report: boolean) => {
    const id = shortId(blob.digest);
    if (report) emit({ status: "Preparing", id });
    if (await client.hasBlob(ref.path, blob.digest)) {
      if (report) emit({ status: "Layer already exists", id });
      return;
    }
    await client.putBlob(ref.path, blob, () => {
      const data = blobs.read(blob.digest, { verify: true });
      return report ? reportBytes(data, emit, "Pushing", id, blob.size) : data;
    });
    if (report) emit({ status: "Pushed", id });
  };
  for (const layer of manifest.layers) await upload(layer, true);
  await upload(manifest.config, false);
  const digest = await client.putManifest(
    ref.path,
    tag,
    manifestData,
    manifest.mediaType ?? MediaType.DockerManifest,
  );
  emit({ status: `${tag}: digest: ${digest} size: ${manifestData.length}` });
  return { digest, size: manifestData.length };
}
