/**
 * The web console's server (`berth console`, `berth serve --console`): the bundled front-end from
 * memory, the daemon API calls its views need passed on to the daemon, and exec terminals as
 * WebSockets. Every request is checked in the same order: it names this console (Host, Origin),
 * it belongs to the session the one-time token opened, and if it changes anything it carries the
 * session's CSRF token. Answers carry no CORS header, so no other origin reads them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import { WebSocketServer } from "ws";
import { ConsoleAccess, type Session } from "./access.js";
import { proxied } from "./api-paths.js";
import { type Asset, loadAssets } from "./assets.js";
import { type DaemonEndpoint, DaemonLink } from "./daemon-link.js";
import { bridgeExec } from "./exec-bridge.js";
import { authority, type ListenAddress, requireTlsOffLoopback } from "./listen-address.js";
import { allowedHosts, checkOrigin } from "./request-origin.js";

/** A JSON body the views send (a container's config, a service spec) is small. */
const MAX_BODY = 1024 * 1024;
const EXEC_PATH = /^\/ws\/exec\/([A-Za-z0-9][A-Za-z0-9_.-]{0,127})$/;

export interface ConsoleOptions {
  address: ListenAddress;
  daemon: DaemonEndpoint;
  tls?: { cert: Buffer; key: Buffer } | undefined;
  log?: (message: string) => void;
  /** The front-end's files (tests give their own); by default the build's dist/console. */
  assets?: Map<string, Asset>;
}

const SECURITY_HEADERS = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  // The URL of the first page holds the token: never send it on as a referrer.
  "Referrer-Policy": "no-referrer",
  "Content-Security-Policy":
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

function refuse(res: ServerResponse, status: number, message: string): undefined {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { ...SECURITY_HEADERS, "Content-Type": "application/json" });
  res.end(`${JSON.stringify({ message })}\n`);
}

function changesState(method: string): boolean {
  return method !== "GET" && method !== "HEAD";
}

