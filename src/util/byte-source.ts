/**
 * Pulls exact byte counts out of a chunked stream without copying more than needed: the tar
 * reader asks for 512-byte headers and then for an entry's body, chunk by chunk, so a layer
 * flows through with the source's back-pressure and is never held whole.
 */
/** Anything that yields bytes: a Readable, an async generator, an array of buffers. */
export type Chunks = AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>;

export class ByteSource {
  private readonly iterator: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(source: Chunks) {
    const inner: AsyncIterator<Buffer | Uint8Array | string> | Iterator<Buffer | Uint8Array | string> =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    this.iterator = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        const v = r.value;
        return {
          done: false,
          value: typeof v === "string" ? Buffer.from(v) : Buffer.isBuffer(v) ? v : Buffer.from(v),
        };
      },
    };
  }

  /** Fills the buffer to at least `n` bytes; false when the stream ended first. */
  private async fill(n: number): Promise<boolean> {
    const parts = [this.pending];
    let length = this.pending.length;
    while (length < n && !this.done) {
      const r = await this.iterator.next();
      if (r.done) {
        this.done = true;
        break;
      }
      parts.push(r.value);
      length += r.value.length;
    }
    if (parts.length > 1) this.pending = Buffer.concat(parts, length);
    return length >= n;
  }

  /** Exactly `n` bytes, or undefined at a clean end of stream (nothing left at all). */
  async read(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.pending.length === 0) return undefined;
      throw new TruncatedStream(n, this.pending.length);
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }

  /** The next `n` bytes as they arrive, in chunks of whatever size the source produced. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.pending.length === 0) {
        if (this.done) throw new TruncatedStream(n, n - left);
        const r = await this.iterator.next();
        if (r.done) {
          this.done = true;
          throw new TruncatedStream(n, n - left);
        }
        this.pending = r.value;
      }
      const take = Math.min(left, this.pending.length);
      const out = this.pending.subarray(0, take);
      this.pending = this.pending.subarray(take);
      left -= take;
      yield out;
    }
  }

  /** Reads and discards the rest of the stream (a tar's trailing zero blocks still count in its digest). */
  async drain(): Promise<void> {
    this.pending = Buffer.alloc(0);
    while (!this.done) {
      const r = await this.iterator.next();
      if (r.done) this.done = true;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n));
  }
}

export class TruncatedStream extends Error {
  constructor(
    readonly wanted: number,
    readonly got: number,
  ) {
    super(`stream ended early: wanted ${wanted} bytes, got ${got}`);
  }
}
