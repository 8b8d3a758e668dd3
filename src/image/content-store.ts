/**
 * Blobs by digest under `<root>/blobs/sha256/<hex>`, the layout of an OCI image layout's
 * blobs directory. Content arrives through an Ingest: written to `<root>/ingest/` while its
 * digest is computed, verified, fsynced, then renamed into place, so a blob path exists only
 * for complete, verified content. The store knows nothing of images: what is referenced is the
 * image store's business (it runs the garbage collection), and `ingest/` leftovers from a crash
 * are removed on open.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isErrno } from "../errors.js";
import type { Chunks } from "../util/byte-source.js";
import { hexOf, SHA256, verify } from "./digest.js";
import { DigestMismatch } from "./errors.js";

export interface BlobInfo {
  digest: string;
  size: number;
}

export interface Expected {
  digest?: string;
  size?: number;
}

export class ContentStore {
  constructor(readonly root: string) {}

  /** Creates the directories and removes partial ingests left by a crash. */
  async open(): Promise<this> {
    await mkdir(join(this.root, "blobs", "sha256"), { recursive: true });
    await rm(join(this.root, "ingest"), { recursive: true, force: true });
    await mkdir(join(this.root, "ingest"), { recursive: true });
    return this;
  }

  path(digest: string): string {
    return join(this.root, "blobs", "sha256", hexOf(digest));
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.path(digest));
      return { digest, size: st.size };
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  /** Starts writing a blob; the caller writes chunks, then commits (verified) or aborts. */
  async ingest(expected: Expected = {}): Promise<Ingest> {
    const path = join(this.root, "ingest", randomBytes(8).toString("hex"));
    return new Ingest(this, path, await open(path, "wx", 0o644), expected);
  }

  /** Stores a whole stream as a blob and returns its digest and size. */
  async write(source: Chunks, expected: Expected = {}): Promise<BlobInfo> {
    const ingest = await this.ingest(expected);
    try {
      for await (const chunk of source)
        await ingest.write(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
      return await ingest.commit();
    } catch (err) {
      await ingest.abort();
      throw err;
    }
  }

  async writeBytes(data: Buffer | string, expected: Expected = {}): Promise<BlobInfo> {
    return this.write([typeof data === "string" ? Buffer.from(data) : data], expected);
  }

  /**
   * The blob's content as a stream. The size is always checked (a blob that changed on disk is
   * an error at its end); with `verify`, the digest too.
   */
  async *read(digest: string, options: { verify?: boolean } = {}): AsyncGenerator<Buffer> {
    const info = await this.info(digest);
    if (!info) throw new DigestMismatch(`blob ${digest} is missing from the content store`);
    const hash = options.verify ? createHash("sha256") : undefined;
    let size = 0;
    for await (const chunk of createReadStream(this.path(digest), { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      size += b.length;
      hash?.update(b);
      yield b;
    }
    verify(
      `blob ${digest} in the content store`,
      { size: info.size, ...(hash ? { digest } : {}) },
      {
        digest: hash ? `sha256:${hash.digest("hex")}` : digest,
        size,
      },
    );
  }

  /** A small blob (manifest, config, index) read whole, its digest always verified. */
  async readBytes(digest: string): Promise<Buffer> {
    const data = await readFile(this.path(digest)).catch((err) => {
      if (isErrno(err, "ENOENT"))
        throw new DigestMismatch(`blob ${digest} is missing from the content store`);
      throw err;
    });
    verify(
      `blob ${digest} in the content store`,
      { digest },
      { digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, size: data.length },
    );
    return data;
  }

  async delete(digest: string): Promise<void> {
    await unlink(this.path(digest)).catch((err) => {
      if (!isErrno(err, "ENOENT")) throw err;
    });
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.root, "blobs", "sha256"));
    return names.map((n) => `sha256:${n}`).filter((d) => SHA256.test(d));
  }
}

/** One blob being written: hashed as it goes, renamed into the store only once verified. */
export class Ingest {
  private readonly hash = createHash("sha256");
  private size = 0;
  private closed = false;

  constructor(
    private readonly store: ContentStore,
    private readonly path: string,
    private readonly file: FileHandle,
    private readonly expected: Expected,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.expected.size !== undefined && this.size > this.expected.size)
      throw new DigestMismatch(
        `blob ${this.expected.digest ?? ""}: more than the ${this.expected.size} bytes announced`,
      );
    await this.file.write(chunk);
  }

  /** Passes the stream on while writing it: for a layer that is stored and unpacked at once. */
  async *tee(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      await this.write(chunk);
      yield chunk;
    }
  }

  /** Verifies, syncs and moves the blob into place; a blob already there is kept. */
  async commit(): Promise<BlobInfo> {
    const actual = { digest: `sha256:${this.hash.digest("hex")}`, size: this.size };
    try {
      verify(`blob ${this.expected.digest ?? actual.digest}`, this.expected, actual);
      await this.file.sync();
      await this.close();
      await rename(this.path, this.store.path(actual.digest));
      return actual;
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }
}
