/**
 * A client of etcd's v3 API through its JSON gateway (`/v3/...` over HTTP/1.1 or HTTPS with a
 * client certificate): the key-value calls, transactions, leases, watches and membership that
 * the cluster store needs. etcd keeps the consensus; this module only speaks its documented API.
 * Endpoints are tried in turn, so a cluster with one member down still answers.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { BerthError } from "../errors.js";

/** etcd is unreachable, or refused the call: the message says which and where. */
export class StoreUnavailable extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("store-unavailable", message, options);
  }
}

/** The CA to check the servers with, and a client certificate; each may be absent. */
export interface EtcdTls {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

export type Compare =
  | { key: string; target: "CREATE"; createRevision: number }
  | { key: string; target: "MOD"; modRevision: number }
  | { key: string; target: "VALUE"; value: string };

export type Operation =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string; prefix?: boolean } };

/**
 * A user of etcd's role-based access (the embedded store's): the JSON gateway takes no identity
 * from a client certificate, so a node signs in with a password for a token, one per member.
 */
export interface EtcdLogin {
  user: string;
  password: string;
}

/** What etcd says when a token is unknown (expired, another member's) or predates a role change. */
const STALE_TOKEN = /invalid auth token|user name is empty|revision of auth store is old/;

export interface WatchEvent {
  type: "PUT" | "DELETE";
  kv: KeyValue;
}

export interface Member {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/**
 * etcd's answers while its raft leader is being chosen, or while users and roles change (a node
 * joins: a write checked against the roles before the change is refused after it): worth
 * another try.
 */
const TRANSIENT =
  /leader changed|no leader|request timed out|too many requests|not capable|revision of auth store is old/;
const TRANSIENT_RETRY_MS = 5000;
/** Connections a client opens at most for its calls (watches have their own). */
const CALL_CONNECTIONS = 8;
/** Operations one transaction may hold (etcd's --max-txn-ops default): larger ones are refused. */
export const MAX_TXN_OPS = 128;

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString() : "");

