/**
 * Autolock (`swarm init --autolock`, `swarm update --autolock`): a manager's private keys (its
 * node key, which etcd and the peer API use, and the CA key) sit on disk only encrypted under the
 * swarm's unlock key. The daemon always reads them from clear copies on a tmpfs (the exec-root,
 * under /run), so that turning autolock on or off changes no path a running etcd reads; the
 * copies go when the daemon stops, so a locked manager that starts again does nothing until
 * `swarm unlock` gives the key. What this does not cover: the
 * embedded etcd's data directory is not encrypted (etcd has no encryption at rest); its client
 * and peer ports need the node key, so a locked manager's member does not run.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BerthError, InvalidArgument } from "../errors.js";
import { seal, unseal } from "./sealing.js";

const PREFIX = "SWMKEY-1-";
/** The secrets a manager holds: its node key, the CA key, its store password (a worker: no CA key). */
const KEY_FILES = ["node.key", "ca.key", "store.pass"] as const;
const LOCKED = ".locked";
const PURPOSE = "keys at rest";

/** The unlock key given does not open this manager's keys. */
export class InvalidUnlockKey extends BerthError {
  constructor() {
    super("unauthorized", "swarm could not be unlocked: invalid key provided");
  }
}

/** A new unlock key, in docker's human-readable form. */
export function newUnlockKey(): string {
  return PREFIX + randomBytes(32).toString("base64").replace(/=+$/, "");
}

/** The key's bytes, as base64 text; a key in any other form is refused. */
export function parseUnlockKey(text: string): string {
  const body = text.trim().startsWith(PREFIX) ? text.trim().slice(PREFIX.length) : "";
  if (!/^[A-Za-z0-9+/]{43}$/.test(body))
    throw new InvalidArgument("invalid swarm unlock key: it reads SWMKEY-1- and 43 more characters");
  return body;
}

/**
 * The private key files of one node. The daemon reads them from `clearDir` (a tmpfs) while it
 * runs; on disk, in `certsDir`, they are clear, or sealed (`*.locked`) while autolock is on.
 */
export class KeysAtRest {
  constructor(
    private readonly certsDir: string,
    readonly clearDir: string,
  ) {}

  /** Not locked: the clear keys on disk copied where the daemon reads them. */
  load(): void {
    this.copy(this.certsDir, this.clearDir);
  }

  /** Seals the keys under `unlockKey` (again, when the key changed); no clear key stays on disk. */
  lock(unlockKey: string): void {
    const key = parseUnlockKey(unlockKey);
    for (const name of this.present(this.clearDir)) {
      const text = readFileSync(join(this.clearDir, name), "utf8");
      writeFileSync(join(this.certsDir, name + LOCKED), seal(key, text, PURPOSE), { mode: 0o600 });
      rmSync(join(this.certsDir, name), { force: true });
    }
  }

  /** Opens the sealed keys onto the tmpfs; a wrong key changes nothing. */
  unlock(unlockKey: string): void {
    const key = parseUnlockKey(unlockKey);
    const opened: Array<[string, string]> = [];
    for (const name of KEY_FILES) {
      const sealed = join(this.certsDir, name + LOCKED);
      if (!existsSync(sealed)) continue;
      try {
        opened.push([name, unseal(key, readFileSync(sealed, "utf8"), PURPOSE)]);
      } catch {
        throw new InvalidUnlockKey();
      }
    }
    mkdirSync(this.clearDir, { recursive: true, mode: 0o700 });
    for (const [name, text] of opened) writeFileSync(join(this.clearDir, name), text, { mode: 0o600 });
  }

  /** Autolock turned off: the keys back on disk in clear, the sealed ones gone. */
  release(): void {
    this.copy(this.clearDir, this.certsDir);
    this.discardSealed();
  }

  discardSealed(): void {
    for (const name of KEY_FILES) rmSync(join(this.certsDir, name + LOCKED), { force: true });
  }

  /** The clear copies gone (daemon stop, leave): the next start needs the unlock key if locked. */
  forget(): void {
    rmSync(this.clearDir, { recursive: true, force: true });
  }

  private present(dir: string): string[] {
    return KEY_FILES.filter((name) => existsSync(join(dir, name)));
  }

  private copy(from: string, to: string): void {
    mkdirSync(to, { recursive: true, mode: 0o700 });
    for (const name of this.present(from))
      writeFileSync(join(to, name), readFileSync(join(from, name)), { mode: 0o600 });
  }
}
