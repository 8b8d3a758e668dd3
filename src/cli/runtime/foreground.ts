/**
 * Running a container or exec process in the foreground of this command: forward the signals a
 * user sends us, put our terminal in raw mode while a pty is relayed, and return the wait status.
 */
import type { FrameChannel } from "../../runtime/native/channel.js";
import { waitExited } from "../../runtime/native/monitor.js";
import { Msg } from "../../runtime/native/protocol.js";

const FORWARDED: NodeJS.Signals[] = [
  "SIGINT",
  "SIGTERM",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
];

function sendSize(channel: FrameChannel): void {
  if (!process.stdout.isTTY) return;
  const size = Buffer.alloc(4);
  size.writeUInt16LE(process.stdout.rows, 0);
  size.writeUInt16LE(process.stdout.columns, 2);
  channel.send(Msg.RESIZE, size);
}

export async function runForeground(
  pid: number,
  channel: FrameChannel,
  start: () => Promise<void>,
  relaysTerminal = false,
): Promise<number> {
  const handlers = FORWARDED.map((signal) => {
    const handler = () => {
      if (signal === "SIGWINCH") {
        if (relaysTerminal) sendSize(channel);
        return;
      }
      try {
        process.kill(pid, signal);
      } catch {}
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  const raw = relaysTerminal && process.stdin.isTTY;
  if (raw) process.stdin.setRawMode(true);
  try {
    await start();
    if (relaysTerminal) sendSize(channel);
    return await waitExited(channel);
  } finally {
    if (raw) process.stdin.setRawMode(false);
    for (const [signal, handler] of handlers) process.off(signal, handler);
    channel.close();
  }
}
