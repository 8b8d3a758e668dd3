/**
 * A plugin as a registry holds it: a Docker schema 2 manifest whose config is the plugin config
 * (media type application/vnd.docker.plugin.v1+json) and whose layers are its root filesystem,
 * gzip-compressed tars. These are the blobs a create writes and a push uploads; a pull reads
 * the same shape back (distribution.ts).
 */
import { createHash } from "node:crypto";
import type { ContentStore } from "../image/content-store.js";
import { InvalidImage } from "../image/errors.js";
import { type Descriptor, type Manifest, MediaType, manifestKind, parseManifest } from "../image/manifest.js";
import { directoryTar } from "../snapshot/diff.js";
import { gzip } from "../util/compression.js";
import { PLUGIN_CONFIG_MEDIA_TYPE, type PluginConfig } from "./types.js";

export interface StoredLayer {
  /** The compressed blob. */
  descriptor: Descriptor;
  /** Digest of the uncompressed tar (what the config's rootfs.diff_ids lists). */
  diffId: string;
}

/** Stores the tree at `dir` as one gzip layer blob (read through the tree reader, in its root). */
export async function storeDirectoryLayer(blobs: ContentStore, dir: string): Promise<StoredLayer> {
  const hash = createHash("sha256");
  const tar = (async function* () {
    for await (const chunk of directoryTar(dir)) {
      hash.update(chunk);
      yield chunk;
    }
  })();
  const info = await blobs.write(gzip(tar));
  return {
    descriptor: { mediaType: MediaType.DockerLayer, digest: info.digest, size: info.size },
    diffId: `sha256:${hash.digest("hex")}`,
  };
}

export async function storeConfig(blobs: ContentStore, config: PluginConfig): Promise<Descriptor> {
  const info = await blobs.writeBytes(JSON.stringify(config));
  return { mediaType: PLUGIN_CONFIG_MEDIA_TYPE, digest: info.digest, size: info.size };
}

/**
 * The manifest naming a config and layers, stored as a blob. Schema 2 with its mediaType field:
 * registries take plugins under that media type only (dockerd says the same in buildManifest).
 */
export async function storeManifest(
  blobs: ContentStore,
  config: Descriptor,
  layers: Descriptor[],
): Promise<{ digest: string; data: Buffer }> {
  const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers };
  const data = Buffer.from(JSON.stringify(manifest));
  const info = await blobs.writeBytes(data);
  return { digest: info.digest, data };
}

/** A registry's manifest for a plugin: schema 2 (or OCI) with a plugin config; anything else refused. */
export function parsePluginManifest(data: Buffer, contentType: string, what: string): Manifest {
  if (manifestKind(data, contentType) !== "manifest")
    throw new InvalidImage(`${what} is a manifest list, not a plugin`);
  const config = (JSON.parse(data.toString("utf8")) as { config?: { mediaType?: unknown } }).config;
  if (config?.mediaType !== PLUGIN_CONFIG_MEDIA_TYPE)
    throw new InvalidImage(
      `${what} is not a plugin: its config is ${JSON.stringify(config?.mediaType ?? null)}, not ${PLUGIN_CONFIG_MEDIA_TYPE} (a container image?)`,
    );
  return parseManifest(data, [PLUGIN_CONFIG_MEDIA_TYPE]);
}
