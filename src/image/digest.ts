/** sha256 digests of streams and buffers, in the `sha256:<hex>` form the OCI specs use. */
import { createHash, type Hash } from "node:crypto";
import { DigestMismatch } from "./errors.js";

export const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function digestOf(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function hexOf(digest: string): string {
  if (!SHA256.test(digest))
    throw new DigestMismatch(`unsupported or malformed digest "${digest}" (Berth verifies sha256 only)`);
  return digest.slice("sha256:".length);
}

/** Passes chunks through while hashing them; `digest()` and `size` are final after the end. */
export class HashingStream {
  private readonly hash: Hash = createHash("sha256");
  size = 0;

  async *pass(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      this.size += chunk.length;
      yield chunk;
    }
  }

  digest(): string {
    return `sha256:${this.hash.digest("hex")}`;
  }
}

/** Throws DigestMismatch unless the content matches what its descriptor promised. */
export function verify(
  what: string,
  expected: { digest?: string; size?: number },
  actual: { digest: string; size: number },
): void {
  if (expected.size !== undefined && expected.size !== actual.size)
    throw new DigestMismatch(
      `${what}: size ${actual.size}, expected ${expected.size} (truncated or wrong content)`,
    );
  if (expected.digest !== undefined && expected.digest !== actual.digest)
    throw new DigestMismatch(`${what}: digest ${actual.digest}, expected ${expected.digest}`);
}
