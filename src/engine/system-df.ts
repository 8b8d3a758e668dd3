/**
 * `docker system df`: where the daemon's disk goes. Every blob and every unpacked layer is
 * counted once, as allocated on disk (du's count): under the images (LayersSize) when an image
 * holds it or nothing does yet (a pull in progress, garbage for the next collection), under the
 * build cache when only the cache does. Docker keeps no blobs after a pull; Berth does (for
 * push and save), and they count. A container's size here is its writable layer and its
 * directory (logs, /etc files); a volume's, its data; the build cache's, its layers and its
 * RUN --mount=type=cache directories.
 */
import { stat } from "node:fs/promises";
import type { BuildCache } from "../build/cache.js";
import { diskUsage } from "../snapshot/disk-usage.js";
import type { Engine } from "./engine.js";

export interface DiskUsage {
  /** Blobs and unpacked layers of the images (and what no one holds). */
  layersSize: number;
  /** Per container: writable layer plus its directory. */
  containers: Map<string, number>;
  /** Per volume name. */
  volumes: Map<string, number>;
  /** Layers and blobs only the build cache holds, and the cache mounts. */
  builderSize: number;
}

async function allocated(path: string): Promise<number> {
  try {
    return (await stat(path)).blocks * 512;
  } catch {
    return 0; // removed while we counted
  }
}

async function usage(path: string): Promise<number> {
  return (await diskUsage(path).catch(() => ({ size: 0 }))).size;
}

/** A container's bytes: its writable layer and its directory (logs, /etc files). */
export async function containerDiskUsage(engine: Engine, id: string): Promise<number> {
  const rw = (await engine.snapshotter.stat(id))
    ? (await engine.snapshotter.usage(id).catch(() => ({ size: 0 }))).size
    : 0;
  return rw + (await usage(engine.containerDir(id)));
}

export async function systemDiskUsage(engine: Engine, cache: BuildCache): Promise<DiskUsage> {
  const ofImages = new Set<string>();
  for (const image of engine.images.images.all()) {
    ofImages.add(image.manifest.digest).add(image.config.digest);
    if (image.index) ofImages.add(image.index.digest);
    for (const l of image.layers) ofImages.add(l.digest).add(l.chainId);
  }
  const ofCache = new Set<string>();
  for (const e of cache.all()) {
    ofCache.add(e.image.manifest.digest).add(e.image.config.digest);
    for (const l of e.image.layers) ofCache.add(l.digest).add(l.chainId);
  }
  const cacheOnly = (key: string) => ofCache.has(key) && !ofImages.has(key);
  let layersSize = 0;
  let builderSize = await usage(cache.mountsDir);
  for (const digest of await engine.images.content.list()) {
    const bytes = await allocated(engine.images.content.path(digest));
    if (cacheOnly(digest)) builderSize += bytes;
    else layersSize += bytes;
  }
  // Every snapshot but the containers' own writable layers (counted with their containers).
  const containerKeys = new Set(engine.store.all().map((c) => c.Id));
  for (const s of await engine.snapshotter.list()) {
    if (containerKeys.has(s.key)) continue;
    const bytes = (await engine.snapshotter.usage(s.key).catch(() => ({ size: 0 }))).size;
    if (cacheOnly(s.key)) builderSize += bytes;
    else layersSize += bytes;
  }
  const containers = new Map<string, number>();
  for (const c of engine.store.all()) containers.set(c.Id, await containerDiskUsage(engine, c.Id));
  const volumes = new Map<string, number>();
  for (const v of engine.volumes.list()) volumes.set(v.Name, await engine.volumes.size(v));
  return { layersSize, containers, volumes, builderSize };
}
