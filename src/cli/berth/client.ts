/**
 * The `berth` CLI's side of the daemon's API: JSON requests, streamed responses, and hijacked
 * connections for attach and exec, over the daemon's unix socket (or TCP with TLS). When the
 * default socket does not answer, the daemon is started in the background first, so that a new
 * user never has to.
 */
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import { createRequire } from "node:module";
import { connect, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { BerthError } from "../../errors.js";
import { takeLines } from "../../util/lines.js";
import { packageRoot } from "../../util/package-root.js";
import { plainExchange } from "./plain-http.js";

/**
 * Node modules that only some commands need (TLS, child processes), loaded when first used.
 * A require, not import(): the bundled CLI runs in a vm.Script, which has no dynamic import.
 */
const lazyRequire = createRequire(import.meta.url);

const httpRequest: typeof import("node:http").request = (...args: unknown[]) =>
  (lazyRequire("node:http") as typeof import("node:http")).request(...(args as [RequestOptions]));

export const DEFAULT_SOCKET = "/run/berth/berth.sock";

/** An error the daemon answered with: its message is already docker's text. */
export class DaemonError extends BerthError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("daemon", message);
  }
}

/** No daemon at the address, and none could be started. */
export class DaemonUnreachable extends BerthError {
  constructor(address: string, detail: string) {
    super(
      "unreachable",
      `Cannot connect to the Berth daemon at ${address}: ${detail}. Is \`berth serve\` running?`,
    );
  }
}

export type Query = Record<string, string | number | boolean | undefined | string[]>;

export interface Endpoint {
  /** unix socket path, or undefined for TCP. */
  socketPath?: string;
  host?: string;
  port?: number;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer };
  /** Printed in errors. */
  address: string;
  /** Whether this is the default socket, which the CLI may start a daemon for. */
  autoStart: boolean;
}

/** BERTH_HOST / -H: unix:///path or tcp://host:port (TLS from BERTH_CERT_PATH, as DOCKER_CERT_PATH). */
export function endpointFrom(host: string | undefined): Endpoint {
  const address = host ?? process.env["BERTH_HOST"] ?? `unix://${DEFAULT_SOCKET}`;
  if (address.startsWith("unix://")) {
    const socketPath = address.slice("unix://".length);
    return { socketPath, address, autoStart: host === undefined && socketPath === DEFAULT_SOCKET };
  }
  const m = /^tcp:\/\/([^:/]+):(\d+)\/?$/.exec(address);
  if (!m) throw new BerthError("usage", `invalid host "${address}": use unix:///path or tcp://host:port`);
  const certs = process.env["BERTH_CERT_PATH"] ?? join(process.env["HOME"] ?? "/root", ".berth");
  const read = (name: string) => readFileSync(join(certs, name));
  return {
    host: m[1]!,
    port: Number(m[2]),
    tls: { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") },
    address,
    autoStart: false,
  };
}

function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) params.append(k, x);
    else params.set(k, String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export interface RequestInit {
  query?: Query;
  body?: unknown;
  /** A raw body (a tar) instead of JSON. */
  raw?: NodeJS.ReadableStream | Buffer | AsyncIterable<Buffer>;
  headers?: Record<string, string>;
}

/** The caller's headers, and the type of a JSON body. */
function requestHeaders(init: RequestInit): Record<string, string> {
  return init.body === undefined
    ? { ...init.headers }
    : { ...init.headers, "Content-Type": "application/json" };
}

export class ApiClient {
  private started = false;

  constructor(readonly endpoint: Endpoint) {}

  private options(method: string, path: string, init: RequestInit): RequestOptions {
    const e = this.endpoint;
    // An upload (a build context, an image archive) keeps the agent's connection: the daemon may
    // answer it with an error before it has read the body, and that path is the one proven to
    // deliver the answer rather than the EPIPE of the unfinished write.
    const ownConnection = e.socketPath !== undefined && init.raw === undefined;
    return {
      method,
      path: `${path}${queryString(init.query)}`,
      headers: requestHeaders(init),
      // On a unix socket, our own connection and no agent: the agent's naming and pooling of
      // sockets (an isIP() of the host, whose first call compiles Node's IPv6 pattern) cost a
      // few ms of every command, for connections that are never reused.
      ...(ownConnection
        ? { createConnection: () => connect(e.socketPath!) }
        : e.socketPath
          ? { socketPath: e.socketPath, servername: "" }
          : { host: e.host, port: e.port }),
      ...(e.tls ? { ca: e.tls.ca, cert: e.tls.cert, key: e.tls.key } : {}),
    } as RequestOptions;
  }

  private send(method: string, path: string, init: RequestInit): ClientRequest {
    // TLS only for TCP daemons: most commands never pay for loading it.
    const make = this.endpoint.tls
      ? (lazyRequire("node:https") as typeof import("node:https")).request
      : httpRequest;
    const req = make(this.options(method, path, init));
    if (init.raw && !Buffer.isBuffer(init.raw))
      ("pipe" in init.raw ? init.raw : Readable.from(init.raw)).pipe(req);
    else req.end(init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body)));
    return req;
  }

  /** The response, once its head arrives; errors (status >= 400) become DaemonError. */
  async stream(method: string, path: string, init: RequestInit = {}): Promise<IncomingMessage> {
    const res = await this.exchange(() => this.send(method, path, init));
    if ("head" in res) throw new DaemonError(500, `unexpected upgrade from ${method} ${path}`);
    if ((res.statusCode ?? 500) >= 400) throw await daemonError(res);
    return res;
  }

  /** A JSON (or empty) response. */
  async call<T = unknown>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const socketPath = this.endpoint.socketPath;
    let status: number;
    let text: string;
    if (socketPath && init.raw === undefined) {
      const body = init.body === undefined ? undefined : JSON.stringify(init.body);
      const answer = await this.withDaemon(() =>
        plainExchange(socketPath, method, `${path}${queryString(init.query)}`, requestHeaders(init), body),
      );
      status = answer.status;
      text = answer.body.toString("utf8");
    } else {
      const res = await this.exchange(() => this.send(method, path, init));
      if ("head" in res) throw new DaemonError(500, `unexpected upgrade from ${method} ${path}`);
      status = res.statusCode ?? 500;
      text = (await readAll(res)).toString("utf8");
    }
    if (status >= 400) throw errorFrom(status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * Upgrades the connection (attach, exec start): the socket carries the container's streams both
   * ways once the daemon answers 101.
   */
  async hijack(path: string, init: RequestInit = {}): Promise<Hijacked> {
    const r = await this.exchange(() =>
      this.send("POST", path, {
        ...init,
        headers: { ...init.headers, Connection: "Upgrade", Upgrade: "tcp" },
      }),
    );
    if ("head" in r) return r;
    if ((r.statusCode ?? 500) >= 400) throw await daemonError(r);
    // A daemon that answers 200 instead of 101 streams on the response itself.
    return { socket: r.socket as Socket, head: Buffer.alloc(0), response: r };
  }

  /** One request through node:http. */
  private exchange(make: () => ClientRequest): Promise<IncomingMessage | Hijacked> {
    return this.withDaemon(
      () =>
        new Promise<IncomingMessage | Hijacked>((resolve, reject) => {
          const req = make();
          req.on("error", reject);
          req.on("response", resolve);
          req.on("upgrade", (_res, socket, head) => resolve({ socket, head }));
        }),
    );
  }

  /** Makes an attempt; when no daemon listens on the default socket, starts one and tries again. */
  private withDaemon<T>(attempt: () => Promise<T>): Promise<T> {
    return attempt().catch(async (err: NodeJS.ErrnoException) => {
      if (err instanceof BerthError || !err.code) throw err;
      const absent = err.code === "ENOENT" || err.code === "ECONNREFUSED";
      if (!absent) throw new DaemonUnreachable(this.endpoint.address, err.message);
      if (!this.endpoint.autoStart || this.started)
        throw new DaemonUnreachable(this.endpoint.address, "no daemon answers");
      this.started = true;
      await startDaemon(this.endpoint.socketPath!);
      return attempt();
    });
  }
}