/** The key just after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const bytes = Buffer.from(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      bytes[i]! += 1;
      return bytes.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

interface RawKv {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function kvOf(raw: RawKv): KeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease ?? "0",
  };
}

function rangeBody(key: string, prefix: boolean): Record<string, string> {
  return prefix ? { key: b64(key), range_end: prefixEnd(key).toString("base64") } : { key: b64(key) };
}

export class EtcdClient {
  /** Unary calls: a few connections, reused; more calls at once wait for one. */
  private readonly agent: HttpAgent;
  /** Watches: a connection each, held for as long as the watch lasts. */
  private readonly watchAgent: HttpAgent;
  private preferred = 0;
  private closed = false;
  /** The token each endpoint gave for `login`. */
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(
    public endpoints: string[],
    tls?: EtcdTls,
    private readonly login?: EtcdLogin,
  ) {
    if (!endpoints.length) throw new StoreUnavailable("no etcd endpoint given");
    // A burst of calls (a node given hundreds of tasks at once) must not become hundreds of TLS
    // handshakes that starve etcd and, behind them, the node's own heartbeat.
    const calls = { keepAlive: true, maxSockets: CALL_CONNECTIONS };
    const watches = { keepAlive: true };
    this.agent = tls
      ? new HttpsAgent({ ...calls, ca: tls.ca, cert: tls.cert, key: tls.key })
      : new HttpAgent(calls);
    this.watchAgent = tls
      ? new HttpsAgent({ ...watches, ca: tls.ca, cert: tls.cert, key: tls.key })
      : new HttpAgent(watches);
  }

  close(): void {
    this.closed = true;
    this.agent.destroy();
    this.watchAgent.destroy();
  }

  /**
   * One call of the gateway, on the first endpoint that answers. An answer that says the raft
   * leader is being chosen again (a member died) is retried for a few seconds, as etcd's own
   * clients do: the election ends within one election timeout.
   */
  async call<T>(path: string, body: object): Promise<T> {
    const deadline = Date.now() + TRANSIENT_RETRY_MS;
    for (;;) {
      try {
        return await this.callOnce<T>(path, body);
      } catch (err) {
        if (!(err instanceof EtcdRefused) || !TRANSIENT.test(err.message) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async callOnce<T>(path: string, body: object): Promise<T> {
    let last: unknown;
    for (let n = 0; n < this.endpoints.length; n++) {
      const i = (this.preferred + n) % this.endpoints.length;
      try {
        const endpoint = this.endpoints[i]!;
        let answer = await this.answer<T>(endpoint, path, body);
        if (answer instanceof EtcdRefused && this.login && STALE_TOKEN.test(answer.message)) {
          this.tokens.delete(endpoint);
          answer = await this.answer<T>(endpoint, path, body);
        }
        if (answer instanceof EtcdRefused) throw answer;
        this.preferred = i;
        return answer;
      } catch (err) {
        if (err instanceof EtcdRefused) throw err;
        last = err;
      }
    }
    throw new StoreUnavailable(
      `the cluster store (etcd at ${this.endpoints.join(", ")}) is unreachable: ${(last as Error)?.message ?? last}`,
      { cause: last },
    );
  }

  /** One call on one endpoint: its answer, or etcd's refusal (returned, to be looked at). */
  private async answer<T>(endpoint: string, path: string, body: object): Promise<T | EtcdRefused> {
    const res = await this.post(endpoint, path, body, await this.token(endpoint));
    const text = await readText(res);
    if (res.statusCode === 200) return JSON.parse(text) as T;
    return new EtcdRefused(`etcd ${path}: ${refusalText(res.statusCode, text)}`);
  }

  /** The endpoint's token for this client's login (asked once, again when it went stale). */
  private token(endpoint: string): Promise<string | undefined> {
    const login = this.login;
    if (!login) return Promise.resolve(undefined);
    let token = this.tokens.get(endpoint);
    if (!token) {
      token = (async () => {
        const res = await this.post(endpoint, "auth/authenticate", {
          name: login.user,
          password: login.password,
        });
        const text = await readText(res);
        const token = res.statusCode === 200 ? (JSON.parse(text) as { token?: string }).token : undefined;
        if (!token)
          throw new EtcdRefused(
            `etcd refused this node's sign-in as ${login.user}: ${refusalText(res.statusCode, text)}`,
          );
        return token;
      })();
      this.tokens.set(endpoint, token);
      token.catch(() => this.tokens.delete(endpoint));
    }
    return token;
  }

  private post(
    endpoint: string,
    path: string,
    body: object,
    token?: string,
    agent: HttpAgent = this.agent,
  ): Promise<IncomingMessage> {
    const url = new URL(`/v3/${path}`, endpoint);
    const data = JSON.stringify(body);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(data),
            ...(token ? { authorization: token } : {}),
          },
          timeout: 5000,
        },
        resolve,
      );
      req.once("timeout", () => req.destroy(new Error(`no answer from ${endpoint} in 5 s`)));
      req.once("error", reject);
      req.end(data);
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.call<{ kvs?: RawKv[] }>("kv/range", rangeBody(key, false));
    return r.kvs?.[0] ? kvOf(r.kvs[0]) : undefined;
  }

  /** The store's revision now (a read through the raft leader, of no key's value). */
  async revision(): Promise<number> {
    const r = await this.call<{ header: { revision: string } }>("kv/range", {
      ...rangeBody("/", false),
      count_only: true,
    });
    return Number(r.header.revision);
  }

  /** Every key under `prefix`, and the store's revision they were read at. */
  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call<{ kvs?: RawKv[]; header: { revision: string } }>(
      "kv/range",
      rangeBody(prefix, true),
    );
    return { kvs: (r.kvs ?? []).map(kvOf), revision: Number(r.header.revision) };
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<{ header: { revision: string } }>("kv/put", {
      key: b64(key),
      value: b64(value),
      ...(lease ? { lease } : {}),
    });
    return Number(r.header.revision);
  }

  async delete(key: string, prefix = false): Promise<number> {
    const r = await this.call<{ deleted?: string }>("kv/deleterange", rangeBody(key, prefix));
    return Number(r.deleted ?? 0);
  }

  /** All `then` operations if every comparison holds, else all `otherwise`: atomically. */
  async txn(compare: Compare[], then: Operation[], otherwise: Operation[] = []): Promise<boolean> {
    return (await this.txnAt(compare, then, otherwise)).succeeded;
  }

  /** A transaction, and the store's revision after it. */
  async txnAt(
    compare: Compare[],
    then: Operation[],
    otherwise: Operation[] = [],
  ): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.call<{ succeeded?: boolean; header?: { revision?: string } }>("kv/txn", {
      compare: compare.map(compareOf),
      success: then.map(requestOp),
      failure: otherwise.map(requestOp),
    });
    return { succeeded: r.succeeded === true, revision: Number(r.header?.revision ?? 0) };
  }

  /**
   * Several keys read in one call (a transaction of reads, at one revision): each one's value,
   * or undefined, in the order asked. At most MAX_TXN_OPS keys.
   */
  async getMany(keys: string[]): Promise<Array<KeyValue | undefined>> {
    if (!keys.length) return [];
    const r = await this.call<{ responses?: Array<{ response_range?: { kvs?: RawKv[] } }> }>("kv/txn", {
      success: keys.map((key) => ({ request_range: rangeBody(key, false) })),
    });
    return keys.map((_, i) => {
      const kv = r.responses?.[i]?.response_range?.kvs?.[0];
      return kv ? kvOf(kv) : undefined;
    });
  }

  /**
   * Independent transactions in one call: each one's operations run if its own comparisons
   * hold, whatever the others do (etcd's nested transactions). Whether each one's held, in
   * order. At most MAX_TXN_OPS of them, and no key written by two.
   */
  async txnEach(txns: Array<{ compare: Compare[]; ops: Operation[] }>): Promise<boolean[]> {
    if (!txns.length) return [];
    const r = await this.call<{ responses?: Array<{ response_txn?: { succeeded?: boolean } }> }>("kv/txn", {
      success: txns.map((t) => ({
        request_txn: { compare: t.compare.map(compareOf), success: t.ops.map(requestOp) },
      })),
    });
    return txns.map((_, i) => r.responses?.[i]?.response_txn?.succeeded === true);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const r = await this.call<{ ID: string; error?: string }>("lease/grant", { TTL: ttlSeconds });
    return r.ID;
  }

  /** Renews a lease; false when etcd no longer knows it (it expired). */
  async keepAlive(lease: string): Promise<boolean> {
    const r = await this.call<{ result?: { TTL?: string } }>("lease/keepalive", { ID: lease });
    return Number(r.result?.TTL ?? 0) > 0;
  }

  async revokeLease(lease: string): Promise<void> {
    await this.call("lease/revoke", { ID: lease }).catch((err) => {
      if (!(err instanceof EtcdRefused)) throw err;
    });
  }

  /** The answering member's database size (allocated and in use) and the store's revision. */
  async status(): Promise<{ dbSize: number; dbSizeInUse: number; revision: number }> {
    const r = await this.call<{ dbSize?: string; dbSizeInUse?: string; header?: { revision?: string } }>(
      "maintenance/status",
      {},
    );
    return {
      dbSize: Number(r.dbSize ?? 0),
      dbSizeInUse: Number(r.dbSizeInUse ?? 0),
      revision: Number(r.header?.revision ?? 0),
    };
  }

  async members(): Promise<Member[]> {
    return membersOf(await this.call<MemberList>("cluster/member/list", {}));
  }

  /** Adds a member by its peer URL; the members after, the new one without a name yet. */
  async addMember(peerURL: string): Promise<Member[]> {
    return membersOf(await this.call<MemberList>("cluster/member/add", { peerURLs: [peerURL] }));
  }

  async removeMember(id: string): Promise<void> {
    await this.call("cluster/member/remove", { ID: id });
  }

  // ---- role-based access (the caller must hold etcd's root role)

  async addUser(name: string, password: string): Promise<void> {
    await this.call("auth/user/add", { name, password });
  }

  async deleteUser(name: string): Promise<void> {
    await this.call("auth/user/delete", { name });
  }

  async users(): Promise<string[]> {
    return (await this.call<{ users?: string[] }>("auth/user/list", {})).users ?? [];
  }

  async grantRole(user: string, role: string): Promise<void> {
    await this.call("auth/user/grant", { user, role });
  }

  async revokeRole(name: string, role: string): Promise<void> {
    await this.call("auth/user/revoke", { name, role });
  }

  async addRole(name: string): Promise<void> {
    await this.call("auth/role/add", { name });
  }

  async deleteRole(role: string): Promise<void> {
    await this.call("auth/role/delete", { role });
  }

  /** Lets a role read, or read and write, one key or every key under a prefix. */
  async grantPermission(
    role: string,
    permType: "READ" | "READWRITE",
    key: string,
    prefix: boolean,
  ): Promise<void> {
    await this.call("auth/role/grant", { name: role, perm: { permType, ...rangeBody(key, prefix) } });
  }

  async enableAuth(): Promise<void> {
    await this.call("auth/enable", {});
  }

  /**
   * Calls `onEvents` for every change under `prefix` after `fromRevision`, in order, until the
   * returned function is called. A broken stream is opened again from the last revision seen,
   * on any endpoint, so no change is missed across an etcd member's restart.
   */
  watch(
    prefix: string,
    fromRevision: number,
    onEvents: (events: WatchEvent[]) => void,
    /** Events were lost to a compaction (the watch goes on after it): a reader reads whole again. */
    onCompacted?: () => void,
  ): () => void {
    let next = fromRevision;
    let stopped = false;
    let current: IncomingMessage | undefined;
    const open = async () => {
      while (!stopped && !this.closed) {
        const endpoint = this.endpoints[this.preferred]!;
        try {
          const res = await this.post(
            endpoint,
            "watch",
            { create_request: { ...rangeBody(prefix, true), start_revision: String(next) } },
            await this.token(endpoint),
            this.watchAgent,
          );
          current = res;
          res.setEncoding("utf8");
          let buffered = "";
          await new Promise<void>((resolve) => {
            res.on("data", (chunk: string) => {
              buffered += chunk;
              for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
                const line = buffered.slice(0, nl).trim();
                buffered = buffered.slice(nl + 1);
                if (!line) continue;
                const msg = JSON.parse(line) as {
                  result?: {
                    events?: Array<{ type?: string; kv: RawKv }>;
                    compact_revision?: string;
                    canceled?: boolean;
                  };
                  error?: unknown;
                };
                // Changes before a compaction are gone: go on from there; the readers
                // reconcile from a full read at intervals, so nothing stays missed.
                const compacted = Number(msg.result?.compact_revision ?? 0);
                if (compacted > next) {
                  next = compacted;
                  if (!stopped) onCompacted?.();
                }
                // A cancelled watch (compacted past, or refused: a token gone stale) sends no
                // more: it opens again, from where it was, signed in again.
                if (msg.error || msg.result?.canceled) {
                  if (!compacted) this.tokens.delete(endpoint);
                  res.destroy();
                  return;
                }
                const events = msg.result?.events ?? [];
                if (!events.length) continue;
                const out = events.map((e) => ({
                  type: (e.type === "DELETE" ? "DELETE" : "PUT") as WatchEvent["type"],
                  kv: kvOf(e.kv),
                }));
                next = out[out.length - 1]!.kv.modRevision + 1;
                if (!stopped) onEvents(out);
              }
            });
            res.once("end", resolve);
            res.once("error", () => resolve());
            res.once("close", () => resolve());
          });
        } catch {
          this.preferred = (this.preferred + 1) % this.endpoints.length;
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 250));
      }
    };
    void open();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }
}

