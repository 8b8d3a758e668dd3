/**
 * Image records and the names that point at them, under `<root>/images/` and
 * `<root>/repositories.json`. An image is identified by its config digest (Docker's image ID);
 * its record lists the manifest it came as and each layer's blob digest, diff ID and chain ID.
 * Every file is replaced atomically; a record is written before a name points at it and names
 * are removed before the record, so a process killed at any instant leaves every name pointing
 * at a complete record (at worst an image without names, which prune and GC deal with).
 */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { Mutex } from "../util/mutex.js";
import { hexOf, SHA256 } from "./digest.js";
import { InvalidReference, NoSuchImage } from "./errors.js";
import type { Descriptor, Platform } from "./manifest.js";
import { formatReference, isDigest, parseReference, type Reference, repositoryName } from "./reference.js";

export interface LayerRecord {
  /** The layer blob as distributed (compressed). */
  digest: string;
  size: number;
  mediaType: string;
  /** Digest of the uncompressed tar. */
  diffId: string;
  /** The snapshot of this layer and all below it. */
  chainId: string;
  /** Bytes of file data in the unpacked layer. */
  unpackedSize: number;
}

export interface ImageRecord {
  /** The config digest: Docker's image ID. */
  id: string;
  /** The manifest as stored in the content store. */
  manifest: Descriptor;
  /** The index or manifest list it was chosen from, when it came as one (its digest is a RepoDigest). */
  index?: Descriptor;
  config: Descriptor;
  layers: LayerRecord[];
  platform: Platform;
  /** The config's `created`, for `images` and prune filters. */
  created?: string;
  /** When this host got it. */
  added: string;
  /** The image it was committed on (docker's Parent): made here only, never pulled. */
  parent?: string;
}

interface Repositories {
  version: 1;
  /** Full reference (`docker.io/library/busybox:latest`, `…@sha256:…`) → image ID. */
  refs: Record<string, string>;
}

export class ImageStore {
  private refs = new Map<string, string>();
  private readonly records = new Map<string, ImageRecord>();
  readonly lock = new Mutex();

  constructor(readonly root: string) {}

  private recordPath(id: string): string {
    return join(this.root, "images", `${hexOf(id)}.json`);
  }

  private get repositoriesPath(): string {
    return join(this.root, "repositories.json");
  }

  async open(): Promise<this> {
    await mkdir(join(this.root, "images"), { recursive: true });
    for (const name of await readdir(join(this.root, "images"))) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) {
        // A temporary file of an interrupted write.
        await rm(join(this.root, "images", name), { force: true });
        continue;
      }
      const record = JSON.parse(await readFile(join(this.root, "images", name), "utf8")) as ImageRecord;
      this.records.set(record.id, record);
    }
    try {
      const data = JSON.parse(await readFile(this.repositoriesPath, "utf8")) as Repositories;
      this.refs = new Map(Object.entries(data.refs).filter(([, id]) => this.records.has(id)));
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    return this;
  }

  all(): ImageRecord[] {
    return [...this.records.values()];
  }

  get(id: string): ImageRecord | undefined {
    return this.records.get(id);
  }

  /** The names pointing at an image: tags first, then digests, each sorted. */
  refsOf(id: string): string[] {
    const names = [...this.refs].filter(([, v]) => v === id).map(([k]) => k);
    return names.sort((a, b) => Number(a.includes("@")) - Number(b.includes("@")) || (a < b ? -1 : 1));
  }

  allRefs(): [string, string][] {
    return [...this.refs];
  }

  /**
   * The image a user means: a full or short (12+ hex) image ID, with or without `sha256:`, or
   * a reference (`busybox`, `busybox:1`, `name@sha256:…`), as `docker image inspect` accepts.
   */
  resolve(text: string): ImageRecord {
    const found = this.find(text);
    if (!found) throw new NoSuchImage(text);
    return found;
  }

  find(text: string): ImageRecord | undefined {
    if (isDigest(text)) return this.records.get(text);
    if (/^[a-f0-9]{64}$/.test(text)) return this.records.get(`sha256:${text}`);
    const short = /^(?:sha256:)?([a-f0-9]{6,63})$/.exec(text);
    if (short) {
      const matches = this.all().filter((r) => r.id.slice(7).startsWith(short[1]!));
      if (matches.length === 1) return matches[0];
    }
    let ref: Reference;
    try {
      ref = parseReference(text, { defaultTag: true });
    } catch (err) {
      if (short || err instanceof InvalidReference) return undefined;
      throw err;
    }
    const id = this.refs.get(formatReference(ref));
    if (id) return this.records.get(id);
    // `name@digest` also finds the image when only a tag was recorded for that repository.
    if (ref.digest) {
      const name = repositoryName(ref);
      return this.all().find(
        (r) => r.manifest.digest === ref.digest && this.refsOf(r.id).some((n) => n.startsWith(`${name}:`)),
      );
    }
    return undefined;
  }

  async put(record: ImageRecord): Promise<void> {
    if (!SHA256.test(record.id)) throw new Error(`bad image id ${record.id}`);
    await writeFileAtomic(this.recordPath(record.id), JSON.stringify(record, null, 1));
    this.records.set(record.id, record);
  }

  /** Points `ref` (full form) at an image; returns the image it pointed at before, if any. */
  async setRef(ref: Reference, id: string): Promise<string | undefined> {
    if (!this.records.has(id)) throw new NoSuchImage(id);
    const key = formatReference(ref);
    const previous = this.refs.get(key);
    if (previous === id) return undefined; // already so: nothing to write
    this.refs.set(key, id);
    await this.saveRefs();
    return previous === id ? undefined : previous;
  }

  async deleteRef(key: string): Promise<boolean> {
    if (!this.refs.delete(key)) return false;
    await this.saveRefs();
    return true;
  }

  /**
   * The record goes before its names: a crash in between leaves a name to nothing, which open
   * drops, where the other order left an unnamed image holding its layers until a prune.
   */
  async deleteRecord(id: string): Promise<void> {
    this.records.delete(id);
    await rm(this.recordPath(id), { force: true });
    for (const [k, v] of this.refs) if (v === id) this.refs.delete(k);
    await this.saveRefs();
  }

  private async saveRefs(): Promise<void> {
    const data: Repositories = { version: 1, refs: Object.fromEntries([...this.refs].sort()) };
    await writeFileAtomic(this.repositoriesPath, JSON.stringify(data, null, 1));
  }
}
