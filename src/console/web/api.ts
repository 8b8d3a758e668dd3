/**
 * The page's side of the console server: daemon API calls under /api (with the session's CSRF
 * token on every change), JSON-lines streams, and the exec WebSocket's address.
 */
import { takeLines } from "../../util/lines.js";

let csrf: string | undefined;

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function csrfToken(): Promise<string> {
  if (csrf) return csrf;
  const res = await fetch("/session", { credentials: "same-origin" });
  if (!res.ok) throw new ApiFailure(res.status, "no console session: open the address berth console printed");
  csrf = ((await res.json()) as { csrf: string }).csrf;
  return csrf;
}

async function failureOf(res: Response): Promise<ApiFailure> {
  const text = await res.text();
  let message = text;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? text;
  } catch {}
  return new ApiFailure(res.status, message || `HTTP ${res.status}`);
}

export async function request(
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["X-CSRF-Token"] = await csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(`/api${path}`, {
    method,
    headers,
    credentials: "same-origin",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(signal ? { signal } : {}),
  });
  if (!res.ok) throw await failureOf(res);
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await (await request("GET", path)).json()) as T;
}

export async function call<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
): Promise<T | undefined> {
  const text = await (await request(method, path, body)).text();
  return text ? (JSON.parse(text) as T) : undefined;
}

/** The raw chunks of a streamed answer, until `signal` aborts or the stream ends. */
export async function* chunks(path: string, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  const res = await request("GET", path, undefined, signal);
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** Each JSON line of a streamed answer (events, stats). */
export async function* jsonLines<T>(path: string, signal: AbortSignal): AsyncGenerator<T> {
  const decoder = new TextDecoder();
  let rest = "";
  for await (const chunk of chunks(path, signal)) {
    const taken = takeLines(rest + decoder.decode(chunk, { stream: true }));
    rest = taken.rest;
    for (const line of taken.lines) yield JSON.parse(line) as T;
  }
}

/** The WebSocket address of an exec's terminal (the CSRF token in the query: a WebSocket has no headers of ours). */
export async function execSocketUrl(origin: string, execId: string): Promise<string> {
  const ws = origin.replace(/^http/, "ws");
  return `${ws}/ws/exec/${encodeURIComponent(execId)}?csrf=${encodeURIComponent(await csrfToken())}`;
}
