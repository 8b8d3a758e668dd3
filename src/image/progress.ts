/**
 * Progress as the Docker Engine API streams it for pull, push, load and import: JSON objects
 * `{status, id?, progressDetail?: {current, total}, progress?}`, one per line on the wire. The
 * image operations call a ProgressSink; the daemon forwards the events, the CLI draws them
 * (./progress-render.ts).
 */
import { humanSize } from "../util/human.js";

export interface ProgressEvent {
  status: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  /** The bar as docker renders it: `[=====>    ]  1.2MB/3.4MB`. */
  progress?: string;
}

export type ProgressSink = (event: ProgressEvent) => void;

export const noProgress: ProgressSink = () => {};

const BAR_WIDTH = 50;

/** The `progress` string of docker's JSONProgress. */
export function progressBar(current: number, total?: number): string {
  if (!total || total <= 0) return `${humanSize(current).padStart(8)}`;
  const filled = Math.min(BAR_WIDTH, Math.floor((BAR_WIDTH * current) / total));
  const bar =
    filled >= BAR_WIDTH
      ? "=".repeat(BAR_WIDTH)
      : `${"=".repeat(filled)}>${" ".repeat(BAR_WIDTH - filled - 1)}`;
  return `[${bar}] ${`${humanSize(current)}/${humanSize(total)}`.padStart(17)}`;
}

/** The 12-hex short form docker uses as a layer's `id` in progress. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

/** Emits "Downloading"/"Pushing" style events for a byte stream, at most every `intervalMs`. */
export async function* reportBytes(
  source: AsyncIterable<Buffer>,
  emit: ProgressSink,
  status: string,
  id: string,
  total?: number,
  intervalMs = 100,
): AsyncGenerator<Buffer> {
  let current = 0;
  let last = 0;
  for await (const chunk of source) {
    current += chunk.length;
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      emit({
        status,
        id,
        progressDetail: { current, ...(total ? { total } : {}) },
        progress: progressBar(current, total),
      });
    }
    yield chunk;
  }
}
