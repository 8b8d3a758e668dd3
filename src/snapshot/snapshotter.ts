/**
 * The snapshotter's contract, after containerd's: snapshots are named by keys, form a chain
 * through their parents, and are either active (writable), views (read-only) or committed
 * (immutable, parents of others). A snapshotter never mounts: it returns mount descriptions
 * that an executor (./mount.ts, or the runtime inside a container's mount namespace) applies.
 */

/** One mount(2) to perform, as the OCI runtime spec's `mounts` entries describe them. */
export interface Mount {
  type: string;
  source: string;
  options: string[];
  /**
   * When set, the options use paths relative to this directory (overlay lowerdirs of a deep
   * image would not fit in one page otherwise): the mount must be done with it as the cwd.
   */
  cwd?: string;
}

export type Kind = "active" | "view" | "committed";

export interface SnapshotInfo {
  key: string;
  kind: Kind;
  parent?: string;
  created: string;
  labels: Record<string, string>;
}

/** How whiteouts in layers must be written into a snapshot of this snapshotter. */
export type { WhiteoutMode } from "./unpack.js";

export interface Snapshotter {
  readonly name: string;
  /** Whiteouts in the form the filesystem layout wants (overlay devices, or applied deletions). */
  readonly whiteouts: "overlay" | "apply";
  /**
   * True when a layer can be unpacked before its parent exists (overlay: each layer is its own
   * directory) and given its parent at commit; false when unpacking writes over a copy of the
   * parent. Lets a pull unpack layers in parallel as they download.
   */
  readonly unpackWithoutParent: boolean;
  /** A new writable snapshot on top of the committed `parent` (none: an empty one). */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** A read-only snapshot of the committed `parent`. */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  /**
   * Makes the active snapshot `key` immutable under the name `name`; `parent` sets the parent
   * of a snapshot prepared without one (only where `unpackWithoutParent`).
   */
  commit(
    name: string,
    key: string,
    options?: { labels?: Record<string, string>; parent?: string },
  ): Promise<void>;
  /** Removes a snapshot; refused while it is the parent of another. */
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  list(): Promise<SnapshotInfo[]>;
  /** The directory an active snapshot's changes go to: where a layer is unpacked, or diffed from. */
  upperDir(key: string): Promise<string>;
  /** Bytes and inodes used by the snapshot's own directory. */
  usage(key: string): Promise<{ size: number; inodes: number }>;
}
