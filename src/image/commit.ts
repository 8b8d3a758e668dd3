/**
 * `docker commit`: a container's changes (the upper directory of its active snapshot) become a
 * new layer on its image, and a new image whose config is the old one with the changes given.
 */
import { randomBytes } from "node:crypto";
import { diffDirectories, diffUpperDir } from "../snapshot/diff.js";
import { withMounted } from "../snapshot/mount.js";
import type { Snapshotter } from "../snapshot/snapshotter.js";
import { createImage } from "./create.js";
import type { ImageRecord } from "./image-store.js";
import { ingestLayer, releaseLeases } from "./layer-ingest.js";
import type { ContainerConfig } from "./manifest.js";
import type { ImageService } from "./service.js";

export interface CommitOptions {
  reference?: string;
  /** Config fields to replace (what `--change` and the container's settings give). */
  config?: ContainerConfig;
  comment?: string;
  author?: string;
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
        await withView(snapshotter, parent, (lower) =>
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
          { created, created_by: "berth commit", ...(options.comment ? { comment: options.comment } : {}) },
        ],
      },
      [
        ...image.layers.map((l) => ({
          blob: { mediaType: l.mediaType, digest: l.digest, size: l.size },
          diffId: l.diffId,
          unpackedSize: l.unpackedSize,
        })),
        layer,
      ],
      options.reference,
    );
  } finally {
    releaseLeases(service, [layer]);
  }
}

async function withView<T>(
  snapshotter: Snapshotter,
  parent: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const key = `commit-view-${randomBytes(6).toString("hex")}`;
  const mounts = await snapshotter.view(key, parent);
  try {
    return await withMounted(mounts, fn);
  } finally {
    await snapshotter.remove(key);
  }
}
