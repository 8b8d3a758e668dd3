/**
 * `docker pull`: resolve the reference to a manifest (choosing the platform from an index),
 * fetch the config, then every missing layer in parallel (bounded), each streamed at once into
 * the content store (digest checked) and through the decompressor into a snapshot (diff ID
 * checked). Layers commit in order; the image record is written only when all are in, then its
 * names. Killed at any point, the store keeps only verified blobs and committed layers, which
 * the next pull reuses.
 */
import { applyLayer } from "../snapshot/apply.js";
import { decompress } from "../util/compression.js";
import { Semaphore } from "../util/semaphore.js";
import { chainIds } from "./chain.js";
import { InvalidImage } from "./errors.js";
import type { ImageRecord, LayerRecord } from "./image-store.js";
import {
  type Descriptor,
  type ImageConfig,
  layerCompression,
  MediaType,
  manifestKind,
  type Platform,
  parseConfig,
  parseIndex,
  parseManifest,
} from "./manifest.js";
import { formatPlatform, hostPlatform, selectManifest } from "./platform.js";
import { noProgress, type ProgressSink, progressBar, reportBytes, shortId } from "./progress.js";
import { familiarName, familiarString, parseReference, withDigest } from "./reference.js";
import type { ManifestResponse, RegistryClient } from "./registry/client.js";
import type { ImageService, PullOptions } from "./service.js";

/** Where an image's manifests and blobs come from: a registry repository, an OCI layout. */
export interface ImageSource {
  /** A manifest or index by tag or digest, its digest verified. */
  manifest(reference: string): Promise<ManifestResponse>;
  /** A blob's bytes as they arrive; the content store verifies them. */
  blob(descriptor: Descriptor): Promise<AsyncIterable<Buffer>>;
}

export function registrySource(client: RegistryClient, repo: string): ImageSource {
  return {
    manifest: (reference) => client.getManifest(repo, reference),
    blob: async (d) => (await client.getBlob(repo, d.digest)).body,
  };
}

export async function pull(
  service: ImageService,
  text: string,
  options: PullOptions = {},
): Promise<ImageRecord> {
  const ref = parseReference(text, { defaultTag: true });
  const emit = options.onProgress ?? noProgress;
  emit({ status: `Pulling from ${familiarName(ref)}`, id: ref.tag ?? ref.digest! });
  const source = registrySource(service.client(ref.domain, options.credentials), ref.path);
  const fetched = await fetchImage(
    service,
    source,
    ref.digest ?? ref.tag!,
    { ...options, onProgress: emit },
    familiarString(ref),
  );
  try {
    const changed = await service.images.lock.run(async () => {
      const before = ref.tag
        ? await service.images.setRef({ domain: ref.domain, path: ref.path, tag: ref.tag }, fetched.record.id)
        : undefined;
      await service.images.setRef(withDigest(ref, fetched.repoDigest), fetched.record.id);
      return fetched.isNew || before !== undefined;
    });
    emit({ status: `Digest: ${fetched.repoDigest}` });
    emit({
      status: `Status: ${changed ? "Downloaded newer image" : "Image is up to date"} for ${familiarString(ref)}`,
    });
    return fetched.record;
  } finally {
    fetched.release();
  }
}

export interface FetchedImage {
  record: ImageRecord;
  /** The digest a name@digest reference uses: the index's when the image came through one. */
  repoDigest: string;
  /** No record with this ID existed before. */
  isNew: boolean;
  /** Ends the leases that kept GC away; call once the image is named. */
  release(): void;
}

/**
 * Brings an image from `source` into the stores and writes its record (without names): the
 * manifest (through the index when there is one), the config, then the layers.
 */
export async function fetchImage(
  service: ImageService,
  source: ImageSource,
  reference: string,
  options: PullOptions,
  what: string,
): Promise<FetchedImage> {
  const emit = options.onProgress ?? noProgress;
  const platform = options.platform ?? hostPlatform();
  const leased: string[] = [];
  const lease = (key: string) => {
    service.leases.add(key);
    leased.push(key);
  };
  const release = () => {
    for (const key of leased) service.leases.delete(key);
  };
  try {
    // 1. The manifest, through the index when there is one.
    const top = await source.manifest(reference);
    let manifestResponse = top;
    let index: Descriptor | undefined;
    if (manifestKind(top.data, top.mediaType) === "index") {
      const chosen = selectManifest(parseIndex(top.data).manifests, platform);
      index = { mediaType: top.mediaType || MediaType.OciIndex, digest: top.digest, size: top.data.length };
      manifestResponse = await source.manifest(chosen.digest);
      if (manifestKind(manifestResponse.data, manifestResponse.mediaType) !== "manifest")
        throw new InvalidImage(`index entry ${chosen.digest} is not an image manifest`);
    }
    const manifest = parseManifest(manifestResponse.data);
    const manifestDescriptor: Descriptor = {
      mediaType: manifest.mediaType ?? (manifestResponse.mediaType || MediaType.OciManifest),
      digest: manifestResponse.digest,
      size: manifestResponse.data.length,
    };

    // 2. The config: small, fetched whole and verified.
    lease(manifest.config.digest);
    if (!(await service.content.has(manifest.config.digest)))
      await service.content.write(await source.blob(manifest.config), manifest.config);
    const config = parseConfig(await service.content.readBytes(manifest.config.digest));
    checkPlatform(config, platform, what);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length)
      throw new InvalidImage(
        `manifest has ${manifest.layers.length} layers, its config ${diffIds.length} diff IDs`,
      );
    const chain = chainIds(diffIds);
    for (const l of manifest.layers) lease(l.digest);
    for (const c of chain) lease(c);

    // 3. The layers.
    const layers = await fetchLayers(service, source, manifest.layers, diffIds, chain, emit);

    // 4. The manifests as blobs, then the record.
    lease(manifestDescriptor.digest);
    if (index) lease(index.digest);
    await service.content.writeBytes(top.data, { digest: top.digest });
    if (index) await service.content.writeBytes(manifestResponse.data, { digest: manifestResponse.digest });
    const existing = service.images.get(manifest.config.digest);
    const record: ImageRecord = {
      id: manifest.config.digest,
      manifest: manifestDescriptor,
      ...(index ? { index } : {}),
      config: manifest.config,
      layers,
      platform: {
        os: config.os,
        architecture: config.architecture,
        ...(config.variant ? { variant: config.variant } : {}),
      },
      ...(config.created ? { created: config.created } : {}),
      added: existing?.added ?? new Date().toISOString(),
    };
    await service.images.lock.run(() => service.images.put(record));
    return { record, repoDigest: index?.digest ?? manifestDescriptor.digest, isNew: !existing, release };
  } catch (err) {
    release();
    // What this fetch stored before it failed (a full disk, a broken layer) goes at once, not at
    // the next start: blobs and layers that no image, container or other pull holds.
    await service.gc().catch(() => {});
    throw err;
  }
}

