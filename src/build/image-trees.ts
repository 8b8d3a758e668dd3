/** Other images' trees mounted read-only for a step: COPY --from and RUN --mount=…,from= read them. */
import type { Engine } from "../engine/engine.js";
import { withSnapshotView } from "../image/commit.js";
import type { ImageRecord } from "../image/image-store.js";

/** Runs `fn` with each image of `images` (by the name the step gave it) mounted; `fn` gets the directories. */
export async function withImageTrees<T>(
  engine: Engine,
  images: Map<string, ImageRecord>,
  fn: (roots: Map<string, string>) => Promise<T>,
): Promise<T> {
  const roots = new Map<string, string>();
  const entries = [...images];
  const next = async (i: number): Promise<T> => {
    if (i === entries.length) return fn(roots);
    const [name, image] = entries[i]!;
    return withSnapshotView(engine.snapshotter, image.layers.at(-1)?.chainId, (dir) => {
      roots.set(name, dir);
      return next(i + 1);
    });
  };
  return next(0);
}
