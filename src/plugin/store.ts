/**
 * Installed plugins on disk, under `<root>/plugins` (dockerd's layout):
 *   <id>/plugin.json        the record (API object + blob digests), written atomically
 *   <id>/rootfs/            the plugin's root filesystem
 *   <id>/propagated-mount/  the host side of its PropagatedMount (a shared mount while enabled)
 *   <id>/plugin.log         its output (json-file, rotated)
 *   storage/                its blobs by digest (config, layers, manifest) for push and upgrade
 *   tmp/                    roots being unpacked by a create or a pull
 * A plugin directory goes by a rename to `<id>-removing` first, so that a crash during the
 * removal leaves nothing that loads as a plugin; open() finishes such removals, removes a
 * directory whose record was never written (an add cut short), and empties tmp/.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../errors.js";
import { ContentStore } from "../image/content-store.js";
import { unmountUnder } from "../runtime/host-mounts.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { PluginExists } from "./errors.js";
import { findPlugin, isFullPluginId } from "./names.js";
import type { PluginRecord } from "./types.js";

const REMOVING = "-removing";

export class PluginStore {
  readonly blobs: ContentStore;
  private readonly records = new Map<string, PluginRecord>();
  /** Blobs that a create or pull in progress is writing: GC leaves them alone. */
  readonly leases = new Set<string>();

  constructor(readonly root: string) {
    this.blobs = new ContentStore(join(root, "storage"));
  }

  /** Loads the records; finishes removals a crash interrupted; a bad record is reported, skipped. */
  async open(onBad: (id: string, err: Error) => void = () => {}): Promise<this> {
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    rmSync(this.tmpRoot(), { recursive: true, force: true });
    mkdirSync(this.tmpRoot(), { mode: 0o700 });
    await this.blobs.open();
    for (const name of readdirSync(this.root)) {
      if (name.endsWith(REMOVING) && isFullPluginId(name.slice(0, -REMOVING.length))) {
        removeTree(join(this.root, name));
        continue;
      }
      if (!isFullPluginId(name)) continue;
      try {
        const record = JSON.parse(readFileSync(this.recordPath(name), "utf8")) as PluginRecord;
        if (record.plugin?.Id !== name) throw new Error(`its record names the id ${record.plugin?.Id}`);
        this.records.set(name, record);
      } catch (err) {
        // An add that a crash cut short: the root moved in, the record never written.
        if (isErrno(err, "ENOENT")) removeTree(this.dir(name));
        else onBad(name, err as Error);
      }
    }
    return this;
  }

  all(): PluginRecord[] {
    return [...this.records.values()];
  }

  /** By full id, name, or unique id prefix; NoSuchPlugin / AmbiguousPlugin otherwise. */
  get(reference: string): PluginRecord {
    const plugin = findPlugin(
      this.all().map((r) => r.plugin),
      reference,
    );
    return this.records.get(plugin.Id)!;
  }

  checkNameFree(name: string): void {
    if (this.all().some((r) => r.plugin.Name === name)) throw new PluginExists(name);
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  rootfs(id: string): string {
    return join(this.dir(id), "rootfs");
  }

  /** The host directory shared with the plugin's PropagatedMount (dockerd's "propagated-mount"). */
  propagatedMount(id: string): string {
    return join(this.dir(id), "propagated-mount");
  }

  logPath(id: string): string {
    return join(this.dir(id), "plugin.log");
  }

  private recordPath(id: string): string {
    return join(this.dir(id), "plugin.json");
  }

  private tmpRoot(): string {
    return join(this.root, "tmp");
  }

  /** A fresh directory to unpack a root into (removed at the next open if left behind). */
  tempDir(): Promise<string> {
    return mkdtemp(join(this.tmpRoot(), "rootfs-"));
  }

  /** Adds a new plugin: its unpacked root moves in, then its record is written. */
  add(record: PluginRecord, unpackedRoot: string): void {
    this.checkNameFree(record.plugin.Name);
    const dir = this.dir(record.plugin.Id);
    mkdirSync(dir, { mode: 0o700 });
    try {
      renameSync(unpackedRoot, this.rootfs(record.plugin.Id));
      this.save(record);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    this.records.set(record.plugin.Id, record);
  }

  save(record: PluginRecord): void {
    writeFileAtomicSync(this.recordPath(record.plugin.Id), JSON.stringify(record), 0o600);
    this.records.set(record.plugin.Id, record);
  }

  /** Forgets a plugin and deletes its directory (what is mounted below it is detached first). */
  remove(id: string): void {
    const dir = this.dir(id);
    unmountUnder(dir);
    try {
      renameSync(dir, dir + REMOVING);
    } catch (err) {
      if (!isErrno(err, "ENOENT")) throw err;
    }
    this.records.delete(id);
    removeTree(dir + REMOVING);
  }

  /** Deletes the blobs no plugin refers to (after a remove, an upgrade or a failed create). */
  async gc(): Promise<void> {
    const used = new Set<string>(this.leases);
    for (const r of this.records.values()) for (const d of [r.config, r.manifest, ...r.blobsums]) used.add(d);
    for (const digest of await this.blobs.list()) if (!used.has(digest)) await this.blobs.delete(digest);
  }
}

/** rm -rf that never follows a mount: whatever is mounted below is detached first. */
export function removeTree(dir: string): void {
  unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}
