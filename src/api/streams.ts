/**
 * The byte streams of the Docker API: stdout/stderr multiplexing (an 8-byte header per frame
 * when there is no tty), and relaying a hijacked client to a container's monitor.
 */

import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { FrameChannel } from "../runtime/native/channel.js";
import type { Frame } from "../runtime/native/protocol.js";
import { Msg } from "../runtime/native/protocol.js";
import { DetachScanner } from "../util/detach-keys.js";

export const MULTIPLEXED = "application/vnd.docker.multiplexed-stream";
export const RAW = "application/vnd.docker.raw-stream";

/** A frame of the multiplexed stream: [stream, 0, 0, 0, size (big-endian u32)] + data. */
export function muxFrame(stream: 0 | 1 | 2, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

export interface RelayOptions {
  tty: boolean;
  stdin: boolean;
  detachKeys: Buffer;
  /**
   * When the client's input ends: close the process's stdin (StdinOnce without a terminal), or
   * else end this session and leave the process as it is (a client that detached, as dockerd
   * treats it: a terminal's stdin is never closed by a client going away).
   */
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
        else finish();
      });
      // The request's body may have been read off it first, which left it paused.
      socket.resume();
    }
    client.on("close", finish);
    client.on("error", finish);
  });
}
