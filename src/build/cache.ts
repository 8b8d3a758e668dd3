/**
 * The build cache: what each build step produced, keyed by everything the step depends on (its
 * parent image, its instruction after substitution, the build args it sees, and the content of
 * the files it reads). An entry keeps the whole image record of the step's result, so a hit
 * needs no image of the store: intermediate images are not kept as images (they would fill
 * `images` with <none>), and `rmi` of a built image does not lose its cache. The image GC keeps
 * what entries name; `builder prune` drops entries (and the cache mounts) and then collects.
 * One file per entry under `<root>/cache/`, written atomically: a crash loses at most the entry
 * being written.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { ImageRecord } from "../image/image-store.js";
import { writeFileAtomic } from "../util/atomic-file.js";

export interface CacheEntry {
  key: string;
  /** The step's result. */
  image: ImageRecord;
  /** `[stage 2/5] RUN make`: what `system df -v` and prune show. */
  description: string;
  created: string;
  lastUsed: string;
  usageCount: number;
  /** Bytes of the layer the step added (0 for config-only steps). */
  size: number;
  /** The image the step ran on (what --cache-from follows back). */
  parent?: string;
}

/** The key of a step: a digest of its parts, which must be JSON values. */
export function stepKey(...parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

export class BuildCache {
  private readonly entries = new Map<string, CacheEntry>();
  private opened?: Promise<void>;

  constructor(readonly root: string) {}

  private get dir(): string {
    return join(this.root, "cache");
  }

  /** The persistent directories of `RUN --mount=type=cache`. */
  get mountsDir(): string {
    return join(this.root, "mounts");
  }

  /** Reads the entries; the daemon does it once, before it serves. */
  open(): Promise<void> {
    this.opened ??= (async () => {
      await mkdir(this.dir, { recursive: true });
      for (const name of await readdir(this.dir)) {
        const path = join(this.dir, name);
        if (!/^[a-f0-9]{64}\.json$/.test(name)) {
          await rm(path, { force: true }); // a temporary file of an interrupted write
          continue;
        }
        try {
          const entry = JSON.parse(await readFile(path, "utf8")) as CacheEntry;
          this.entries.set(entry.key, entry);
        } catch {
          await rm(path, { force: true });
        }
      }
    })();
    return this.opened;
  }

  /** A hit; its use is counted in memory only, so that a cached step writes nothing. */
  get(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry) {
      entry.lastUsed = new Date().toISOString();
      entry.usageCount++;
    }
    return entry;
  }

  async put(
    key: string,
    image: ImageRecord,
    description: string,
    size: number,
    parent: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    const entry: CacheEntry = {
      key,
      image,
      description,
      created: now,
      lastUsed: now,
      usageCount: 1,
      size,
      parent,
    };
    await writeFileAtomic(join(this.dir, `${key}.json`), JSON.stringify(entry));
    this.entries.set(key, entry);
  }

  /** Entries and what they hold, for the image GC's marking and for `system df`. */
  all(): CacheEntry[] {
    return [...this.entries.values()];
  }

  /** Forgets every entry; returns those forgotten (the caller collects what they held). */
  async clear(): Promise<CacheEntry[]> {
    const gone = this.all();
    for (const e of gone) {
      this.entries.delete(e.key);
      await rm(join(this.dir, `${e.key}.json`), { force: true });
    }
    return gone;
  }
}
