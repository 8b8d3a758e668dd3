/**
 * Group commit of conditional writes: the updates made at about the same time, by any caller
 * (a worker's batch of reports, reports of many workers, a manager's own), go to etcd in one
 * call, each one a transaction of its own inside it (etcd's nested transactions), so an update
 * whose record changed meanwhile fails alone and takes none of the others with it. While a call
 * is out, the updates that come wait and go together in the next one. etcd refuses a
 * transaction that writes one key twice, so a second update of a key waits for the next call;
 * and one that nests as many transactions as --max-txn-ops allows (MAX_NESTED_TXNS).
 */
import { type EtcdClient, MAX_NESTED_TXNS } from "./etcd.js";

interface Pending {
  key: string;
  value: string;
  modRevision: number;
  resolve: (written: boolean) => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private queue: Pending[] = [];
  private draining = false;

  constructor(private readonly etcd: EtcdClient) {}

  /** Writes `value` at `key` if the key is still at `modRevision`; false if it changed. */
  write(key: string, value: string, modRevision: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ key, value, modRevision, resolve, reject });
      if (this.draining) return;
      this.draining = true;
      // The writes of the same turn of the event loop (a batch's items) go in the first call.
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const keys = new Set<string>();
      const group: Pending[] = [];
      const later: Pending[] = [];
      for (const w of this.queue) {
        if (group.length < MAX_NESTED_TXNS && !keys.has(w.key)) {
          keys.add(w.key);
          group.push(w);
        } else later.push(w);
      }
      this.queue = later;
      try {
        const held = await this.etcd.txnEach(
          group.map((w) => ({
            compare: [{ key: w.key, target: "MOD", modRevision: w.modRevision }],
            ops: [{ put: { key: w.key, value: w.value } }],
          })),
        );
        for (const [i, w] of group.entries()) w.resolve(held[i]!);
      } catch (err) {
        for (const w of group) w.reject(err);
      }
    }
    this.draining = false;
  }
}
