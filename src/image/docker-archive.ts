/**
 * `docker save` / `docker load` archives: a tar holding `manifest.json` (`[{Config, RepoTags,
 * Layers}]`), `repositories`, each image's config as `<id>.json` and each layer as an
 * uncompressed `<layer>/layer.tar`. Berth writes that classic form, which every docker version
 * loads; it reads it too and the newer one (docker 25+) whose paths point into an OCI
 * `blobs/sha256/` tree, possibly through symlinks. Entries may come in any order, so a load
 * spools the archive to a temporary directory first.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { cleanPath } from "../snapshot/unpack.js";
import type { Chunks } from "../util/byte-source.js";
import { decompress } from "../util/compression.js";
import { readTar } from "../util/tar/reader.js";
import { type TarInput, writeTar } from "../util/tar/writer.js";
import { chainIds } from "./chain.js";
import { createImage, type NewLayer } from "./create.js";
import { digestOf, hexOf } from "./digest.js";
import { InvalidImage } from "./errors.js";
import type { ImageRecord } from "./image-store.js";
import { ingestLayer, releaseLeases } from "./layer-ingest.js";
import { layerCompression, parseConfig } from "./manifest.js";
import { noProgress, type ProgressSink } from "./progress.js";
import { familiarName, familiarString, parseReference } from "./reference.js";
import type { ImageService } from "./service.js";

interface ArchiveManifest {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

async function* once(data: Buffer): AsyncGenerator<Buffer> {
  yield data;
}

async function countBytes(source: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of source) n += c.length;
  return n;
}

/** The archive of `names` (references or IDs) as a tar stream, loadable by `docker load`. */
export async function* saveDockerArchive(service: ImageService, names: string[]): AsyncGenerator<Buffer> {
  const tags = new Map<string, string[]>();
  for (const name of names) {
    const image = service.resolve(name);
    const list = tags.get(image.id) ?? [];
    tags.set(image.id, list);
    const byId = image.id.includes(name.replace(/^sha256:/, ""));
    if (!byId) {
      const ref = parseReference(name, { defaultTag: true });
      if (ref.tag) list.push(familiarString({ domain: ref.domain, path: ref.path, tag: ref.tag }));
    }
  }
  const manifest: ArchiveManifest[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const entries: TarInput[] = [];
  const written = new Set<string>();
  for (const [id, repoTags] of tags) {
    const image = service.images.get(id)!;
    const configName = `${hexOf(id)}.json`;
    const config = await service.content.readBytes(image.config.digest);
    entries.push({
      header: { name: configName, type: "file", size: config.length, mode: 0o644 },
      body: config,
    });
    const layers: string[] = [];
    let parent = "";
    for (const layer of image.layers) {
      const dir = hexOf(layer.chainId);
      layers.push(`${dir}/layer.tar`);
      if (!written.has(dir)) {
        written.add(dir);
        const kind = layerCompression(layer.mediaType);
        const tar = () => decompress(service.content.read(layer.digest), kind);
        const json = Buffer.from(JSON.stringify({ id: dir, ...(parent ? { parent } : {}) }));
        entries.push(
          { header: { name: `${dir}/`, type: "directory", mode: 0o755 } },
          {
            header: { name: `${dir}/VERSION`, type: "file", size: 3, mode: 0o644 },
            body: Buffer.from("1.0"),
          },
          { header: { name: `${dir}/json`, type: "file", size: json.length, mode: 0o644 }, body: json },
          // The header needs the size before the data: count it in a first pass.
          {
            header: { name: `${dir}/layer.tar`, type: "file", size: await countBytes(tar()), mode: 0o644 },
            body: tar(),
          },
        );
      }
      parent = dir;
    }
    manifest.push({ Config: configName, RepoTags: repoTags.length ? repoTags : null, Layers: layers });
    for (const t of repoTags) {
      const colon = t.lastIndexOf(":");
      repositories[t.slice(0, colon)] = { ...repositories[t.slice(0, colon)], [t.slice(colon + 1)]: parent };
    }
  }
  const manifestJson = Buffer.from(JSON.stringify(manifest));
  const repositoriesJson = Buffer.from(JSON.stringify(repositories));
  yield* writeTar([
    {
      header: { name: "manifest.json", type: "file", size: manifestJson.length, mode: 0o644 },
      body: once(manifestJson),
    },
    {
      header: { name: "repositories", type: "file", size: repositoriesJson.length, mode: 0o644 },
      body: repositoriesJson,
    },
    ...entries,
  ]);
}

/** Writes the archive's regular files to `dir`; returns archive path → file, symlinks resolved. */
async function spool(archive: Chunks, dir: string): Promise<(name: string) => string> {
  const files = new Map<string, string>();
  const links = new Map<string, string>();
  let n = 0;
  for await (const entry of readTar(decompress(archive))) {
    const name = cleanPath(entry.header.name, "archive entry");
    if (entry.header.type === "file") {
      // Files get numbered names: nothing in the archive chooses a path on this host.
      const path = join(dir, String(n++));
      await pipeline(entry.body, createWriteStream(path));
      files.set(name, path);
    } else if (entry.header.type === "symlink" || entry.header.type === "link") {
      const base = entry.header.type === "symlink" ? name.slice(0, name.lastIndexOf("/") + 1) : "";
      links.set(
        name,
        cleanPath(
          entry.header.linkname.startsWith("/") ? entry.header.linkname : base + entry.header.linkname,
          "archive link",
        ),
      );
    }
  }
  return (name: string) => {
    let path = cleanPath(name, "archive path");
    for (let hops = 0; links.has(path) && hops < 16; hops++) path = links.get(path)!;
    const file = files.get(path);
    if (!file) throw new InvalidImage(`image archive: ${name} is listed in manifest.json but missing`);
    return file;
  };
}

/** `docker load`: every image in the archive, tagged as its manifest.json says. */
export async function loadDockerArchive(
  service: ImageService,
  archive: Chunks,
  onProgress: ProgressSink = noProgress,
): Promise<ImageRecord[]> {
  const dir = await mkdtemp(join(tmpdir(), "berth-load-"));
  try {
    const file = await spool(archive, dir);
    let manifest: ArchiveManifest[];
    try {
      manifest = JSON.parse(await readFile(file("manifest.json"), "utf8")) as ArchiveManifest[];
      if (!Array.isArray(manifest)) throw new Error("not a list");
    } catch (err) {
      throw new InvalidImage(`not a docker image archive: ${(err as Error).message}`, { cause: err });
    }
    const loaded: ImageRecord[] = [];
    for (const entry of manifest) loaded.push(await loadOne(service, entry, file, onProgress));
    return loaded;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadOne(
  service: ImageService,
  entry: ArchiveManifest,
  file: (name: string) => string,
  emit: ProgressSink,
): Promise<ImageRecord> {
  const configBytes = await readFile(file(entry.Config));
  const config = parseConfig(configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length)
    throw new InvalidImage(
      `image archive: ${entry.Config} lists ${diffIds.length} diff IDs for ${entry.Layers.length} layers`,
    );
  const chain = chainIds(diffIds);
  const layers: (NewLayer & { leases: string[] })[] = [];
  try {
    for (let i = 0; i < diffIds.length; i++) {
      const known = service.images
        .all()
        .flatMap((img) => img.layers)
        .find((l) => l.chainId === chain[i]);
      if (known && (await service.content.has(known.digest)) && (await service.snapshotter.stat(chain[i]!))) {
        layers.push({
          blob: { mediaType: known.mediaType, digest: known.digest, size: known.size },
          diffId: known.diffId,
          unpackedSize: known.unpackedSize,
          leases: [],
        });
        continue;
      }
      emit({ status: "Loading layer", id: diffIds[i]!.slice(7, 19) });
      const layer = await ingestLayer(
        service,
        decompress(createReadStream(file(entry.Layers[i]!)) as AsyncIterable<Buffer>),
        chain[i - 1],
      );
      layers.push(layer);
      if (layer.diffId !== diffIds[i])
        throw new InvalidImage(
          `image archive: ${entry.Layers[i]} has diff ID ${layer.diffId}, the config says ${diffIds[i]}`,
        );
    }
    const record = await createImage(service, configBytes, layers);
    for (const tag of entry.RepoTags ?? []) {
      await service.tag(record.id, tag);
      emit({
        status: `Loaded image: ${familiarName(parseReference(tag))}:${parseReference(tag, { defaultTag: true }).tag}`,
      });
    }
    if (!entry.RepoTags?.length) emit({ status: `Loaded image ID: ${digestOf(configBytes)}` });
    return record;
  } finally {
    releaseLeases(service, layers);
  }
}
