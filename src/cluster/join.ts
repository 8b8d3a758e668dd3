/**
 * Joining a cluster, both ends. A manager listens on its listen address (port 2377, TLS with its
 * node certificate). A joining node first fetches the CA certificate without trusting it, checks
 * it against the digest its token names (so an impostor is caught before the token is sent),
 * then sends the token and a certificate request over a connection verified against that CA.
 * The manager checks the token, picks the role it names, signs, and answers with what the new
 * node needs to reach the store.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, request, type Server } from "node:https";
import { createSecureContext, type TLSSocket } from "node:tls";
import { BerthError, InvalidArgument } from "../errors.js";
import type { NodeRole } from "./ca.js";
import { certificateSubject, parseJoinToken, tokenNamesCA } from "./ca.js";

export const JOIN_PORT = 2377;

/** Where a node listens for the others: its address and the port of its --listen-addr. */
export function peerAddress(node: { Addr: string; PeerPort?: number }): string {
  return `${node.Addr.includes(":") ? `[${node.Addr}]` : node.Addr}:${node.PeerPort ?? JOIN_PORT}`;
}

export interface JoinRequest {
  token: string;
  csr: string;
  addr: string;
  hostname: string;
  description: unknown;
}

export interface JoinAnswer {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
  cert: string;
  caCert: string;
  /** Managers only: the CA key, to sign later joins and open sealed values. */
  caKey?: string;
  /** Client URLs of the store. */
  endpoints: string[];
  /** Managers with an embedded store: the members to start with (`name=peerURL`). */
  initialCluster?: string[];
  /** An embedded store with access control: the certificate and login the node uses on it. */
  store?: { cert: string; user: string; password: string };
}

/** The join was refused by the manager, or the manager could not be trusted or reached. */
export class JoinRefused extends BerthError {
  constructor(message: string) {
    super("join-refused", message);
  }
}

/** A call from another node of the cluster: who it is, by the certificate the CA gave it. */
export interface PeerCall {
  nodeId: string;
  path: string;
  query: URLSearchParams;
  /** The JSON body of a POST (at most 64 KiB). */
  body: () => Promise<unknown>;
  res: ServerResponse;
}

export interface PeerHandlers {
  /** Managers: the CA certificate, and the join itself. */
  caCert?: () => string;
  join?: (req: JoinRequest) => Promise<JoinAnswer>;
  /** Calls that only a node of this cluster may make (client certificate of its CA). */
  call: (call: PeerCall) => Promise<void>;
}

/**
 * Every node's listener (port 2377, TLS with its node certificate). On a manager it serves
 * joins; on every node it serves other nodes, which must show a certificate of the cluster's CA.
 */
export function servePeers(
  listen: { host: string; port: number },
  tls: { key: string; cert: string; ca: string },
  handlers: PeerHandlers,
): Promise<Server> {
  const server = createServer(
    // A joining node has no certificate yet: it is asked for one, not required to show one.
    { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const reply = (status: number, body: unknown) =>
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      const url = new URL(req.url ?? "/", "https://peer");
      if (req.method === "GET" && url.pathname === "/ca" && handlers.caCert)
        return void res.end(handlers.caCert());
      if (req.method === "POST" && url.pathname === "/join" && handlers.join) {
        const join = handlers.join;
        void readJson(req, 64 * 1024).then(
          async (body) => {
            try {
              reply(200, await join(checkRequest(body)));
            } catch (err) {
              reply(err instanceof InvalidArgument || err instanceof JoinRefused ? 400 : 500, {
                message: (err as Error).message,
              });
            }
          },
          (err: Error) => reply(400, { message: err.message }),
        );
        return;
      }
      const socket = req.socket as TLSSocket;
      if (!socket.authorized) return reply(401, { message: "a certificate of this cluster is required" });
      const nodeId = callerOf(socket);
      // A store certificate names no node: it speaks to etcd, not to other nodes.
      if (!nodeId) return reply(401, { message: "a node certificate of this cluster is required" });
      const body = () => readJson(req, 64 * 1024);
      handlers
        .call({ nodeId, path: url.pathname, query: url.searchParams, body, res })
        .catch((err: Error) => {
          if (!res.headersSent) reply(peerStatus(err), { message: err.message });
          else res.destroy(err);
        });
    },
  );
  server.keepAliveTimeout = PEER_SERVER_IDLE_MS;
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(new InvalidArgument(`cannot listen on ${listen.host}:${listen.port}: ${err.message}`)),
    );
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}

