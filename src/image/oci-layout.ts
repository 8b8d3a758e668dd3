/**
 * OCI image layout directories (image-spec image-layout.md): `oci-layout`, `index.json` and
 * `blobs/sha256/…`. Export writes OCI media types (a Docker schema 2 image gets an equivalent OCI
 * manifest over the same config and layer blobs, as skopeo and umoci expect) and names each
 * image by its tag in `org.opencontainers.image.ref.name`, merging into an existing layout.
 * Import reads an image by that name (or digest) through the same path as a pull.
 */
import { constants } from "node:fs";
import { copyFile, mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { readFileInTree, walkTree } from "../snapshot/tree-reader.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { digestOf, hexOf } from "./digest.js";
import { InvalidImage } from "./errors.js";
import type { ImageRecord } from "./image-store.js";
import { type Descriptor, type Index, type Manifest, MediaType, parseIndex } from "./manifest.js";
import { fetchImage, type ImageSource } from "./pull.js";
import { parseReference } from "./reference.js";
import type { ImageService, PullOptions } from "./service.js";

export const REF_NAME = "org.opencontainers.image.ref.name";
const IMAGE_NAME = "io.containerd.image.name";

const OCI_LAYER: Record<string, string> = {
  [MediaType.DockerLayer]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayer]: MediaType.OciLayerNondistributableGzip,
};

function blobPath(dir: string, digest: string): string {
  return join(dir, blobName(digest));
}

/** A blob's path in a layout. */
function blobName(digest: string): string {
  return `blobs/sha256/${hexOf(digest)}`;
}

// A layout read here may have come out of an archive anyone made: its files are read inside it
// (tree-reader.ts), so that a symlink in it names a file of the layout, never one of the host.

async function readIndex(dir: string): Promise<Index> {
  const data = await readFileInTree(dir, "index.json");
  if (!data) throw new InvalidImage(`${dir} is not an OCI image layout: no index.json`);
  return parseIndex(data);
}

/** The bytes of a blob of the layout, as they come. */
async function* blobChunks(dir: string, digest: string): AsyncGenerator<Buffer> {
  for await (const e of walkTree(dir, blobName(digest), { follow: true, content: true, depth: 0 })) {
    if (e.type !== "file") throw new InvalidImage(`OCI layout ${dir}: blob ${digest} is not a file`);
    yield* e.body ?? [];
  }
}

/**
 * The layout's named images in index order: the ref name (a tag, as skopeo and umoci use it)
 * and, when the writer recorded one (Berth, containerd), the image's full name.
 */
export async function layoutRefNames(dir: string): Promise<{ ref: string; name?: string }[]> {
  const out: { ref: string; name?: string }[] = [];
  for (const m of (await readIndex(dir)).manifests) {
    const ref = m.annotations?.[REF_NAME];
    const name = m.annotations?.[IMAGE_NAME];
    if (ref !== undefined) out.push({ ref, ...(name ? { name } : {}) });
  }
  return out;
}

/** The manifest of `image` with OCI media types, or the stored one when it already is OCI. */
async function ociManifest(service: ImageService, image: ImageRecord): Promise<Buffer> {
  const stored = await service.content.readBytes(image.manifest.digest);
  if (image.manifest.mediaType === MediaType.OciManifest) return stored;
  const m = JSON.parse(stored.toString()) as Manifest;
  const converted: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { ...m.config, mediaType: MediaType.OciConfig },
    layers: m.layers.map((l) => ({ ...l, mediaType: OCI_LAYER[l.mediaType] ?? l.mediaType })),
  };
  return Buffer.from(JSON.stringify(converted));
}

/**
 * Writes images into the layout at `dir`, each named by its tag (`refName` overrides the name of
 * a single image). Existing entries of the same name are replaced; other entries stay.
 */
