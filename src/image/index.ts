/**
 * The image part's public surface, for the engine, the daemon and the CLI: open an
 * ImageService over a snapshotter, then call its verbs and the functions below.
 */

export { applyChanges } from "./changes.js";
export { type CommitOptions, commitSnapshot } from "./commit.js";
export { loadDockerArchive, saveDockerArchive } from "./docker-archive.js";
export * from "./errors.js";
export type { ImageRecord, LayerRecord } from "./image-store.js";
export { busyboxRootfs, type ImportOptions, importBusybox, importImage } from "./import.js";
export type { ContainerConfig, Descriptor, ImageConfig, Platform } from "./manifest.js";
export { exportOciLayout, importOciLayout } from "./oci-layout.js";
export { formatPlatform, hostPlatform, parsePlatform } from "./platform.js";
export type { ProgressEvent, ProgressSink } from "./progress.js";
export { progressRenderer } from "./progress-render.js";
export { familiarString, formatReference, parseReference, type Reference } from "./reference.js";
export { RegistryClient, type RegistryOptions } from "./registry/client.js";
export {
  type Credentials,
  loadCredentials,
  removeCredentials,
  storeCredentials,
} from "./registry/credentials.js";
export {
  DEFAULT_IMAGE_ROOT,
  type HistoryRow,
  ImageService,
  type ImageServiceOptions,
  type ImageSummary,
  type PullOptions,
  type PushOptions,
  type RemoveResult,
} from "./service.js";
