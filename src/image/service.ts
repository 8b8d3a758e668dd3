/**
 * The image part as the engine and the daemon see it: a content store, image records and a
 * snapshotter joined, with the verbs of `docker image …`. Each verb lives in its own module;
 * this class holds the shared state (stores, leases, the "in use" callback) and delegates.
 */
import { removeUnfinishedLayers } from "../snapshot/apply.js";
import type { Snapshotter } from "../snapshot/snapshotter.js";
import { ContentStore } from "./content-store.js";
import { ImageInUse, NoSuchImage } from "./errors.js";
import { type ImageRecord, ImageStore } from "./image-store.js";
import type { ImageConfig, Platform } from "./manifest.js";
import { parseConfig } from "./manifest.js";
import type { ProgressSink } from "./progress.js";
import { familiarString, formatReference, parseReference } from "./reference.js";
import { RegistryClient, type RegistryOptions } from "./registry/client.js";
import type { Credentials } from "./registry/credentials.js";

export const DEFAULT_IMAGE_ROOT = "/var/lib/berth/image";

export interface ImageServiceOptions {
  /** Blobs, image records and names (default /var/lib/berth/image). */
  root?: string;
  snapshotter: Snapshotter;
  registry?: RegistryOptions;
  /** The engine's answer to "does a container use this image?" (rmi refuses, prune skips). */
  imageInUse?: (imageId: string) => boolean;
  /** Image records kept by others (the build cache): GC keeps their blobs and layers. */
  retainedImages?: () => Iterable<ImageRecord>;
  /** Parallel layer downloads and uploads (default 3, as dockerd). */
  concurrency?: number;
}

export interface PullOptions {
  /** `os/arch[/variant]`; default the host's. */
  platform?: Platform;
  onProgress?: ProgressSink;
  /** Credentials for this pull only (the API's X-Registry-Auth); the stored ones otherwise. */
  credentials?: Credentials;
}

export interface PushOptions {
  onProgress?: ProgressSink;
  /** Credentials for this push only (the API's X-Registry-Auth); the stored ones otherwise. */
  credentials?: Credentials;
  /** Upload in PATCH chunks of this many bytes instead of one PUT. */
  chunkSize?: number;
}

/** A row of `docker images` (the Engine API's ImageSummary, in Berth's spelling). */
export interface ImageSummary {
  id: string;
  /** Familiar names: `busybox:latest`, `localhost:5000/a:1`. */
  repoTags: string[];
  repoDigests: string[];
  created?: string;
  /** Bytes of file data in its layers, unpacked. */
  size: number;
}

/** A row of `docker history`: newest first, layers of size 0 for config-only steps. */
export interface HistoryRow {
  id: string;
  created?: string;
  createdBy: string;
  size: number;
  comment: string;
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
  /** The layers (chain IDs) that went with the image: nothing else rested on them. */
  layers: string[];
}

export class ImageService {
  readonly content: ContentStore;
  readonly images: ImageStore;
  readonly snapshotter: Snapshotter;
  readonly concurrency: number;
  /** Blobs and chain IDs that an operation in progress is creating: GC leaves them alone. */
  readonly leases = new Set<string>();
  private readonly clients = new Map<string, RegistryClient>();

  private constructor(private readonly options: ImageServiceOptions) {
    const root = options.root ?? DEFAULT_IMAGE_ROOT;
    this.content = new ContentStore(root);
    this.images = new ImageStore(root);
    this.snapshotter = options.snapshotter;
    this.concurrency = options.concurrency ?? 3;
  }

  /** Opens the stores and removes what an interrupted operation left (partial blobs and layers). */
  static async open(options: ImageServiceOptions): Promise<ImageService> {
    const s = new ImageService(options);
    await s.content.open();
    await s.images.open();
    await removeUnfinishedLayers(s.snapshotter);
    return s;
  }

