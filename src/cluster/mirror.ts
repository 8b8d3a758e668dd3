/**
 * A copy of the keys under one prefix of the store, read once and kept current by a watch, so
 * that a reader that looks at them often (the leader's passes, a node agent's) does not read the
 * whole prefix from etcd each time: at 30,000 tasks such a read is tens of megabytes.
 *
 * The copy is of one revision at a time, as a read would be: it is read whole at revision R and
 * then takes the watch's events from R+1 in order. `catchUp(rev)` waits until the copy holds
 * everything up to `rev` (a writer's own transaction), so a reader never decides twice on the
 * same state. It is read whole again when a compaction cut its watch short (events were lost),
 * when the watch is behind for too long, and now and then.
 */
import { errorText } from "../errors.js";
import type { EtcdClient, KeyValue, WatchEvent } from "./etcd.js";

/**
 * How often the copy is read whole again even when nothing seems wrong (a compaction that cut a
 * watch short makes it read at once). Rarely: at 30,000 tasks a read is tens of megabytes.
 */
const REREAD_MS = 600_000;
/** How long `catchUp` waits for the watch before it reads the prefix whole. */
const CATCH_UP_MS = 2_000;

export interface MirrorEntry<T> {
  kv: KeyValue;
  /** The value parsed once, when it arrived; undefined when it does not parse. */
  value: T | undefined;
}

export class StoreMirror<T> {
  /** key → entry, the whole prefix at `revision`. */
  readonly entries = new Map<string, MirrorEntry<T>>();
  /** The store revision the copy is complete up to. */
  revision = 0;
  private stopWatch: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ready: Promise<void> | undefined;
  private reading: Promise<void> | undefined;
  private waiters: Array<{ revision: number; resolve: () => void }> = [];
  private stopped = false;

  constructor(
    private readonly etcd: EtcdClient,
    readonly prefix: string,
    private readonly parse: (kv: KeyValue) => T | undefined,
    /** Called after each change of the copy, with the keys that changed (all, after a reread). */
    private readonly onChange: (events: WatchEvent[] | "reread") => void,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** Reads the prefix and starts following it; resolves once the first read is in. */
  start(): Promise<void> {
    this.stopped = false;
    this.ready ??= this.reread().catch((err) => {
      this.ready = undefined; // the next start reads again
      throw err;
    });
    this.timer ??= setInterval(() => void this.reread().catch(() => {}), REREAD_MS).unref();
    return this.ready;
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
    this.stopWatch = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    this.ready = undefined;
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  values(): T[] {
    const out: T[] = [];
    for (const e of this.entries.values()) if (e.value !== undefined) out.push(e.value);
    return out;
  }

  /** Resolves once the copy holds every change up to `revision`; reads whole if the watch lags. */
  async catchUp(revision: number): Promise<void> {
    if (this.revision >= revision || this.stopped) return;
    const caught = new Promise<void>((resolve) => this.waiters.push({ revision, resolve }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), CATCH_UP_MS);
    });
    const outcome = await Promise.race([caught, late]);
    clearTimeout(timer);
    if (outcome === "late" && this.revision < revision) await this.reread();
  }

  /** Reads the prefix whole and follows it from there (one read at a time). */
  reread(): Promise<void> {
    this.reading ??= (async () => {
      try {
        const { kvs, revision } = await this.etcd.list(this.prefix);
        if (this.stopped) return;
        this.stopWatch?.();
        this.entries.clear();
        for (const kv of kvs) this.entries.set(kv.key, { kv, value: this.parse(kv) });
        this.revision = revision;
        this.stopWatch = this.etcd.watch(
          this.prefix,
          revision + 1,
          (events) => this.apply(events),
          () => void this.reread().catch(() => {}),
        );
        this.settle();
        this.onChange("reread");
      } catch (err) {
        this.log(`store mirror of ${this.prefix}: ${errorText(err)}`);
        throw err;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  /** A watch response: whole revisions (etcd never splits one across responses). */
  private apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === "DELETE") this.entries.delete(e.kv.key);
      else this.entries.set(e.kv.key, { kv: e.kv, value: this.parse(e.kv) });
      if (e.kv.modRevision > this.revision) this.revision = e.kv.modRevision;
    }
    this.settle();
    this.onChange(events);
  }

  private settle(): void {
    if (!this.waiters.length) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (w.revision <= this.revision ? w.resolve : () => still.push(w))();
    this.waiters = still;
  }
}
