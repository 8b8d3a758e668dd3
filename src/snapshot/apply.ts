/**
 * Turns one layer's tar stream into a committed snapshot keyed by its chain ID: prepare an
 * active snapshot, unpack into it while hashing the tar (the diff ID), check the diff ID, let
 * the caller finish its own checks (the compressed blob's digest), commit. A failure removes
 * the half-made snapshot, so no snapshot exists under a chain ID unless its content is
 * complete and verified. Where the snapshotter allows it, the layer is unpacked without its
 * parent and attached to it at commit, so that the layers of a pull unpack in parallel.
 */
import { randomBytes } from "node:crypto";
import { Conflict } from "../errors.js";
import { HashingStream } from "../image/digest.js";
import { DigestMismatch } from "../image/errors.js";
import type { Snapshotter } from "./snapshotter.js";
import { unpackLayer } from "./unpack.js";

export interface AppliedLayer {
  diffId: string;
  chainId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Bytes of file data unpacked. */
  unpackedSize: number;
}

export interface LayerTarget {
  /** The snapshot's name, or how to compute it from the diff ID when that is known only at the end. */
  chainId: string | ((diffId: string) => string);
  parent?: string;
  /** The diff ID the image config promises. */
  diffId?: string;
  /** Settles when the parent snapshot is committed (the previous layer of the same pull). */
  parentReady?: Promise<unknown>;
  /** Runs after unpacking and before committing: a throw discards the layer. */
  beforeCommit?: () => Promise<void>;
}

/** The label that marks a snapshot being unpacked: one left by a crash is removed at start. */
export const UNPACKING_LABEL = "berth.unpacking";

export async function applyLayer(
  snapshotter: Snapshotter,
  tar: AsyncIterable<Buffer>,
  target: LayerTarget,
): Promise<AppliedLayer> {
  const label = typeof target.chainId === "string" ? target.chainId : "pending";
  const key = `extract-${randomBytes(6).toString("hex")} ${label}`;
  const early = snapshotter.unpackWithoutParent;
  if (!early) await target.parentReady;
  await snapshotter.prepare(key, early ? undefined : target.parent, { [UNPACKING_LABEL]: label });
  try {
    const hashing = new HashingStream();
    const stats = await unpackLayer(
      hashing.pass(tar),
      await snapshotter.upperDir(key),
      snapshotter.whiteouts,
    );
    const diffId = hashing.digest();
    const chainId = typeof target.chainId === "string" ? target.chainId : target.chainId(diffId);
    // The caller's check first: a blob that is not what its digest says explains a wrong diff ID.
    await target.beforeCommit?.();
    if (target.diffId && diffId !== target.diffId)
      throw new DigestMismatch(
        `layer ${chainId}: its content has diff ID ${diffId}, the image config says ${target.diffId}`,
      );
    await target.parentReady;
    try {
      await snapshotter.commit(chainId, key, {
        labels: {},
        ...(early && target.parent ? { parent: target.parent } : {}),
      });
    } catch (err) {
      // Another pull unpacked the same layer meanwhile: theirs is as good as ours.
      if (!(err instanceof Conflict)) throw err;
      await snapshotter.remove(key);
    }
    return { diffId, chainId, tarSize: hashing.size, unpackedSize: stats.bytes };
  } catch (err) {
    await snapshotter.remove(key).catch(() => {});
    throw err;
  }
}

/** Removes snapshots that an interrupted unpack left behind (call at start, before any pull). */
export async function removeUnfinishedLayers(snapshotter: Snapshotter): Promise<number> {
  let removed = 0;
  for (const s of await snapshotter.list())
    if (s.kind === "active" && s.labels[UNPACKING_LABEL]) {
      await snapshotter.remove(s.key);
      removed++;
    }
  return removed;
}
