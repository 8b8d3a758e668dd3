/**
 * The image formats Berth reads and writes: Docker schema 2 (image-manifest-v2-2.md) and OCI
 * image-spec v1 manifests, indexes and manifest lists, and image configs. Parsing checks media
 * types and the fields Berth relies on, so that a manifest of an unknown kind is a clear error
 * before anything is fetched.
 */

import { SHA256 } from "./digest.js";
import { InvalidImage } from "./errors.js";

export const MediaType = {
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayer: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
} as const;

export const MANIFEST_TYPES: string[] = [MediaType.DockerManifest, MediaType.OciManifest];
export const INDEX_TYPES: string[] = [MediaType.DockerManifestList, MediaType.OciIndex];
const LAYER_TYPES: string[] = [
  MediaType.DockerLayer,
  MediaType.DockerForeignLayer,
  MediaType.OciLayer,
  MediaType.OciLayerGzip,
  MediaType.OciLayerZstd,
  MediaType.OciLayerNondistributableGzip,
];
const CONFIG_TYPES: string[] = [MediaType.DockerConfig, MediaType.OciConfig];

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  /** Docker's extensions of the image config (HEALTHCHECK, ONBUILD, SHELL). */
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    Retries?: number;
    StartPeriod?: number;
    StartInterval?: number;
  };
  OnBuild?: string[] | null;
  Shell?: string[];
  ArgsEscaped?: boolean;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig extends Platform {
  created?: string;
  author?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

function descriptor(d: unknown, what: string): Descriptor {
  const x = d as Partial<Descriptor> | null;
  if (!x || typeof x !== "object") throw new InvalidImage(`${what}: not a descriptor`);
  if (typeof x.mediaType !== "string") throw new InvalidImage(`${what}: descriptor without mediaType`);
  if (typeof x.digest !== "string" || !SHA256.test(x.digest))
    throw new InvalidImage(`${what}: digest "${x.digest}" is not sha256:<64 hex>`);
  if (typeof x.size !== "number" || !Number.isSafeInteger(x.size) || x.size < 0)
    throw new InvalidImage(`${what}: bad size`);
  return x as Descriptor;
}

function json(data: Buffer, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(data.toString("utf8")) as unknown;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (err) {
    throw new InvalidImage(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The kind of a manifest-like document: the Content-Type a registry sent (or the descriptor's
 * mediaType), else its own `mediaType` field, else its shape (OCI allows omitting the field).
 */
export function manifestKind(data: Buffer, contentType?: string): "manifest" | "index" {
  const doc = json(data, "manifest");
  const type = [contentType, doc["mediaType"]].find(
    (t): t is string => typeof t === "string" && (MANIFEST_TYPES.includes(t) || INDEX_TYPES.includes(t)),
  );
  if (type) return MANIFEST_TYPES.includes(type) ? "manifest" : "index";
  const declared = (typeof doc["mediaType"] === "string" && doc["mediaType"]) || contentType;
  if (declared && declared !== "application/json" && declared !== "application/octet-stream")
    throw new InvalidImage(
      `unsupported manifest media type "${declared}" (Berth reads Docker schema 2 and OCI v1)`,
    );
  if (doc["schemaVersion"] === 1)
    throw new InvalidImage(
      "Docker schema 1 manifests are not supported: push the image again with a current client",
    );
  if (Array.isArray(doc["manifests"])) return "index";
  if (Array.isArray(doc["layers"])) return "manifest";
  throw new InvalidImage("document is neither an image manifest nor an index");
}

/** `configTypes`: the config media types the caller reads (a container image's by default). */
export function parseManifest(data: Buffer, configTypes: string[] = CONFIG_TYPES): Manifest {
  const doc = json(data, "manifest");
  if (doc["schemaVersion"] !== 2)
    throw new InvalidImage(`manifest schemaVersion ${doc["schemaVersion"]} (expected 2)`);
  const config = descriptor(doc["config"], "manifest config");
  if (!configTypes.includes(config.mediaType))
    throw new InvalidImage(
      `unsupported image config media type "${config.mediaType}" (not a container image?)`,
    );
  if (!Array.isArray(doc["layers"])) throw new InvalidImage("manifest without layers");
  const layers = doc["layers"].map((l, i) => descriptor(l, `manifest layer ${i}`));
  for (const l of layers)
    if (!LAYER_TYPES.includes(l.mediaType))
      throw new InvalidImage(`unsupported layer media type "${l.mediaType}"`);
  return { ...(doc as unknown as Manifest), config, layers };
}

export function parseIndex(data: Buffer): Index {
  const doc = json(data, "index");
  if (doc["schemaVersion"] !== 2)
    throw new InvalidImage(`index schemaVersion ${doc["schemaVersion"]} (expected 2)`);
  if (!Array.isArray(doc["manifests"])) throw new InvalidImage("index without manifests");
  const manifests = doc["manifests"].map((m, i) => descriptor(m, `index entry ${i}`));
  return { ...(doc as unknown as Index), manifests };
}

export function parseConfig(data: Buffer): ImageConfig {
  const doc = json(data, "image config") as Partial<ImageConfig>;
  const rootfs = doc.rootfs;
  if (rootfs?.type !== "layers" || !Array.isArray(rootfs.diff_ids))
    throw new InvalidImage("image config without rootfs.diff_ids");
  for (const d of rootfs.diff_ids)
    if (!SHA256.test(d)) throw new InvalidImage(`image config: bad diff ID "${d}"`);
  if (typeof doc.architecture !== "string" || typeof doc.os !== "string")
    throw new InvalidImage("image config without os or architecture");
  return doc as ImageConfig;
}

/** Whether layers of this media type are compressed, and how. */
export function layerCompression(mediaType: string): "gzip" | "zstd" | "none" {
  if (mediaType.endsWith("+zstd")) return "zstd";
  if (mediaType.endsWith("gzip")) return "gzip";
  return "none";
}
