/**
 * The byte streams of the Docker API: stdout/stderr multiplexing (an 8-byte header per frame
 * when there is no tty), detach keys, and relaying a hijacked client to a container's monitor.
 */

import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { InvalidArgument } from "../errors.js";
import type { FrameChannel } from "../runtime/native/channel.js";
import type { Frame } from "../runtime/native/protocol.js";
import { Msg } from "../runtime/native/protocol.js";

export const MULTIPLEXED = "application/vnd.docker.multiplexed-stream";
export const RAW = "application/vnd.docker.raw-stream";

/** A frame of the multiplexed stream: [stream, 0, 0, 0, size (big-endian u32)] + data. */
export function muxFrame(stream: 0 | 1 | 2, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

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

export interface RelayOptions {
  tty: boolean;
  stdin: boolean;
  detachKeys: Buffer;
  /** Close the container's stdin when the client's ends (StdinOnce). */
  closeStdinOnEnd: boolean;
  onDetach?: () => void;
  /** The wait status the monitor reported at the exit. */
  onExit?: (status: number) => void;
}

/**
 * Relays a monitor channel (already attached) and a client: output to the client (raw with a
 * tty, multiplexed without), the client's input to the process, until the process exits, the
 * client leaves, or the client types the detach keys.
 */
export function relay(
  channel: FrameChannel,
  client: Socket | ServerResponse,
  o: RelayOptions,
): Promise<void> {
  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      channel.close();
      if ("destroySoon" in client) (client as Socket).end();
      else (client as ServerResponse).end();
      resolve();
    };
    const onFrame = (f: Frame) => {
      if (f.type === Msg.STDOUT) client.write(o.tty ? f.payload : muxFrame(1, f.payload));
      else if (f.type === Msg.STDERR) client.write(o.tty ? f.payload : muxFrame(2, f.payload));
      else if (f.type === Msg.EXITED) {
        o.onExit?.(f.payload.readInt32LE(0));
        finish();
      }
    };
    for (const f of channel.drain()) onFrame(f);
    channel.onFrame = onFrame;
    channel.socket.once("close", finish);
    if (
      o.stdin &&
      "on" in client &&
      (client as Socket).readable !== undefined &&
      !(client as ServerResponse).writeHead
    ) {
      const socket = client as Socket;
      const scanner = new DetachScanner(o.detachKeys);
      socket.on("data", (chunk: Buffer) => {
        const { pass, detach } = scanner.scan(chunk);
        if (pass.length) channel.send(Msg.STDIN, pass);
        if (detach) {
          o.onDetach?.();
          finish();
        }
      });
      socket.on("end", () => {
        if (o.closeStdinOnEnd) channel.send(Msg.CLOSE_STDIN);
      });
      // The request's body may have been read off it first, which left it paused.
      socket.resume();
    }
    client.on("close", finish);
    client.on("error", finish);
  });
}
