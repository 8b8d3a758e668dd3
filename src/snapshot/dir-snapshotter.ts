/**
 * The verbs common to Berth's snapshotters, over SnapshotMetadata: each snapshot is a directory
 * `snapshots/<id>/` whose `fs/` holds its files. Subclasses say how a snapshot's directories are
 * made from its parent and how it is mounted.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Conflict, InvalidArgument } from "../errors.js";
import { diskUsage } from "./disk-usage.js";
import { SnapshotMetadata, type SnapshotRecord } from "./metadata.js";
import type { Kind, Mount, SnapshotInfo, Snapshotter } from "./snapshotter.js";

export abstract class DirSnapshotter implements Snapshotter {
  abstract readonly name: string;
  abstract readonly whiteouts: "overlay" | "apply";
  abstract readonly unpackWithoutParent: boolean;
  protected readonly meta: SnapshotMetadata;

  constructor(readonly root: string) {
    this.meta = new SnapshotMetadata(root);
  }

  /** Reads the metadata and removes what a crash left half-made. Call once before use. */
  async open(): Promise<this> {
    await this.meta.open();
    return this;
  }

  /** Creates the directories of a new snapshot (its record is not saved yet). */
  protected abstract create(record: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void>;
  /** Mount descriptions for a snapshot and its chain of parents (`chain[0]` is the snapshot). */
  protected abstract describe(chain: SnapshotRecord[]): Mount[];
  /** Tidies an active snapshot's directories as it becomes committed. */
  protected async onCommit(_record: SnapshotRecord): Promise<void> {}

  protected fsDir(record: SnapshotRecord): string {
    return join(this.meta.dir(record.id), "fs");
  }

  prepare(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.add(key, "active", parent, labels);
  }

  view(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.add(key, "view", parent, labels);
  }

  private add(
    key: string,
    kind: Kind,
    parent: string | undefined,
    labels: Record<string, string>,
  ): Promise<Mount[]> {
    return this.meta.lock.run(async () => {
      if (this.meta.find(key)) throw new Conflict(`snapshot ${key} already exists`);
      const parentRecord = parent ? this.meta.get(parent) : undefined;
      if (parentRecord && parentRecord.kind !== "committed")
        throw new InvalidArgument(
          `snapshot ${parent} is ${parentRecord.kind}: only a committed snapshot can be a parent`,
        );
      const record = this.meta.newRecord(key, kind, parent, labels);
      await mkdir(this.meta.dir(record.id), { recursive: true });
      try {
        await this.create(record, parentRecord);
        this.meta.set(record);
        await this.meta.save();
      } catch (err) {
        this.meta.delete(key);
        await rm(this.meta.dir(record.id), { recursive: true, force: true });
        throw err;
      }
      return this.describe(this.meta.chain(key));
    });
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.describe(this.meta.chain(key));
  }

  commit(
    name: string,
    key: string,
    options: { labels?: Record<string, string>; parent?: string } = {},
  ): Promise<void> {
    return this.meta.lock.run(async () => {
      const record = this.meta.get(key);
      if (record.kind !== "active")
        throw new InvalidArgument(`snapshot ${key} is ${record.kind}: only an active one can be committed`);
      if (this.meta.find(name)) throw new Conflict(`snapshot ${name} already exists`);
      let parent = record.parent;
      if (options.parent && options.parent !== parent) {
        if (!this.unpackWithoutParent || parent)
          throw new InvalidArgument(
            `snapshot ${key}: the ${this.name} snapshotter cannot change a snapshot's parent`,
          );
        if (this.meta.get(options.parent).kind !== "committed")
          throw new InvalidArgument(`snapshot ${options.parent} is not committed: it cannot be a parent`);
        parent = options.parent;
      }
      await this.onCommit(record);
      this.meta.delete(key);
      this.meta.set({
        ...record,
        key: name,
        kind: "committed",
        ...(parent ? { parent } : {}),
        labels: options.labels ?? record.labels,
      });
      await this.meta.save();
    });
  }

  remove(key: string): Promise<void> {
    return this.meta.lock.run(async () => {
      const record = this.meta.get(key);
      const child = this.meta.all().find((s) => s.parent === key);
      if (child) throw new Conflict(`snapshot ${key} is the parent of ${child.key}: remove that first`);
      // An active snapshot's files go first: on a full disk (an unpack that failed for it) the
      // record's save needs the room they free. A crash in between leaves a record of nothing,
      // which is harmless for a snapshot nothing rests on. A committed layer's record goes first,
      // so that no record ever names a layer whose files are half gone.
      if (record.kind !== "committed") await rm(this.meta.dir(record.id), { recursive: true, force: true });
      this.meta.delete(key);
      await this.meta.save();
      await rm(this.meta.dir(record.id), { recursive: true, force: true });
    });
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const r = this.meta.find(key);
    return r ? info(r) : undefined;
  }

  async list(): Promise<SnapshotInfo[]> {
    return this.meta.all().map(info);
  }

  async upperDir(key: string): Promise<string> {
    const record = this.meta.get(key);
    if (record.kind === "view") throw new InvalidArgument(`snapshot ${key} is a read-only view`);
    return this.fsDir(record);
  }

  async usage(key: string): Promise<{ size: number; inodes: number }> {
    const record = this.meta.get(key);
    return record.kind === "view" ? { size: 0, inodes: 0 } : diskUsage(this.fsDir(record));
  }
}

function info(r: SnapshotRecord): SnapshotInfo {
  return {
    key: r.key,
    kind: r.kind,
    ...(r.parent ? { parent: r.parent } : {}),
    created: r.created,
    labels: r.labels,
  };
}
