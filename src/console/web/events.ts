/**
 * One stream of the daemon's events for the whole page: every view subscribes here instead of
 * opening its own (a browser allows six connections per host). The stream reopens after a break.
 */
import { jsonLines } from "./api.js";

export interface DaemonEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano?: number;
}

type Listener = (e: DaemonEvent) => void;
const listeners = new Set<Listener>();
let started = false;

export function onEvent(listener: Listener): () => void {
  listeners.add(listener);
  if (!started) {
    started = true;
    void follow();
  }
  return () => listeners.delete(listener);
}

async function follow(): Promise<void> {
  let since = Math.floor(Date.now() / 1000);
  for (;;) {
    try {
      for await (const e of jsonLines<DaemonEvent>(`/events?since=${since}`, new AbortController().signal)) {
        since = e.time;
        for (const l of listeners) l(e);
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Calls `run` at most once per `ms`, after the last call of a burst (500 containers stopping). */
export function debounce(run: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
}
