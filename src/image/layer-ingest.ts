/**
 * A new layer from an uncompressed tar stream (import, commit, build): streamed once, it is
 * unpacked into a snapshot while hashed (its diff ID) and gzip-compressed into the content store
 * (the blob a push sends). The caller holds the returned leases until its image record exists.
 */
import { createGzip } from "node:zlib";
import { applyLayer } from "../snapshot/apply.js";
import { teeTo } from "../util/tee.js";
import type { NewLayer } from "./create.js";
import { digestOf } from "./digest.js";
import { MediaType } from "./manifest.js";
import type { ImageService } from "./service.js";

export interface IngestedLayer extends NewLayer {
  chainId: string;
  /** Release these from `service.leases` once the image that uses the layer is recorded. */
  leases: string[];
}

export async function ingestLayer(
  service: ImageService,
  tar: AsyncIterable<Buffer>,
  parentChainId?: string,
): Promise<IngestedLayer> {
  const gzip = createGzip({ chunkSize: 1 << 16 });
  const ingest = await service.content.ingest();
  const stored = (async () => {
    for await (const chunk of gzip) await ingest.write(chunk as Buffer);
  })();
  stored.catch(() => {});
  const leases: string[] = [];
  try {
    let blob: { digest: string; size: number } | undefined;
    if (parentChainId) {
      service.leases.add(parentChainId);
      leases.push(parentChainId);
    }
    const applied = await applyLayer(service.snapshotter, teeTo(tar, gzip), {
      chainId: (diffId) => (parentChainId ? digestOf(`${parentChainId} ${diffId}`) : diffId),
      ...(parentChainId ? { parent: parentChainId } : {}),
      beforeCommit: async () => {
        await stored;
        blob = await ingest.commit();
        service.leases.add(blob.digest);
        leases.push(blob.digest);
      },
    });
    service.leases.add(applied.chainId);
    leases.push(applied.chainId);
    return {
      blob: { mediaType: MediaType.DockerLayer, ...blob! },
      diffId: applied.diffId,
      chainId: applied.chainId,
      unpackedSize: applied.unpackedSize,
      leases,
    };
  } catch (err) {
    await ingest.abort();
    for (const l of leases) service.leases.delete(l);
    throw err;
  }
}

export function releaseLeases(service: ImageService, layers: { leases: string[] }[]): void {
  for (const l of layers) for (const key of l.leases) service.leases.delete(key);
}
