/**
 * The HTTP server behind `berth serve`: the Docker Engine API's routes (versioned and
 * unversioned paths), Docker-shaped errors, JSON bodies with limits, and hijacked connections
 * for attach and exec. Routes are registered by the modules in ./routes.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, ServerResponse } from "node:http";
import { createServer as createHttpsServer, Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import { BerthError, InvalidArgument } from "../errors.js";

export const API_VERSION = "1.50";
export const MIN_API_VERSION = "1.24";
const MAX_JSON_BODY = 16 * 1024 * 1024;

export class HttpError extends BerthError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`http-${status}`, message);
  }
}

/** One place that says which error is which HTTP status (Docker's choices). */
export function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof BerthError) {
    switch (err.code) {
      case "invalid-argument":
      case "usage":
        return 400;
      case "unauthorized":
        return 401;
      case "not-found":
        return 404;
      case "conflict":
        return 409;
      // Swarm calls without a swarm (or off a manager), and a cluster store out of reach.
      case "unavailable":
      case "store-unavailable":
        return 503;
      default:
        return 500;
    }
  }
  if (err instanceof SyntaxError) return 400;
  return 500;
}

export interface Request {
  method: string;
  /** The path without the /v1.xx prefix. */
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  /** The API version the client asked for (from the path), or the server's. */
  version: string;
  raw: IncomingMessage;
  /** Reads and parses a JSON body (empty body: undefined). */
  json<T>(): Promise<T | undefined>;
}

export interface TlsFiles {
  key: string;
  cert: string;
  /** The CA that client certificates must be signed by. */
  ca: string;
}

export interface Hijacked {
  socket: Socket;
  /** Bytes the client sent after the request head (stdin that arrived early). */
  head: Buffer;
}

export type Handler = (req: Request, res: ServerResponse) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/** Compares Docker API versions ("1.41" < "1.50"). */
export function versionAtLeast(version: string, min: string): boolean {
  const [a1, a2] = version.split(".").map(Number);
  const [b1, b2] = min.split(".").map(Number);
  return a1! > b1! || (a1 === b1 && a2! >= b2!);
}

export class ApiServer {
  private readonly routes: Route[] = [];
  readonly server: Server;
  private readonly servers: Server[] = [];
  /** Active hijacked sockets and streams, closed on shutdown. */
  private readonly sockets = new Set<Socket>();

  constructor(private readonly log: (message: string) => void = () => {}) {
    this.server = this.wire(createServer({ keepAliveTimeout: 5000, requestTimeout: 0 }));
  }

  /** Routes a server's requests, upgrades and connections through this API. */
  private wire<S extends Server>(server: S): S {
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      void this.dispatch(req, res);
    });
    // Upgrade requests (attach, exec start) reach the same routes; the handler hijacks the socket.
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      // A client closes its sending side when its input ends (`exec -i` of an empty stdin), maybe
      // before the route even runs, and still reads the output: keep our side open meanwhile.
      socket.allowHalfOpen = true;
      (req as IncomingMessage & { hijack?: Hijacked }).hijack = { socket, head };
      // A response object on the socket, for the routes that answer an upgrade request normally.
      const res = new ServerResponse(req);
      res.assignSocket(socket);
      res.shouldKeepAlive = false;
      void this.dispatch(req, res);
    });
    server.on(server instanceof HttpsServer ? "secureConnection" : "connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
    this.servers.push(server);
    return server;
  }

  route(method: string, path: string, handler: Handler): void {
    const names: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/\{(\w+)(\*)?\}/g, (_m, name: string, rest?: string) => {
        names.push(name);
        return rest ? "(.+)" : "([^/]+)";
      })}$`,
    );
    this.routes.push({ method, pattern, names, handler });
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A route that writes to an answer already ended is a bug to log, not a reason to exit.
    res.on("error", (err) => this.log(`${req.method} ${req.url}: the answer: ${err.message}`));
    const url = new URL(req.url ?? "/", "http://berth");
    let path = url.pathname;
    let version = API_VERSION;
    const versioned = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    const hijack = (req as IncomingMessage & { hijack?: Hijacked }).hijack;
    try {
      if (versioned) {
        version = versioned[1]!;
        path = versioned[2]!;
        if (!versionAtLeast(API_VERSION, version))
          throw new HttpError(
            400,
            `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`,
          );
        if (!versionAtLeast(version, MIN_API_VERSION))
          throw new HttpError(
            400,
            `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
          );
      }
      const method = req.method === "HEAD" ? "HEAD" : (req.method ?? "GET");
      let route: Route | undefined;
      let match: RegExpExecArray | null = null;
      for (const r of this.routes) {
        if (r.method !== method && !(method === "HEAD" && r.method === "GET")) continue;
        match = r.pattern.exec(path);
        if (match) {
          route = r;
          break;
        }
      }
      if (!route || !match) {
        const exists = this.routes.some((r) => r.pattern.test(path));
        throw new HttpError(exists ? 405 : 404, exists ? "method not allowed" : "page not found");
      }
      const params: Record<string, string> = {};
      route.names.forEach((n, i) => {
        params[n] = decodeURIComponent(match![i + 1]!);
      });
      // On an upgraded connection the request body comes first on the socket (in `head`, or in
      // the next packets), then the client's stream: read exactly Content-Length bytes of it.
      let upgradeBody: Buffer | undefined;
      if (hijack) {
        const length = Number(req.headers["content-length"] ?? 0);
        if (hijack.head.length < length) hijack.head = await readExactly(hijack.socket, hijack.head, length);
        upgradeBody = hijack.head.subarray(0, length);
        hijack.head = hijack.head.subarray(length);
      }
      const request: Request = {
        method,
        path,
        params,
        query: url.searchParams,
        version,
        raw: req,
        json: <T>() => (upgradeBody ? Promise.resolve(parseJson<T>(upgradeBody)) : readJson<T>(req)),
      };
      setCommonHeaders(res);
      const result = await route.handler(request, res);
      if (
        (hijack && (hijack as Hijacked & { taken?: boolean }).taken) ||
        res.headersSent ||
        res.writableEnded
      )
        return;
      if (result === undefined) {
        res.writeHead(204).end();
      } else if (typeof result === "string") {
        res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" }).end(result);
      } else {
        sendJson(res, 200, result);
      }
    } catch (err) {
      const status = statusOf(err);
      const message = err instanceof Error ? err.message : String(err);
      if (status >= 500)
        this.log(
          `${req.method} ${req.url}: ${err instanceof Error && !(err instanceof BerthError) ? err.stack : message}`,
        );
      if (hijack && (hijack as Hijacked & { taken?: boolean }).taken) {
        hijack.socket.end();
        return;
      }
      // The whole answer went out before the failure (a clean-up after it failed): only the log
      // above can say it. Writing again would raise an error event that ends the daemon.
      if (res.writableEnded || res.destroyed) return;
      if (res.headersSent) {
        // A stream already started: Docker's clients read errors in the stream itself.
        res.end(`${JSON.stringify({ error: message, errorDetail: { message } })}\n`);
        return;
      }
      sendJson(res, status, { message });
    }
  }

  /** Listens on a unix socket (the default), or on TCP — then only with TLS client certificates. */
  listen(target: { path: string } | { port: number; host: string; tls: TlsFiles }): Promise<void> {
    const server =
      "tls" in target
        ? this.wire(
            createHttpsServer({
              key: readFileSync(target.tls.key),
              cert: readFileSync(target.tls.cert),
              ca: readFileSync(target.tls.ca),
              requestCert: true,
              rejectUnauthorized: true,
            }),
          )
        : this.servers.length === 1 && !this.server.listening
          ? this.server
          : this.wire(createServer({ keepAliveTimeout: 5000, requestTimeout: 0 }));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      const done = () => {
        server.off("error", reject);
        resolve();
      };
      if ("tls" in target) server.listen(target.port, target.host, done);
      else server.listen(target.path, done);
    });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return Promise.all(
      this.servers
        .filter((s) => s.listening)
        .map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ).then(() => {});
  }
}