/**
 * The node a connection's certificate names, read once per connection: a peer keeps its
 * connection for many calls, and reading the certificate's subject cost more than a call.
 */
const callers = new WeakMap<TLSSocket, string>();
function callerOf(socket: TLSSocket): string {
  let nodeId = callers.get(socket);
  if (nodeId === undefined) {
    nodeId = certificateSubject(socket.getPeerX509Certificate()!).nodeId;
    callers.set(socket, nodeId);
  }
  return nodeId;
}

/** The HTTP status a node answers an error of a peer call with. */
export const peerStatus = (err: Error) => {
  if (!(err instanceof BerthError)) return 500;
  return err.code === "not-found"
    ? 404
    : err.code === "invalid-argument" || err.code === "conflict"
      ? 400
      : err.code === "forbidden"
        ? 403
        : 500;
};

/** Another node answered a call with an error: its message, and the HTTP status it gave. */
export class PeerRefused extends BerthError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super("unavailable", message);
  }

  /**
   * The call itself was refused (bad input, not the caller's to ask): any node would say the
   * same. Not so "no such call" (the node is not a manager any more) or a failure inside it.
   */
  get refusal(): boolean {
    return this.status >= 400 && this.status < 500 && this.status !== 404;
  }
}

/**
 * How long a call that answers JSON waits for its whole answer. A peer that never answers (its
 * process frozen, its link gone without a reset) would otherwise hold the call as long as TCP
 * retries, about a quarter of an hour, and a worker's reports queue behind it; after this the
 * caller asks another manager, or its next pass tries again.
 */
export const PEER_ANSWER_MS = 30_000;

/** A call to another node that answers JSON: the answer, or PeerRefused with the node's message. */
export async function askPeer<T>(
  addr: string,
  path: string,
  tls: { key: string; cert: string; ca: string },
  body?: unknown,
  answerMs = PEER_ANSWER_MS,
): Promise<T> {
  const deadline = AbortSignal.timeout(answerMs);
  let res: IncomingMessage;
  let text: string;
  try {
    res = await callPeer(addr, path, tls, { body, signal: deadline });
    text = await readText(res);
  } catch (err) {
    if (!deadline.aborted) throw err;
    throw new JoinRefused(`node at ${addr}: no answer to ${path} in ${answerMs / 1000} s`);
  }
  if (res.statusCode === 200) return JSON.parse(text) as T;
  let message = `status ${res.statusCode}`;
  try {
    message = (JSON.parse(text) as { message?: string }).message ?? message;
  } catch {}
  throw new PeerRefused(`node at ${addr}: ${message}`, res.statusCode ?? 500);
}

/**
 * One connection pool for each certificate this process shows to other nodes (one on a real
 * node, one per node in a process of hollow nodes), with its TLS context made once and its
 * connections kept between calls. Through Node's default pool every call named its pool by the
 * PEM texts themselves and every new connection parsed them again: a tenth of the CPU of a
 * process of 1,000 hollow nodes. The oldest pool goes when there are too many (certificates
 * renewed, nodes gone).
 */
const peerAgents = new Map<string, { ca: string; key: string; agent: Agent }>();
const MAX_PEER_AGENTS = 4096;
/**
 * An idle connection is closed by its caller before the node it calls would close it, so that a
 * call never goes out on a connection the other end is closing.
 */
const PEER_IDLE_MS = 30_000;
const PEER_SERVER_IDLE_MS = PEER_IDLE_MS + 5_000;

function peerAgent(tls: { key: string; cert: string; ca: string }): Agent {
  const held = peerAgents.get(tls.cert);
  if (held?.ca === tls.ca && held.key === tls.key) return held.agent;
  held?.agent.destroy();
  peerAgents.delete(tls.cert);
  if (peerAgents.size >= MAX_PEER_AGENTS) {
    const [oldest, entry] = peerAgents.entries().next().value as [string, { agent: Agent }];
    entry.agent.destroy();
    peerAgents.delete(oldest);
  }
  const agent = new Agent({
    keepAlive: true,
    timeout: PEER_IDLE_MS,
    secureContext: createSecureContext({ key: tls.key, cert: tls.cert, ca: tls.ca }),
    // The peer is checked against the cluster's CA; its address is not in its name.
    checkServerIdentity: () => undefined,
  });
  peerAgents.set(tls.cert, { ca: tls.ca, key: tls.key, agent });
  return agent;
}

