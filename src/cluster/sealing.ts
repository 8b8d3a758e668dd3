/**
 * Values in the store that only managers may read (join tokens, the unlock key, secrets), sealed
 * with AES-256-GCM under a key derived from the CA's private key (autolock seals a manager's keys
 * on disk the same way, under a key derived from the unlock key). Managers hold that key on their
 * disks (it travels only to a joining manager, over the verified join channel); it is never in
 * the store, so a worker's certificate, which reads the store, cannot open them.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { SystemError } from "../errors.js";

/** A key for one purpose (sealed values, keys at rest) derived from a secret. */
function keyOf(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "berth-cluster", purpose, 32));
}

const SEALED_VALUES = "sealed values";

/**
 * `bound`: what the value belongs to (a secret's kind and id), authenticated with it, so that a
 * sealed value copied into another record does not open there.
 */
export function seal(secret: string, plain: string, purpose = SEALED_VALUES, bound = ""): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(secret, purpose), iv);
  if (bound) cipher.setAAD(Buffer.from(bound));
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
}

export function unseal(secret: string, sealed: string, purpose = SEALED_VALUES, bound = ""): string {
  const raw = Buffer.from(sealed, "base64");
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(secret, purpose), raw.subarray(0, 12));
    if (bound) decipher.setAAD(Buffer.from(bound));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  } catch (err) {
    throw new SystemError("a sealed value of the cluster does not open with this manager's CA key", {
      cause: err,
    });
  }
}