export interface Hijacked {
  socket: Socket;
  /** Bytes that came with the 101 answer. */
  head: Buffer;
  response?: IncomingMessage;
}

export function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

async function daemonError(res: IncomingMessage): Promise<DaemonError> {
  return errorFrom(res.statusCode ?? 500, (await readAll(res)).toString("utf8"));
}

/** The daemon's error answer: docker's {"message": …}, or its text. */
function errorFrom(status: number, text: string): DaemonError {
  let message = text.trim();
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {}
  return new DaemonError(status, message || `HTTP ${status}`);
}

/** Each line of a JSON-lines stream (progress, events, stats). */
export async function* jsonLines<T>(stream: NodeJS.ReadableStream): AsyncGenerator<T> {
  let rest = "";
  for await (const chunk of stream) {
    const taken = takeLines(rest + chunk.toString());
    rest = taken.rest;
    for (const line of taken.lines) yield JSON.parse(line) as T;
  }
  if (rest.trim()) yield JSON.parse(rest) as T;
}

/**
 * Starts `berth serve` detached (its output in /var/log/berth.log) and waits for its socket to
 * answer. Only root can run the daemon; others get the daemon-unreachable error.
 */
async function startDaemon(socketPath: string): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new DaemonUnreachable(`unix://${socketPath}`, "no daemon answers, and only root can start one");
  const logPath = "/var/log/berth.log";
  mkdirSync(dirname(logPath), { recursive: true });
  const log = openSync(logPath, "a");
  const { spawn } = lazyRequire("node:child_process") as typeof import("node:child_process");
  // The launcher (bin/berth) kept the CA bundle's name aside: the daemon pulls, and needs it.
  const { BERTH_NODE_EXTRA_CA_CERTS: extraCa, ...env } = process.env;
  const child = spawn(process.execPath, [join(packageRoot(), "bin", "berth.cjs"), "serve"], {
    detached: true,
    stdio: ["ignore", log, log],
    env: extraCa === undefined ? env : { ...env, NODE_EXTRA_CA_CERTS: extraCa },
  });
  closeSync(log);
  child.unref();
  process.stderr.write(`Started the Berth daemon (pid ${child.pid}; log ${logPath})\n`);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new DaemonUnreachable(`unix://${socketPath}`, `the daemon exited; see ${logPath}`);
    if (await pings(socketPath)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new DaemonUnreachable(`unix://${socketPath}`, `the daemon did not answer in 30 s; see ${logPath}`);
}

function pings(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ socketPath, path: "/_ping" }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}
