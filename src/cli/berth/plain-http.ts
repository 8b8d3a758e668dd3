/**
 * One HTTP/1.1 exchange on a unix socket spoken by hand: the request with `Connection: close`,
 * the answer read to its end. Loading Node's HTTP client and making its first request cost about
 * 10 ms of CPU, more than a short command (run -d, stop, rm) does itself; JSON calls come here,
 * and streams, uploads and hijacked connections stay with node:http.
 */
import { connect } from "node:net";

export interface PlainAnswer {
  status: number;
  body: Buffer;
}

/** Thrown for bytes that are not an HTTP answer. */
export class MalformedAnswer extends Error {}

export function plainExchange(
  socketPath: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<PlainAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    socket.on("connect", () => {
      const payload = Buffer.from(body ?? "");
      const head = [
        `${method} ${path} HTTP/1.1`,
        "Host: berth",
        "Connection: close",
        `Content-Length: ${payload.length}`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(Buffer.concat([Buffer.from(`${head.join("\r\n")}\r\n\r\n`), payload]));
    });
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("end", () => {
      try {
        resolve(parseAnswer(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      } finally {
        socket.destroy();
      }
    });
  });
}

/** Status and body of a complete answer (Content-Length, chunked, or to the end). */
export function parseAnswer(raw: Buffer): PlainAnswer {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) throw new MalformedAnswer("the daemon's answer ended inside its head");
  const [statusLine = "", ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) throw new MalformedAnswer(`not an HTTP answer: ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) body = dechunk(body);
  else if (headers.has("content-length")) body = body.subarray(0, Number(headers.get("content-length")));
  return { status: Number(m[1]), body };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol < 0) throw new MalformedAnswer("a chunked answer ended inside a chunk size");
    const size = Number.parseInt(data.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size)) throw new MalformedAnswer("a chunked answer has a bad chunk size");
    if (size === 0) return Buffer.concat(parts);
    if (eol + 2 + size > data.length) throw new MalformedAnswer("a chunked answer ended inside a chunk");
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
