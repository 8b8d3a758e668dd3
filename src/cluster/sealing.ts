/**
 * Values in the store that only managers may read (join tokens; secrets later), sealed with
 * AES-256-GCM under a key derived from the CA's private key. Managers hold that key on their
 * disks (it travels only to a joining manager, over the verified join channel); it is never in
 * the store, so a worker's certificate, which reads the store, cannot open them.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { SystemError } from "../errors.js";

function keyOf(caKey: string): Buffer {
  return Buffer.from(hkdfSync("sha256", caKey, "berth-cluster", "sealed values", 32));
}

export function seal(caKey: string, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", keyOf(caKey), iv);
  const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64");
}

export function unseal(caKey: string, sealed: string): string {
  const raw = Buffer.from(sealed, "base64");
  try {
    const decipher = createDecipheriv("aes-256-gcm", keyOf(caKey), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
  } catch (err) {
    throw new SystemError("a sealed value of the cluster does not open with this manager's CA key", {
      cause: err,
    });
  }
}
