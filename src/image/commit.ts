/**
 * `docker commit`: a container's changes (the upper directory of its active snapshot) become a
 * new layer on its image, and a new image whose config is the old one with the changes given.
 */
import { randomBytes } from "node:crypto";
import { diffDirectories, diffUpperDir } from "../snapshot/diff.js";
import { withMounted } from "../snapshot/mount.js";
import type { Snapshotter } from "../snapshot/snapshotter.js";
import { createImage, type NewLayer } from "./create.js";
import type { ImageRecord } from "./image-store.js";
import { ingestLayer, releaseLeases } from "./layer-ingest.js";
import type { ContainerConfig, ImageConfig } from "./manifest.js";
import { hostPlatform } from "./platform.js";
import type { ImageService } from "./service.js";

export interface CommitOptions {
  reference?: string;
  /** Config fields to replace (what `--change` and the container's settings give). */
  config?: ContainerConfig;
  comment?: string;
  author?: string;
  /** The history entry's created_by (a build step); "berth commit" by default. */
  createdBy?: string;
}

export async function commitSnapshot(
  service: ImageService,
  snapshotKey: string,
  imageNameOrId: string,
  options: CommitOptions = {},
): Promise<ImageRecord> {
  const image = service.resolve(imageNameOrId);
  const base = await service.config(image);
  const snapshotter = service.snapshotter;
  const upper = await snapshotter.upperDir(snapshotKey);
  const parent = image.layers.at(-1)?.chainId;
  const layer =
    snapshotter.whiteouts === "overlay" || !parent
      ? await ingestLayer(service, diffUpperDir(upper), parent)
      : // A copying snapshot holds the whole tree: compare it with its parent's, mounted read-only.
        await withSnapshotView(snapshotter, parent, (lower) =>
          ingestLayer(service, diffDirectories(lower, upper), parent),
        );
  try {
    const created = new Date().toISOString();
    return await createImage(
      service,
      {
        ...base,
        created,
        ...(options.author ? { author: options.author } : {}),
        config: { ...base.config, ...options.config },
        rootfs: { type: "layers", diff_ids: [...base.rootfs.diff_ids, layer.diffId] },
        history: [
          ...(base.history ?? []),
          {
            created,
            created_by: options.createdBy ?? "berth commit",
            ...(options.comment ? { comment: options.comment } : {}),
          },
        ],
      },
      [...existingLayers(image), layer],
      options.reference,
      image.id,
    );
  } finally {
    releaseLeases(service, [layer]);
  }
}

/** Runs `fn` with the tree of the layer chain `parent` (none: empty) mounted read-only. */
export async function withSnapshotView<T>(
  snapshotter: Snapshotter,
  parent: string | undefined,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const key = `view-${randomBytes(6).toString("hex")}`;
  const mounts = await snapshotter.view(key, parent);
  try {
    return await withMounted(mounts, fn);
  } finally {
    await snapshotter.remove(key);
  }
}

/**
 * A new image with `image`'s layers and `config` as its container config, one empty-layer
 * history entry more (a build step that changes only config); `author` replaces the author.
 */
export async function configStep(
  service: ImageService,
  image: ImageRecord,
  config: ContainerConfig,
  createdBy: string,
  author?: string,
): Promise<ImageRecord> {
  const base = await service.config(image);
  const created = new Date().toISOString();
  return createImage(
    service,
    {
      ...base,
      created,
      ...(author !== undefined ? { author } : {}),
      config,
      history: [...(base.history ?? []), { created, created_by: createdBy, empty_layer: true }],
    },
    existingLayers(image),
  );
}

/** `FROM scratch`: no layers, no history, no time, so that its ID is the same in every build. */
export async function scratchImage(service: ImageService): Promise<ImageRecord> {
  const config: ImageConfig = { ...hostPlatform(), config: {}, rootfs: { type: "layers", diff_ids: [] } };
  return createImage(service, config, []);
}

/** An image's layers as the layers of a new image on top of it. */
function existingLayers(image: ImageRecord): NewLayer[] {
  return image.layers.map((l) => ({
    blob: { mediaType: l.mediaType, digest: l.digest, size: l.size },
    diffId: l.diffId,
    unpackedSize: l.unpackedSize,
  }));
}