export function setCommonHeaders(res: ServerResponse): void {
  res.setHeader("Api-Version", API_VERSION);
  res.setHeader("Docker-Experimental", "false");
  res.setHeader("Ostype", "linux");
  res.setHeader("Server", "Berth/0.1.0 (linux)");
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(`${text}`);
}

async function readJson<T>(req: IncomingMessage): Promise<T | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY) throw new HttpError(413, `request body is larger than ${MAX_JSON_BODY} bytes`);
    chunks.push(chunk);
  }
  return parseJson<T>(Buffer.concat(chunks));
}

/** How deep a request body's arrays and objects may nest: more than any API body needs. */
const MAX_JSON_DEPTH = 256;

/** The deepest nesting of arrays and objects in JSON text (brackets in strings not counted). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

function parseJson<T>(body: Buffer): T | undefined {
  const text = body.toString("utf8").trim();
  if (!text) return undefined;
  // Code that walks a value recursively (a message, a copy) would overflow the stack on a body
  // nested thousands deep: such a body is refused here, once for every route.
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    throw new InvalidArgument(`invalid JSON: nested more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new InvalidArgument(`invalid JSON: ${(err as Error).message}`);
  }
}

/** Reads from `socket` until `have` holds at least `length` bytes (what follows stays in it too). */
function readExactly(socket: Socket, have: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = have;
    const onData = (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= length) done();
    };
    const onEnd = () => {
      cleanup();
      reject(new HttpError(400, "the request body ended early"));
    };
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.pause();
    };
    const done = () => {
      cleanup();
      resolve(got);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.resume();
  });
}

/** The hijacked socket of an upgrade request (attach, exec start), after answering 101. */
export function hijack(req: Request, contentType: string): Hijacked | undefined {
  const h = (req.raw as IncomingMessage & { hijack?: Hijacked & { taken?: boolean } }).hijack;
  if (!h) return undefined;
  h.taken = true;
  h.socket.write(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nApi-Version: ${API_VERSION}\r\n\r\n`,
  );
  return h;
}

/** Query booleans as Docker reads them ("1", "true", "True"; absent → default). */
export function queryBool(q: URLSearchParams, name: string, fallback = false): boolean {
  const v = q.get(name);
  if (v === null) return fallback;
  return v === "1" || v.toLowerCase() === "true";
}

/** `filters` query: JSON of {name: [values]} (or the old {name: {value: true}} form). */
export function queryFilters(q: URLSearchParams): Record<string, string[]> {
  const text = q.get("filters");
  if (!text) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidArgument(`invalid filter: ${text}`);
  }
  if (!parsed || typeof parsed !== "object") throw new InvalidArgument(`invalid filter: ${text}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (v && typeof v === "object") out[k] = Object.keys(v as object);
    else throw new InvalidArgument(`invalid filter '${k}'`);
  }
  return out;
}

export function checkFilters(filters: Record<string, string[]>, allowed: string[]): void {
  for (const k of Object.keys(filters))
    if (!allowed.includes(k)) throw new InvalidArgument(`invalid filter '${k}'`);
}