/** etcd answered, and said no (a bad request, a member that cannot be added, …). */
export class EtcdRefused extends BerthError {
  constructor(message: string) {
    super("store-refused", message);
  }
}

interface MemberList {
  members?: Array<{ ID: string; name?: string; peerURLs?: string[]; clientURLs?: string[] }>;
}

function membersOf(r: MemberList): Member[] {
  return (r.members ?? []).map((m) => ({
    id: m.ID,
    name: m.name ?? "",
    peerURLs: m.peerURLs ?? [],
    clientURLs: m.clientURLs ?? [],
  }));
}

function compareOf(c: Compare): object {
  return {
    key: b64(c.key),
    target: c.target,
    result: "EQUAL",
    ...(c.target === "CREATE"
      ? { create_revision: String(c.createRevision) }
      : c.target === "MOD"
        ? { mod_revision: String(c.modRevision) }
        : { value: b64(c.value) }),
  };
}

function requestOp(op: Operation): object {
  if ("put" in op)
    return {
      request_put: {
        key: b64(op.put.key),
        value: b64(op.put.value),
        ...(op.put.lease ? { lease: op.put.lease } : {}),
      },
    };
  return { request_delete_range: rangeBody(op.delete.key, op.delete.prefix ?? false) };
}

/** What etcd said when it refused: its JSON error's message, or the gateway's plain text. */
function refusalText(status: number | undefined, text: string): string {
  try {
    const err = JSON.parse(text || "{}") as { error?: string; message?: string };
    return err.message ?? err.error ?? `status ${status}`;
  } catch {
    return text.trim() || `status ${status}`;
  }
}

/** A response's whole body, as text. */
export function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (c: string) => {
      text += c;
    });
    res.once("end", () => resolve(text));
    res.once("error", reject);
  });
}
