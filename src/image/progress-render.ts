/**
 * Draws pull/push/load progress events for a person: on a terminal, one line per layer redrawn
 * in place with its bar (what docker shows); elsewhere (a pipe, a log file, CI), one plain line
 * per change of status, without the byte-by-byte "Downloading" noise.
 */
import type { ProgressEvent } from "./progress.js";

export interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

export type ProgressRenderer = (event: ProgressEvent) => void;

/** The renderer that suits `out`: live bars on a terminal, plain lines otherwise. */
export function progressRenderer(out: Output): ProgressRenderer {
  return out.isTTY ? terminalRenderer(out) : plainRenderer(out);
}

function line(e: ProgressEvent, withBar: boolean): string {
  const head = e.id ? `${e.id}: ${e.status}` : e.status;
  return withBar && e.progress ? `${head} ${e.progress}` : head;
}

export function plainRenderer(out: Output): ProgressRenderer {
  const last = new Map<string, string>();
  return (e) => {
    if (!e.id) {
      out.write(`${e.status}\n`);
      return;
    }
    // Only status changes: "Downloading" repeats with new byte counts many times a second.
    if (last.get(e.id) === e.status) return;
    last.set(e.id, e.status);
    out.write(`${line(e, false)}\n`);
  };
}

const ESC = "\x1b[";

export function terminalRenderer(out: Output): ProgressRenderer {
  const rows: string[] = [];
  return (e) => {
    if (!e.id) {
      out.write(`${e.status}\n`);
      rows.length = 0; // a message scrolls the layer lines out of reach
      return;
    }
    const row = rows.indexOf(e.id);
    if (row < 0) {
      rows.push(e.id);
      out.write(`${line(e, true)}\n`);
      return;
    }
    // Move up to the layer's line, rewrite it, come back down.
    const up = rows.length - row;
    out.write(`${ESC}${up}A\r${ESC}2K${line(e, true)}\r${ESC}${up}B`);
  };
}
