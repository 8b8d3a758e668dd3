/**
 * Records a new local image from layers that are already in the stores (import, load, commit,
 * build): writes its config and a Docker schema 2 manifest as blobs, then the image record,
 * then its name. The same order as a pull, with the same crash guarantees.
 */
import { chainIds } from "./chain.js";
import { digestOf } from "./digest.js";
import type { ImageRecord, LayerRecord } from "./image-store.js";
import { type Descriptor, type ImageConfig, type Manifest, MediaType, parseConfig } from "./manifest.js";
import { parseReference } from "./reference.js";
import type { ImageService } from "./service.js";

export interface NewLayer {
  blob: Descriptor;
  diffId: string;
  unpackedSize: number;
}

/** `config` as bytes keeps them exactly (a loaded image keeps its ID); as an object, it is serialised here. */
export async function createImage(
  service: ImageService,
  config: ImageConfig | Buffer,
  layers: NewLayer[],
  reference?: string,
  parent?: string,
): Promise<ImageRecord> {
  const configBytes = Buffer.isBuffer(config) ? config : Buffer.from(JSON.stringify(config));
  const parsed = Buffer.isBuffer(config) ? parseConfig(config) : config;
  const configDesc: Descriptor = {
    mediaType: MediaType.DockerConfig,
    digest: digestOf(configBytes),
    size: configBytes.length,
  };
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.DockerManifest,
    config: configDesc,
    layers: layers.map((l) => ({ mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const manifestDesc: Descriptor = {
    mediaType: MediaType.DockerManifest,
    digest: digestOf(manifestBytes),
    size: manifestBytes.length,
  };
  const chain = chainIds(layers.map((l) => l.diffId));
  const ref = reference ? parseReference(reference, { defaultTag: true }) : undefined;
  service.leases.add(configDesc.digest).add(manifestDesc.digest);
  try {
    await service.content.writeBytes(configBytes, configDesc);
    await service.content.writeBytes(manifestBytes, manifestDesc);
    const records: LayerRecord[] = layers.map((l, i) => ({
      digest: l.blob.digest,
      size: l.blob.size,
      mediaType: l.blob.mediaType,
      diffId: l.diffId,
      chainId: chain[i]!,
      unpackedSize: l.unpackedSize,
    }));
    const record: ImageRecord = {
      id: configDesc.digest,
      manifest: manifestDesc,
      config: configDesc,
      layers: records,
      platform: {
        os: parsed.os,
        architecture: parsed.architecture,
        ...(parsed.variant ? { variant: parsed.variant } : {}),
      },
      ...(parsed.created ? { created: parsed.created } : {}),
      added: service.images.get(configDesc.digest)?.added ?? new Date().toISOString(),
      ...(parent ? { parent } : {}),
    };
    await service.images.lock.run(async () => {
      await service.images.put(record);
      if (ref) await service.images.setRef(ref, record.id);
    });
    return record;
  } finally {
    service.leases.delete(configDesc.digest);
    service.leases.delete(manifestDesc.digest);
  }
}