/**
 * A call to another node, with this node's certificate, checked against the cluster's CA: a GET,
 * or a POST when there is a body.
 */
export function callPeer(
  addr: string,
  path: string,
  tls: { key: string; cert: string; ca: string },
  options: { signal?: AbortSignal; body?: unknown } = {},
): Promise<IncomingMessage> {
  const [host, port] = splitHostPort(addr);
  const data = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path,
        method: data ? "POST" : "GET",
        agent: peerAgent(tls),
        ...(options.signal ? { signal: options.signal } : {}),
        headers: data
          ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) }
          : {},
      },
      resolve,
    );
    req.once("error", (err) => reject(new JoinRefused(`node at ${addr}: ${err.message}`)));
    req.end(data);
  });
}

function checkRequest(body: unknown): JoinRequest {
  const b = body as Partial<JoinRequest>;
  if (
    !b ||
    typeof b.token !== "string" ||
    typeof b.csr !== "string" ||
    typeof b.addr !== "string" ||
    typeof b.hostname !== "string"
  )
    throw new InvalidArgument(
      "a join request names a token, a certificate request, an address and a host name",
    );
  return b as JoinRequest;
}

function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.destroy();
        reject(new InvalidArgument("request body too large"));
      } else chunks.push(c);
    });
    req.once("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()));
      } catch {
        reject(new InvalidArgument("a request body is JSON"));
      }
    });
    req.once("error", reject);
  });
}

function call(
  manager: string,
  method: string,
  path: string,
  options: { ca?: string; body?: unknown },
): Promise<{ status: number; text: string }> {
  const [host, port] = splitHostPort(manager);
  const data = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        method,
        path,
        timeout: 10_000,
        // Before the CA is known nothing is trusted (the answer is checked against the token);
        // after, the manager must hold a certificate of that CA, whatever name it goes by.
        ...(options.ca
          ? { ca: options.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined }
          : { rejectUnauthorized: false }),
        headers: data
          ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) }
          : {},
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.once("end", () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.once("timeout", () => req.destroy(new Error("no answer in 10 s")));
    req.once("error", (err) =>
      reject(new JoinRefused(`could not reach the manager at ${manager}: ${err.message}`)),
    );
    req.end(data);
  });
}

export function splitHostPort(addr: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(addr.replace(/^tcp:\/\//, ""));
  if (!m) throw new InvalidArgument(`invalid manager address "${addr}"`);
  const port = m[2] ? Number(m[2]) : JOIN_PORT;
  if (!(port > 0 && port < 65536)) throw new InvalidArgument(`invalid port in "${addr}"`);
  return [m[1]!, port];
}

/** The joining side: the CA checked against the token, then the request sent to a verified manager. */
export async function requestJoin(manager: string, req: JoinRequest): Promise<JoinAnswer> {
  const token = parseJoinToken(req.token);
  const ca = await call(manager, "GET", "/ca", {});
  if (ca.status !== 200 || !ca.text.includes("BEGIN CERTIFICATE"))
    throw new JoinRefused(`${manager} is not a swarm manager (it gave no CA certificate)`);
  if (!tokenNamesCA(token, ca.text))
    throw new JoinRefused(
      `the manager at ${manager} presented a CA that is not the one the join token names: wrong token, or not the swarm you meant`,
    );
  const r = await call(manager, "POST", "/join", { ca: ca.text, body: req });
  const body = JSON.parse(r.text || "{}") as JoinAnswer & { message?: string };
  if (r.status !== 200) throw new JoinRefused(body.message ?? `join refused (status ${r.status})`);
  return body;
}

/** A response's whole body, as text. */
function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      text += c;
    });
    res.once("end", () => resolve(text));
    res.once("error", reject);
    // Its request aborted after the head came: the body will not.
    res.once("close", () => {
      if (!res.complete) reject(new Error("the answer was cut short"));
    });
  });
}