  /**
   * The registry client for `host`; with `credentials` (a client's X-Registry-Auth), one of its
   * own that uses them instead of the stored ones.
   */
  client(host: string, credentials?: Credentials): RegistryClient {
    if (credentials)
      return new RegistryClient(host, { ...this.options.registry, credentials: async () => credentials });
    const c = this.clients.get(host) ?? new RegistryClient(host, this.options.registry);
    this.clients.set(host, c);
    return c;
  }

  /** `login`: whether `host` accepts `creds` (a client of its own, so nothing is cached on failure). */
  async checkLogin(host: string, creds: Credentials): Promise<void> {
    await new RegistryClient(host, this.options.registry).checkLogin(creds);
  }

  inUse(id: string): boolean {
    return this.options.imageInUse?.(id) ?? false;
  }

  resolve(nameOrId: string): ImageRecord {
    return this.images.resolve(nameOrId);
  }

  list(): ImageSummary[] {
    return this.images
      .all()
      .map((image) => {
        const refs = this.images.refsOf(image.id).map((r) => familiarString(parseReference(r)));
        return {
          id: image.id,
          repoTags: refs.filter((r) => !r.includes("@")),
          repoDigests: refs.filter((r) => r.includes("@")),
          ...(image.created ? { created: image.created } : {}),
          size: image.layers.reduce((n, l) => n + l.unpackedSize, 0),
        };
      })
      .sort((a, b) => ((b.created ?? "") < (a.created ?? "") ? -1 : 1));
  }

  async history(nameOrId: string): Promise<HistoryRow[]> {
    const image = this.resolve(nameOrId);
    const config = await this.config(image);
    const layers = [...image.layers];
    const rows = (config.history ?? []).map((h) => ({
      id: "<missing>",
      ...(h.created ? { created: h.created } : {}),
      createdBy: h.created_by ?? "",
      size: h.empty_layer ? 0 : (layers.shift()?.unpackedSize ?? 0),
      comment: h.comment ?? "",
    }));
    if (rows.length) rows[rows.length - 1]!.id = image.id;
    return rows.reverse();
  }

  async config(image: ImageRecord): Promise<ImageConfig> {
    return parseConfig(await this.content.readBytes(image.config.digest));
  }

  async pull(reference: string, options: PullOptions = {}): Promise<ImageRecord> {
    const { pull } = await import("./pull.js");
    return pull(this, reference, options);
  }

  async push(reference: string, options: PushOptions = {}): Promise<{ digest: string; size: number }> {
    const { push } = await import("./push.js");
    return push(this, reference, options);
  }

  /** `docker tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<void> {
    const image = this.resolve(source);
    await this.images.lock.run(() =>
      this.images.setRef(parseReference(target, { defaultTag: true }), image.id),
    );
  }

  /**
   * `docker rmi`: a name removes that name, and the image when no name is left; an ID removes
   * the image, refused when several repositories name it unless forced. A container using the
   * image blocks removal (even forced: the container must go first, as with docker).
   */
  async remove(nameOrId: string, options: { force?: boolean } = {}): Promise<RemoveResult> {
    const result = await this.removeRecord(nameOrId, options);
    // What the image alone held goes with it, as docker's rmi takes its layers: disk that no
    // command shows is what users complain of. A crash in between is finished by the next start's GC.
    return { ...result, layers: result.deleted.length ? (await this.gc()).layers : [] };
  }