export async function exportOciLayout(
  service: ImageService,
  names: string[],
  dir: string,
  refName?: string,
): Promise<Index> {
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFileAtomic(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  let index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  try {
    index = await readIndex(dir);
  } catch (err) {
    if (!(err instanceof InvalidImage)) throw err;
  }
  const put = async (digest: string, data?: Buffer) => {
    const target = blobPath(dir, digest);
    if (await stat(target).catch(() => undefined)) return;
    const tmp = `${target}.tmp`;
    if (data) await writeFileAtomic(target, data);
    else {
      // A reflink where the filesystem can: blobs are immutable, so a clone is as good as a copy.
      await copyFile(service.content.path(digest), tmp, constants.COPYFILE_FICLONE);
      await rename(tmp, target);
    }
  };
  for (const name of names) {
    const image = service.resolve(name);
    for (const d of [image.config.digest, ...image.layers.map((l) => l.digest)]) await put(d);
    const manifest = await ociManifest(service, image);
    const digest = digestOf(manifest);
    await put(digest, manifest);
    let tag = refName;
    let full: string | undefined;
    if (!tag) {
      try {
        const ref = parseReference(name, { defaultTag: true });
        tag = ref.tag;
        full = `${ref.domain}/${ref.path}:${ref.tag}`;
      } catch {}
    }
    const entry: Descriptor = {
      mediaType: MediaType.OciManifest,
      digest,
      size: manifest.length,
      platform: image.platform,
      ...(tag ? { annotations: { [REF_NAME]: tag, ...(full ? { [IMAGE_NAME]: full } : {}) } } : {}),
    };
    index.manifests = index.manifests.filter((m) => !tag || m.annotations?.[REF_NAME] !== tag);
    index.manifests.push(entry);
  }
  await writeFileAtomic(join(dir, "index.json"), JSON.stringify(index));
  return index;
}

/** Reads manifests and blobs from a layout directory, verifying every digest. */
export function layoutSource(dir: string): ImageSource {
  return {
    manifest: async (reference) => {
      let digest = reference;
      let mediaType = "";
      if (!reference.startsWith("sha256:")) {
        const index = await readIndex(dir);
        const entries = reference
          ? index.manifests.filter((m) => m.annotations?.[REF_NAME] === reference)
          : index.manifests.length === 1
            ? index.manifests
            : [];
        if (entries.length === 0) {
          const names = index.manifests.map((m) => m.annotations?.[REF_NAME] ?? m.digest).join(", ");
          throw new InvalidImage(
            `no image "${reference}" in the OCI layout ${dir} (it has: ${names || "none"})`,
          );
        }
        // Several entries of one name are the platforms of one image: let the index choose.
        if (entries.length > 1) {
          const data = Buffer.from(
            JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries }),
          );
          return { data, mediaType: MediaType.OciIndex, digest: digestOf(data) };
        }
        digest = entries[0]!.digest;
        mediaType = entries[0]!.mediaType;
      }
      const data = await readFileInTree(dir, blobName(digest));
      if (!data) throw new InvalidImage(`OCI layout ${dir}: blob ${digest} is missing`);
      if (digestOf(data) !== digest)
        throw new InvalidImage(`OCI layout ${dir}: blob ${digest} does not match its digest`);
      return { data, mediaType, digest };
    },
    blob: async (d) => blobChunks(dir, d.digest),
  };
}

/** Imports the image named `refName` (the only one when omitted) from a layout, as `name` when given. */
export async function importOciLayout(
  service: ImageService,
  dir: string,
  options: PullOptions & { refName?: string; name?: string } = {},
): Promise<ImageRecord> {
  const fetched = await fetchImage(
    service,
    layoutSource(dir),
    options.refName ?? "",
    options,
    `${dir}:${options.refName ?? ""}`,
  );
  try {
    if (options.name)
      await service.images.lock.run(() =>
        service.images.setRef(parseReference(options.name!, { defaultTag: true }), fetched.record.id),
      );
    return fetched.record;
  } finally {
    fetched.release();
  }
}
