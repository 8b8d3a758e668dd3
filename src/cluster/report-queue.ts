/**
 * A worker's reports on their way to a manager: those made within a few milliseconds of each
 * other, and all those made while a call is out, go in one call (`/reports/batch`), so thirty
 * tasks starting at once cost a call or two rather than ninety. A report that names a `key` (a
 * task's status) replaces the one of the same key still waiting, when it is at least as new —
 * by its `order`: the version of the task it was made from, then how far on the state is — and
 * is dropped when it is older: a task never goes back, and the report replaced would have failed
 * its version check anyway. What a replaced or dropped report's caller is answered is
 * `displaced` (a status "not written": its next pass reads the task again).
 */
import { PeerRefused } from "./join.js";

/** Reports in one batch at most (the manager refuses more; etcd's transactions hold 128). */
export const MAX_BATCH_REPORTS = 128;
/** A batch's body stays under the peer API's 64 KiB. */
const MAX_BATCH_BYTES = 48 * 1024;
/** How long a report waits for others when no call is out. */
const WINDOW_MS = 5;

export interface BatchItem {
  path: string;
  body: unknown;
}

/** The manager's answer to each report of a batch, in order: its answer, or why it refused it. */
export type ItemAnswer = { answer: unknown } | { error: string; status: number };

export interface Supersede {
  key: string;
  order: number;
  displaced: unknown;
}

interface Waiter {
  resolve: (answer: unknown) => void;
  reject: (err: unknown) => void;
}

interface Queued extends BatchItem {
  size: number;
  supersede: Supersede | undefined;
  waiter: Waiter;
}

export class ReportQueue {
  private queue: Queued[] = [];
  /** Waiting reports by key (sent ones are not here). */
  private readonly byKey = new Map<string, Queued>();
  private timer: NodeJS.Timeout | undefined;
  private sending = false;

  constructor(private readonly send: (reports: BatchItem[]) => Promise<ItemAnswer[]>) {}

  report<T>(path: string, body: unknown, supersede?: Supersede): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = { resolve: resolve as (answer: unknown) => void, reject };
      const size = JSON.stringify(body ?? null).length + path.length + 32;
      const waiting = supersede && this.byKey.get(supersede.key);
      if (supersede && waiting) {
        if (supersede.order < waiting.supersede!.order) return resolve(supersede.displaced as T);
        waiting.waiter.resolve(waiting.supersede!.displaced);
        Object.assign(waiting, { body, size, supersede, waiter });
        return;
      }
      const item: Queued = { path, body, size, supersede, waiter };
      this.queue.push(item);
      if (supersede) this.byKey.set(supersede.key, item);
      if (!this.sending && !this.timer)
        this.timer = setTimeout(() => {
          this.timer = undefined;
          void this.drain();
        }, WINDOW_MS);
    });
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (this.queue.length) {
      const batch = this.take();
      try {
        const answers = await this.send(batch.map(({ path, body }) => ({ path, body })));
        if (!Array.isArray(answers) || answers.length !== batch.length)
          throw new PeerRefused("the manager's answer to a batch of reports does not match it", 500);
        batch.forEach((item, i) => {
          const a = answers[i]!;
          if ("error" in a) item.waiter.reject(new PeerRefused(a.error, a.status));
          else item.waiter.resolve(a.answer);
        });
      } catch (err) {
        for (const item of batch) item.waiter.reject(err);
      }
    }
    this.sending = false;
  }

  /** The next batch: the oldest reports, as many as one call carries. */
  private take(): Queued[] {
    let bytes = 0;
    let n = 0;
    while (
      n < this.queue.length &&
      n < MAX_BATCH_REPORTS &&
      (n === 0 || bytes + this.queue[n]!.size <= MAX_BATCH_BYTES)
    )
      bytes += this.queue[n++]!.size;
    const batch = this.queue.slice(0, n);
    this.queue = this.queue.slice(n);
    for (const item of batch) if (item.supersede) this.byKey.delete(item.supersede.key);
    return batch;
  }
}
