/**
 * The snapshotters' metadata: which key is which directory, its kind and parent. One JSON file
 * replaced atomically; directories are created before the record that names them and removed
 * after it is gone, so a crash leaves at worst an unnamed directory, which `open` deletes.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../errors.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { Mutex } from "../util/mutex.js";
import { NoSuchSnapshot } from "./errors.js";
import type { Kind, SnapshotInfo } from "./snapshotter.js";

export interface SnapshotRecord extends SnapshotInfo {
  /** Directory name under `snapshots/`. */
  id: string;
}

interface File {
  version: 1;
  snapshots: Record<string, SnapshotRecord>;
}

export class SnapshotMetadata {
  private snapshots = new Map<string, SnapshotRecord>();
  readonly lock = new Mutex();

  constructor(readonly root: string) {}

  get file(): string {
    return join(this.root, "metadata.json");
  }

  dir(id: string): string {
    return join(this.root, "snapshots", id);
  }

  /** Loads the records and deletes directories that no record names (left by a crash). */
  async open(): Promise<void> {
    await mkdir(join(this.root, "snapshots"), { recursive: true });
    try {
      const data = JSON.parse(await readFile(this.file, "utf8")) as File;
      this.snapshots = new Map(Object.entries(data.snapshots));
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    const known = new Set([...this.snapshots.values()].map((s) => s.id));
    for (const name of await readdir(join(this.root, "snapshots")))
      if (!known.has(name)) await rm(this.dir(name), { recursive: true, force: true });
  }

  get(key: string): SnapshotRecord {
    const s = this.snapshots.get(key);
    if (!s) throw new NoSuchSnapshot(key);
    return s;
  }

  find(key: string): SnapshotRecord | undefined {
    return this.snapshots.get(key);
  }

  all(): SnapshotRecord[] {
    return [...this.snapshots.values()];
  }

  /** The chain from `key` up to the base layer, `key` first. */
  chain(key: string): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    for (let s: SnapshotRecord | undefined = this.get(key); s; s = s.parent ? this.get(s.parent) : undefined)
      out.push(s);
    return out;
  }

  newRecord(
    key: string,
    kind: Kind,
    parent: string | undefined,
    labels: Record<string, string>,
  ): SnapshotRecord {
    return {
      key,
      kind,
      ...(parent ? { parent } : {}),
      // Short on purpose: overlay options for deep images must fit in a page (see overlay.ts).
      id: randomBytes(6).toString("hex"),
      created: new Date().toISOString(),
      labels,
    };
  }

  set(record: SnapshotRecord): void {
    this.snapshots.set(record.key, record);
  }

  delete(key: string): void {
    this.snapshots.delete(key);
  }

  async save(): Promise<void> {
    const data: File = { version: 1, snapshots: Object.fromEntries(this.snapshots) };
    await writeFileAtomic(this.file, JSON.stringify(data));
  }
}