  private async removeRecord(
    nameOrId: string,
    options: { force?: boolean },
  ): Promise<Omit<RemoveResult, "layers">> {
    return this.images.lock.run(async () => {
      const image = this.images.find(nameOrId);
      if (!image) throw new NoSuchImage(nameOrId);
      const result: Omit<RemoveResult, "layers"> = { untagged: [], deleted: [] };
      const refs = this.images.refsOf(image.id);
      const name = this.nameKey(nameOrId);
      const inUse = () =>
        new ImageInUse(
          `conflict: unable to remove ${nameOrId} (image ${shortImageId(image.id)}): it is used by a container`,
        );
      if (name && refs.includes(name)) {
        // By name: only that name goes, and the image with it when no tag is left.
        const otherTags = refs.filter((r) => r !== name && !r.includes("@"));
        if (otherTags.length > 0) {
          await this.images.deleteRef(name);
          return { untagged: [name], deleted: [] };
        }
        if (this.inUse(image.id) && !options.force) throw inUse();
        if (this.inUse(image.id)) {
          await this.images.deleteRef(name);
          return { untagged: [name], deleted: [] };
        }
      } else {
        const repositories = new Set(refs.map((r) => r.replace(/@.*$/, "").replace(/:[^:/]*$/, "")));
        if (repositories.size > 1 && !options.force)
          throw new ImageInUse(
            `conflict: unable to delete ${shortImageId(image.id)} (must be forced) - image is referenced in multiple repositories`,
          );
        if (this.inUse(image.id)) throw inUse();
      }
      result.untagged.push(...refs);
      await this.images.deleteRecord(image.id);
      result.deleted.push(image.id);
      return result;
    });
  }

  private nameKey(text: string): string | undefined {
    try {
      return formatReference(parseReference(text, { defaultTag: true }));
    } catch {
      return undefined;
    }
  }

  /** `docker image prune [-a]`: images without names (all unused ones with `all`), then GC. */
  async prune(options: { all?: boolean } = {}): Promise<{ deleted: string[]; spaceReclaimed: number }> {
    const deleted: string[] = [];
    await this.images.lock.run(async () => {
      for (const image of this.images.all()) {
        if (this.inUse(image.id)) continue;
        if (!options.all && this.images.refsOf(image.id).length > 0) continue;
        await this.images.deleteRecord(image.id);
        deleted.push(image.id);
      }
    });
    const { bytes } = await this.gc();
    return { deleted, spaceReclaimed: bytes };
  }

  /**
   * Mark and sweep: blobs no image record names, and layer snapshots that no image's chain and
   * no container snapshot (active or view) rests on, are removed, unless an operation holds them.
   */
  async gc(): Promise<{ blobs: number; snapshots: number; bytes: number; layers: string[] }> {
    return this.images.lock.run(async () => {
      const keep = new Set(this.leases);
      for (const image of [...this.images.all(), ...(this.options.retainedImages?.() ?? [])]) {
        keep.add(image.manifest.digest).add(image.config.digest);
        for (const l of image.layers) keep.add(l.digest).add(l.chainId);
        if (image.index) keep.add(image.index.digest);
      }
      const snapshots = await this.snapshotter.list();
      const byKey = new Map(snapshots.map((s) => [s.key, s]));
      for (const s of snapshots) {
        if (s.kind === "committed" && !keep.has(s.key)) continue;
        for (let p = s.parent; p; p = byKey.get(p)?.parent) keep.add(p);
      }
      let blobs = 0;
      let bytes = 0;
      for (const digest of await this.content.list()) {
        if (keep.has(digest)) continue;
        bytes += (await this.content.info(digest))?.size ?? 0;
        await this.content.delete(digest);
        blobs++;
      }
      // Leaves first: a snapshot can only go once nothing rests on it.
      const layers: string[] = [];
      for (let again = true; again; ) {
        again = false;
        const current = await this.snapshotter.list();
        const parents = new Set(current.map((s) => s.parent));
        for (const s of current) {
          if (s.kind !== "committed" || keep.has(s.key) || parents.has(s.key)) continue;
          bytes += (await this.snapshotter.usage(s.key)).size;
          await this.snapshotter.remove(s.key);
          layers.push(s.key);
          again = true;
        }
      }
      return { blobs, snapshots: layers.length, bytes, layers };
    });
  }

  /** Creates a container's writable snapshot on the image's layers; returns its mounts. */
  async prepareRootfs(key: string, nameOrId: string): Promise<import("../snapshot/snapshotter.js").Mount[]> {
    const image = this.resolve(nameOrId);
    return this.snapshotter.prepare(key, image.layers.at(-1)?.chainId, { "berth.image": image.id });
  }
}

export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}