export class ConsoleServer {
  private readonly access: ConsoleAccess;
  private readonly link: DaemonLink;
  private readonly assets: Map<string, Asset>;
  private readonly hosts: Set<string> | undefined;
  private readonly scheme: "http" | "https";
  private readonly log: (message: string) => void;
  private readonly sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY });
  private readonly server: Server;

  private constructor(
    private readonly options: ConsoleOptions,
    readonly port: number,
    server: Server,
  ) {
    this.server = server;
    this.access = new ConsoleAccess(`berth_console_${port}`);
    this.link = new DaemonLink(options.daemon);
    this.assets = options.assets ?? loadAssets();
    this.hosts = allowedHosts(options.address, port);
    this.scheme = options.tls ? "https" : "http";
    this.log = options.log ?? (() => {});
    server.on("request", (req: IncomingMessage, res: ServerResponse) => this.handle(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      void this.upgrade(req, socket, head);
    });
  }

  /** Checks the address, loads the front-end, listens; the login URL is then `loginUrl`. */
  static async start(options: ConsoleOptions): Promise<ConsoleServer> {
    requireTlsOffLoopback(options.address, options.tls !== undefined);
    const assets = options.assets ?? loadAssets();
    const server = options.tls
      ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key })
      : createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.address.port, options.address.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const port = (server.address() as { port: number }).port;
    return new ConsoleServer({ ...options, assets }, port, server);
  }

  /** The address to open, with the one-time token (as Jupyter prints it). */
  get loginUrl(): string {
    return `${this.scheme}://${authority(this.options.address.host, this.port)}/?token=${this.access.loginToken()}`;
  }

  async close(): Promise<void> {
    for (const client of this.sockets.clients) client.terminate();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): undefined {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://console");
    const origin = checkOrigin(req.headers, this.hosts, this.scheme, changesState(method));
    if (!origin.ok) return refuse(res, 403, `refused: ${origin.reason}`);

    if (url.pathname === "/" && url.searchParams.has("token")) return this.login(url, res);
    const session = this.access.sessionOf(req.headers.cookie);
    if (!session)
      return refuse(
        res,
        401,
        "no console session: open the address with the token that `berth console` printed",
      );

    if (url.pathname.startsWith("/api/")) return this.proxy(req, res, session, url);
    if (method !== "GET" && method !== "HEAD") return refuse(res, 405, `${method} is not allowed here`);
    if (url.pathname === "/session") {
      res.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": "application/json" });
      return void res.end(JSON.stringify({ csrf: session.csrf }));
    }
    const name = url.pathname === "/" ? "index.html" : url.pathname.slice("/assets/".length);
    const asset =
      url.pathname === "/" || url.pathname.startsWith("/assets/") ? this.assets.get(name) : undefined;
    if (!asset) return refuse(res, 404, `no such page: ${url.pathname}`);
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": asset.type,
      "Content-Length": asset.body.length,
    });
    res.end(method === "HEAD" ? undefined : asset.body);
  }

  /** The token for a session cookie, then a redirect that drops the token from the address bar. */
  private login(url: URL, res: ServerResponse): undefined {
    const session = this.access.exchange(url.searchParams.get("token") ?? "");
    if (!session)
      return refuse(
        res,
        401,
        "this login token is wrong or was already used: restart `berth console` for a new one",
      );
    this.log("console: a browser logged in with the token");
    res.writeHead(303, {
      ...SECURITY_HEADERS,
      Location: "/",
      "Set-Cookie": this.access.setCookie(session, this.scheme === "https"),
    });
    res.end();
  }

  private proxy(req: IncomingMessage, res: ServerResponse, session: Session, url: URL): undefined {
    const method = req.method ?? "GET";
    const path = url.pathname.slice("/api".length);
    if (changesState(method) && !this.access.csrfMatches(session, req.headers["x-csrf-token"] as string))
      return refuse(res, 403, "refused: missing or wrong X-CSRF-Token header");
    if (!proxied(method, path)) return refuse(res, 403, `the console does not pass on ${method} ${path}`);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > MAX_BODY) return refuse(res, 413, `a request body is limited to ${MAX_BODY} bytes`);

    const headers: Record<string, string> = {};
    const type = req.headers["content-type"];
    if (type) headers["Content-Type"] = type;
    const upstream = this.link.request(method, `${path}${url.search}`, headers);
    upstream.on("error", (err) => {
      this.log(`console: ${method} ${path}: ${err.message}`);
      refuse(res, 502, `the daemon did not answer: ${err.message}`);
    });
    upstream.on("response", (answer) => {
      res.writeHead(answer.statusCode ?? 502, {
        ...SECURITY_HEADERS,
        "Content-Type": answer.headers["content-type"] ?? "application/octet-stream",
      });
      // Streams (events, stats, logs that follow) flow as they come.
      res.flushHeaders();
      answer.pipe(res);
    });
    // A view that stops following (a closed tab, another container) ends the daemon's stream.
    res.on("close", () => upstream.destroy());

    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY) {
        upstream.destroy();
        refuse(res, 413, `a request body is limited to ${MAX_BODY} bytes`);
        req.destroy();
        return;
      }
      upstream.write(chunk);
    });
    req.on("end", () => upstream.end());
  }

  /** A terminal: the page's WebSocket joined to the exec's hijacked stream. */
  private async upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<undefined> {
    const reject = (status: number, reason: string): undefined => {
      socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return undefined;
    };
    socket.on("error", () => {});
    const url = new URL(req.url ?? "/", "http://console");
    const origin = checkOrigin(req.headers, this.hosts, this.scheme, true);
    if (!origin.ok) return reject(403, "Forbidden");
    const session = this.access.sessionOf(req.headers.cookie);
    if (!session) return reject(401, "Unauthorized");
    // A WebSocket cannot carry a header of the page's own: the CSRF token comes in the query.
    if (!this.access.csrfMatches(session, url.searchParams.get("csrf") ?? undefined))
      return reject(403, "Forbidden");
    const m = EXEC_PATH.exec(url.pathname);
    if (!m) return reject(404, "Not Found");
    let exec: Awaited<ReturnType<DaemonLink["startExec"]>>;
    try {
      exec = await this.link.startExec(m[1]!);
    } catch (err) {
      this.log(`console: exec ${m[1]}: ${(err as Error).message}`);
      return reject(409, "Conflict");
    }
    this.sockets.handleUpgrade(req, socket, head, (ws) => bridgeExec(ws, exec.socket, exec.head));
  }
}
