/**
 * Docker's detach keys (`--detach-keys`, default ctrl-p,ctrl-q): the sequence that, typed into an
 * attached session, leaves the container running. The daemon ends the session on it; the CLI
 * watches for it too, to tell a detach from an exit.
 */
import { InvalidArgument } from "../errors.js";

const CTRL_SPECIAL: Record<string, number> = { "@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, _: 31 };

/** Docker's --detach-keys ("ctrl-p,ctrl-q", "a,ctrl-@") → the byte sequence. */
export function parseDetachKeys(text: string): Buffer {
  const bytes = text.split(",").map((k) => {
    const key = k.trim();
    if (key.length === 1) return key.charCodeAt(0);
    const m = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (!m) throw new InvalidArgument(`Invalid detach keys (${text}) provided`);
    const c = m[1]!;
    return c >= "a" && c <= "z" ? c.charCodeAt(0) - 96 : CTRL_SPECIAL[c]!;
  });
  return Buffer.from(bytes);
}

export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]); // ctrl-p, ctrl-q

/** Watches client input for the detach sequence; returns the bytes before it and whether it came. */
export class DetachScanner {
  private matched = 0;

  constructor(private readonly keys: Buffer) {}

  scan(chunk: Buffer): { pass: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { pass: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { pass: Buffer.from(out), detach: true };
        continue;
      }
      // A partial match that breaks off was input after all.
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = byte === this.keys[0] ? 1 : 0;
      if (this.matched === 0) out.push(byte);
    }
    return { pass: Buffer.from(out), detach: false };
  }
}
