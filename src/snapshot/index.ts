/** The snapshot part's public surface: snapshotters, their mount descriptions and the executor. */
export { applyLayer, removeUnfinishedLayers } from "./apply.js";
export { CopySnapshotter } from "./copy.js";
export { diffUpperDir } from "./diff.js";
export { mountAll, overlaySupported, unmount, withMounted } from "./mount.js";
export { OverlaySnapshotter } from "./overlay.js";
export type { Mount, SnapshotInfo, Snapshotter } from "./snapshotter.js";
export { unpackLayer } from "./unpack.js";

import { CopySnapshotter } from "./copy.js";
import { overlaySupported } from "./mount.js";
import { OverlaySnapshotter } from "./overlay.js";
import type { Snapshotter } from "./snapshotter.js";

export const DEFAULT_SNAPSHOT_ROOT = "/var/lib/berth/snapshots";

/** The overlay snapshotter where the kernel has overlayfs, the copying one elsewhere. */
export async function openSnapshotter(
  root = DEFAULT_SNAPSHOT_ROOT,
  kind?: "overlayfs" | "copy",
): Promise<Snapshotter> {
  const overlay = kind ? kind === "overlayfs" : await overlaySupported(root);
  return overlay
    ? new OverlaySnapshotter(`${root}/overlayfs`).open()
    : new CopySnapshotter(`${root}/copy`).open();
}
