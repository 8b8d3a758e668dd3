/**
 * Joins a page's WebSocket to an exec's terminal stream: keystrokes in, output out, and either
 * side's end ends the other. Output is sent one chunk at a time, so a slow page holds the
 * terminal back (its pty fills) rather than the console's memory.
 */
import type { Socket } from "node:net";
import type { WebSocket } from "ws";

export function bridgeExec(ws: WebSocket, terminal: Socket, head: Buffer): void {
  if (head.length) ws.send(head);
  terminal.on("data", (chunk: Buffer) => {
    terminal.pause();
    ws.send(chunk, { binary: true }, () => terminal.resume());
  });
  terminal.on("error", () => ws.terminate());
  terminal.on("close", () => ws.close(1000, "the process ended"));
  ws.on("message", (data: Buffer) => terminal.write(data));
  ws.on("close", () => terminal.destroy());
  ws.on("error", () => terminal.destroy());
}
