/** Cluster object ids in swarm's alphabet: 25 characters of lower-case base 36. */
import { randomBytes } from "node:crypto";

export function newClusterId(): string {
  return BigInt(`0x${randomBytes(16).toString("hex")}`)
    .toString(36)
    .padStart(25, "0")
    .slice(-25);
}

/** True for an id of that shape (a task label on a container is any client's to set). */
export function isClusterId(text: string | undefined): text is string {
  return text !== undefined && /^[0-9a-z]{25}$/.test(text);
}
