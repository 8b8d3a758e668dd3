/**
 * The engine's container records: one JSON file per container (so that a created container
 * costs one file of disk), written atomically, indexed in memory by id, name and id prefix.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Conflict, NotFound } from "../errors.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import type { ContainerRecord } from "./docker-types.js";

export class NoSuchContainer extends NotFound {
  constructor(nameOrId: string) {
    super(`No such container: ${nameOrId}`);
  }
}

export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  constructor(readonly root: string) {}

  /** Loads every record; a file that does not parse is reported and skipped, never fatal. */
  open(onBad: (file: string, err: Error) => void = () => {}): void {
    mkdirSync(this.root, { recursive: true, mode: 0o710 });
    for (const file of readdirSync(this.root)) {
      if (!file.endsWith(".json")) continue;
      try {
        const record = JSON.parse(readFileSync(join(this.root, file), "utf8")) as ContainerRecord;
        this.byId.set(record.Id, record);
        this.byName.set(record.Name, record.Id);
      } catch (err) {
        onBad(file, err as Error);
      }
    }
  }

  /** The directory for a container's files other than its record (logs, hosts, resolv.conf). */
  dir(id: string): string {
    return join(this.root, id);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  nameTaken(name: string): boolean {
    return this.byName.has(name);
  }

  /** By full id, exact name ("web" or "/web"), or unique id prefix — Docker's lookup order. */
  find(nameOrId: string): ContainerRecord | undefined {
    const exact = this.byId.get(nameOrId);
    if (exact) return exact;
    const byName = this.byName.get(nameOrId.startsWith("/") ? nameOrId : `/${nameOrId}`);
    if (byName) return this.byId.get(byName);
    if (!/^[0-9a-f]+$/.test(nameOrId)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(nameOrId));
    if (matches.length > 1) throw new Conflict(`Multiple IDs found with provided prefix: ${nameOrId}`);
    return matches.length === 1 ? this.byId.get(matches[0]!) : undefined;
  }

  get(nameOrId: string): ContainerRecord {
    const record = this.find(nameOrId);
    if (!record) throw new NoSuchContainer(nameOrId);
    return record;
  }

  /** Adds a new record; the name must be free (checked and taken in one step). */
  add(record: ContainerRecord): void {
    if (this.byName.has(record.Name)) {
      const holder = this.byName.get(record.Name)!;
      throw new Conflict(
        `Conflict. The container name "${record.Name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    this.byName.set(record.Name, record.Id);
    this.byId.set(record.Id, record);
    try {
      this.save(record);
    } catch (err) {
      this.byName.delete(record.Name);
      this.byId.delete(record.Id);
      throw err;
    }
  }

  /**
   * `durable: false` for what only this boot makes true (running, pid, exit state): a power loss
   * makes it moot and live restore re-derives it from the processes, so it is not synced. What a
   * user decided (create, rename, update, stop) is.
   */
  save(record: ContainerRecord, options: { durable?: boolean } = {}): void {
    writeFileAtomicSync(join(this.root, `${record.Id}.json`), JSON.stringify(record), 0o600, options);
  }

  rename(record: ContainerRecord, name: string): void {
    if (this.byName.has(name))
      throw new Conflict(
        `Error when allocating new name: Conflict. The container name "${name}" is already in use by container "${this.byName.get(name)}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    this.byName.delete(record.Name);
    record.Name = name;
    this.byName.set(name, record.Id);
    this.save(record);
  }

  remove(record: ContainerRecord): void {
    rmSync(join(this.root, `${record.Id}.json`), { force: true });
    rmSync(this.dir(record.Id), { recursive: true, force: true });
    this.byId.delete(record.Id);
    this.byName.delete(record.Name);
  }
}