function checkPlatform(config: ImageConfig, want: Platform, what: string): void {
  if (config.os !== want.os || config.architecture !== want.architecture)
    throw new InvalidImage(
      `image ${what} is ${formatPlatform(config)}, not ${formatPlatform(want)}: pick another tag or --platform`,
    );
}

async function fetchLayers(
  service: ImageService,
  source: ImageSource,
  descriptors: Descriptor[],
  diffIds: string[],
  chain: string[],
  emit: ProgressSink,
): Promise<LayerRecord[]> {
  const slots = new Semaphore(service.concurrency);
  const committed: Promise<unknown>[] = [];
  const present = await Promise.all(
    descriptors.map(async (layer, i) => ({
      haveSnapshot: (await service.snapshotter.stat(chain[i]!))?.kind === "committed",
      haveBlob: await service.content.has(layer.digest),
    })),
  );
  const tasks = descriptors.map((layer, i) => {
    const id = shortId(layer.digest);
    const chainId = chain[i]!;
    const parent = i > 0 ? chain[i - 1] : undefined;
    const parentReady = i > 0 ? committed[i - 1]! : Promise.resolve();
    const { haveSnapshot, haveBlob } = present[i]!;
    if (haveSnapshot && haveBlob) {
      emit({ status: "Already exists", id });
      const task = parentReady.then(() => knownUnpackedSize(service, chainId));
      committed.push(task);
      return task;
    }
    emit({ status: "Pulling fs layer", id });
    // Slots are asked for here, synchronously and in layer order: a layer holding a slot only
    // ever waits for lower layers, which asked earlier and so hold slots or are done.
    const task = slots.run(async () => {
      const blob = haveBlob ? undefined : { body: await source.blob(layer) };
      const ingest = blob ? await service.content.ingest(layer) : undefined;
      const compressed = blob
        ? ingest!.tee(reportBytes(blob.body, emit, "Downloading", id, layer.size))
        : service.content.read(layer.digest, { verify: true });
      const tar = decompress(compressed, layerCompression(layer.mediaType));
      let unpacked = knownUnpackedSize(service, chainId);
      if (haveSnapshot) {
        // Only the blob was missing (the layer came with another image): store it.
        for await (const _ of tar);
        await ingest!.commit();
      } else {
        try {
          const applied = await applyLayer(service.snapshotter, reportExtracting(tar, emit, id), {
            chainId,
            ...(parent ? { parent } : {}),
            diffId: diffIds[i]!,
            parentReady,
            beforeCommit: async () => {
              if (ingest) {
                emit({ status: "Verifying Checksum", id });
                await ingest.commit();
                emit({ status: "Download complete", id });
              }
            },
          });
          unpacked = applied.unpackedSize;
        } catch (err) {
          await ingest?.abort();
          // A blob true to its digest but wrong for this image (bad diff ID, escaping tar):
          // it was stored by this pull, and nothing else wants it.
          if (ingest && !service.images.all().some((i) => i.layers.some((l) => l.digest === layer.digest)))
            await service.content.delete(layer.digest);
          throw err;
        }
      }
      await parentReady;
      emit({ status: "Pull complete", id });
      return unpacked;
    });
    committed.push(task);
    return task;
  });
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return descriptors.map((d, i) => ({
    digest: d.digest,
    size: d.size,
    mediaType: d.mediaType,
    diffId: diffIds[i]!,
    chainId: chain[i]!,
    unpackedSize: (results[i] as PromiseFulfilledResult<number>).value,
  }));
}

function knownUnpackedSize(service: ImageService, chainId: string): number {
  for (const image of service.images.all())
    for (const l of image.layers) if (l.chainId === chainId) return l.unpackedSize;
  return 0;
}

/** One "Extracting" event when the tar starts flowing (it is unpacked as it downloads). */
async function* reportExtracting(
  tar: AsyncIterable<Buffer>,
  emit: ProgressSink,
  id: string,
): AsyncGenerator<Buffer> {
  let bytes = 0;
  let started = false;
  for await (const chunk of tar) {
    if (!started) {
      started = true;
      emit({ status: "Extracting", id, progressDetail: { current: 0 }, progress: progressBar(0) });
    }
    bytes += chunk.length;
    yield chunk;
  }
  emit({ status: "Extracting", id, progressDetail: { current: bytes }, progress: progressBar(bytes) });
}
