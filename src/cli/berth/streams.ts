/**
 * The CLI's end of a container's streams: the multiplexed stdout/stderr frames (no tty) or raw
 * bytes (tty), the user's terminal in raw mode while attached, and its size kept in step.
 */

import type { Socket } from "node:net";
import { DEFAULT_DETACH_KEYS, DetachScanner, parseDetachKeys } from "../../util/detach-keys.js";
import type { ApiClient, Hijacked } from "./client.js";

/** Splits the 8-byte-header frames of a multiplexed stream onto stdout and stderr. */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(
    private readonly stdout: NodeJS.WritableStream,
    private readonly stderr: NodeJS.WritableStream,
  ) {}

  write(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 8) {
      const size = this.pending.readUInt32BE(4);
      if (this.pending.length < 8 + size) break;
      const data = this.pending.subarray(8, 8 + size);
      (this.pending[0] === 2 ? this.stderr : this.stdout).write(data);
      this.pending = this.pending.subarray(8 + size);
    }
  }
}

export interface SessionOptions {
  tty: boolean;
  stdin: boolean;
  /** POST path that takes ?h=&w= (the container's or the exec's resize). */
  resizePath?: string;
  /** --detach-keys (docker's default: ctrl-p,ctrl-q). */
  detachKeys?: string;
}

/**
 * Pumps a hijacked connection until the daemon closes it: output to this process's stdout and
 * stderr, this process's stdin (raw when it is a terminal) to the container.
 */
export function runSession(
  client: ApiClient,
  h: Hijacked,
  o: SessionOptions,
): Promise<{ detached: boolean }> {
  const socket: Socket = h.socket;
  const out = o.tty ? undefined : new Demuxer(process.stdout, process.stderr);
  const take = (chunk: Buffer) => (out ? out.write(chunk) : process.stdout.write(chunk));
  if (h.head.length) take(h.head);
  const stream = h.response ?? socket;
  stream.on("data", take);
  const stdin = process.stdin;
  const raw = o.tty && o.stdin && stdin.isTTY;
  const resize = () => {
    if (!o.resizePath || !process.stdout.isTTY) return;
    const { rows, columns } = process.stdout;
    client.call("POST", o.resizePath, { query: { h: rows, w: columns } }).catch(() => {});
  };
  if (o.tty) {
    resize();
    process.stdout.on("resize", resize);
  }
  if (raw) stdin.setRawMode(true);
  // The daemon ends the session at the detach keys; watching for them here too tells a detach
  // from an exit, so that the command returns at once instead of waiting for one.
  const scanner = new DetachScanner(o.detachKeys ? parseDetachKeys(o.detachKeys) : DEFAULT_DETACH_KEYS);
  let detached = false;
  if (o.stdin) {
    stdin.on("data", (d: Buffer) => {
      if (scanner.scan(d).detach) detached = true;
      socket.write(d);
    });
    // Closing our side of the socket tells the daemon our input ended (StdinOnce closes theirs).
    stdin.on("end", () => socket.end());
    stdin.resume();
  }
  return new Promise((resolve) => {
    const done = () => {
      if (raw) stdin.setRawMode(false);
      process.stdout.off("resize", resize);
      stdin.pause();
      stdin.removeAllListeners("data");
      resolve({ detached });
    };
    stream.once("end", done);
    socket.once("close", done);
  });
}
