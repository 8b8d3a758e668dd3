/**
 * A client of etcd's v3 API over gRPC (HTTP/2, with TLS and a client certificate when the
 * endpoint is `https://`): the key-value calls, transactions, leases, watches and membership that
 * the cluster store needs. etcd keeps the consensus; this module only speaks its documented API
 * (the messages are described in ./etcd-rpc.ts). Endpoints are tried in turn, so a cluster with
 * one member down still answers.
 *
 * gRPC rather than etcd's JSON gateway: the gateway turns every request into a gRPC call inside
 * etcd, and every watch event into JSON, which made it the cluster's bottleneck (at 1,000 nodes,
 * 667 heartbeats a second were 667 HTTP requests). Here one HTTP/2 connection per member carries
 * every call, a lease renewal is a message on a stream, and a watch's events come as protobuf.
 */
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { BerthError, InvalidArgument } from "../errors.js";
import { decode, encode, RPC, type Rpc, type RpcName } from "./etcd-rpc.js";

/** etcd is unreachable, or refused the call: the message says which and where. */
export class StoreUnavailable extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("store-unavailable", message, options);
  }
}

/** etcd answered, and said no (a bad request, a member that cannot be added, …). */
export class EtcdRefused extends BerthError {
  constructor(message: string) {
    super("store-refused", message);
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
 * A user of etcd's role-based access (the embedded store's): a node signs in with a password for
 * a token, one per member (etcd's simple tokens are not shared between members).
 */
export interface EtcdLogin {
  user: string;
  password: string;
}

/** What etcd says when a token is unknown (expired, another member's) or predates a role change. */
const STALE_TOKEN = /invalid auth token|user name is empty|revision of auth store is old/;
/** How many times a call signs in again for a token that went stale. */
const STALE_TOKEN_RETRIES = 5;

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
/** Operations one transaction may hold (etcd's --max-txn-ops default): larger ones are refused. */
export const MAX_TXN_OPS = 128;
/**
 * One-operation transactions one call of txnEach may nest: etcd counts a nested transaction's
 * operations against what its parent leaves (its check of a transaction allows a nested one
 * MAX_TXN_OPS minus the parent's own count), so 128 of them are refused ("too many operations
 * in txn request") and 127 are not.
 */
export const MAX_NESTED_TXNS = MAX_TXN_OPS - 1;
/** How long a call, or a lease renewal, waits for its answer before the member counts as gone. */
const ANSWER_TIMEOUT_MS = 5000;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // A read of every task of a big swarm is tens of megabytes; gRPC's default cap is 4 MiB.
  "grpc.max_receive_message_length": -1,
  // A member behind a cut link sends no reset: pings find it, so a watch opens elsewhere.
  // etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  // A member that restarts is back within a second or two: try it again soon, not after gRPC's
  // default backoff that grows to two minutes (calls meanwhile go to the other members).
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
};

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

/** A key-value as decoded: bytes as Buffers, 64-bit numbers as strings, defaults absent. */
interface RawKv {
  key?: Buffer;
  value?: Buffer;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function kvOf(raw: RawKv): KeyValue {
  return {
    key: raw.key?.toString() ?? "",
    value: raw.value?.toString() ?? "",
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease ?? "0",
  };
}

function rangeOf(key: string, prefix: boolean): { key: Buffer; range_end?: Buffer } {
  return prefix ? { key: Buffer.from(key), range_end: prefixEnd(key) } : { key: Buffer.from(key) };
}

interface Header {
  header?: { revision?: string };
}

interface WatchResponse {
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: Array<{ type?: string; kv?: RawKv }>;
}

/**
 * What etcd said, when it was etcd that said no (its messages start "etcdserver:" or come with a
 * status only a server gives); undefined when no answer came (the member is down or unreachable).
 */
function refusalOf(err: grpc.ServiceError): string | undefined {
  const text = err.details || err.message;
  if (/^etcdserver: /.test(text)) return text;
  const byServer = [
    grpc.status.PERMISSION_DENIED,
    grpc.status.UNAUTHENTICATED,
    grpc.status.INVALID_ARGUMENT,
    grpc.status.FAILED_PRECONDITION,
    grpc.status.ALREADY_EXISTS,
    grpc.status.NOT_FOUND,
    grpc.status.OUT_OF_RANGE,
  ];
  return byServer.includes(err.code) ? text : undefined;
}

/** Why a member gave no answer, in a line (gRPC appends notes on name resolution). */
function unanswered(endpoint: string, err: Error): Error {
  const text = (err as grpc.ServiceError).details || err.message;
  return new Error(`${endpoint}: ${text.replace(/\.? Resolution note:.*$/s, "")}`);
}

function metadataOf(token: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (token) metadata.set("token", token);
  return metadata;
}

/** A call's answer, etcd's refusal (returned, to be looked at), or a throw when no answer came. */
type Answer<T> = T | EtcdRefused;

export class EtcdClient {
  /** One HTTP/2 connection per member, made at first use, for every call and stream to it. */
  private readonly channels = new Map<string, grpc.Client>();
  /** The lease renewal stream open on each member. */
  private readonly renewals = new Map<string, LeaseRenewals>();
  private preferred = 0;
  private closed = false;
  /** The token each endpoint gave for `login`. */
  private readonly tokens = new Map<string, Promise<string>>();

  constructor(
    public endpoints: string[],
    private readonly tls?: EtcdTls,
    private readonly login?: EtcdLogin,
  ) {
    if (!endpoints.length) throw new StoreUnavailable("no etcd endpoint given");
  }

  close(): void {
    this.closed = true;
    for (const r of this.renewals.values()) r.end();
    for (const c of this.channels.values()) c.close();
    this.renewals.clear();
    this.channels.clear();
  }

  private channel(endpoint: string): grpc.Client {
    if (this.closed) throw new Error("the store client is closed");
    let channel = this.channels.get(endpoint);
    if (!channel) {
      const url = new URL(endpoint);
      const pem = (text: string | undefined) => (text ? Buffer.from(text) : null);
      // Members are named by IP address: the certificate is checked against that address, but
      // TLS may not send an address as the server name (RFC 6066), so another name is sent.
      const host = url.hostname.replace(/^\[|\]$/g, "");
      const ip = isIP(host) ? host : undefined;
      const credentials =
        url.protocol === "https:"
          ? grpc.credentials.createSsl(pem(this.tls?.ca), pem(this.tls?.key), pem(this.tls?.cert), {
              ...(ip ? { checkServerIdentity: (_name, cert) => checkServerIdentity(ip, cert) } : {}),
            })
          : grpc.credentials.createInsecure();
      channel = new grpc.Client(url.host, credentials, {
        ...CHANNEL_OPTIONS,
        ...(ip && url.protocol === "https:" ? { "grpc.ssl_target_name_override": "etcd-member" } : {}),
      });
      this.channels.set(endpoint, channel);
    }
    return channel;
  }

  /**
   * One call, on the first endpoint that answers. An answer that says the raft leader is being
   * chosen again (a member died) is retried for a few seconds, as etcd's own clients do: the
   * election ends within one election timeout.
   */
  async call<T>(name: RpcName, body: object): Promise<T> {
    return this.retried((endpoint, token) => this.unary<T>(endpoint, RPC[name], body, token));
  }

  private async retried<T>(attempt: (endpoint: string, token?: string) => Promise<Answer<T>>): Promise<T> {
    const deadline = Date.now() + TRANSIENT_RETRY_MS;
    for (;;) {
      try {
        return await this.onSomeEndpoint(attempt);
      } catch (err) {
        if (!(err instanceof EtcdRefused) || !TRANSIENT.test(err.message) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** The attempt on each endpoint in turn, from the one that answered last, until one answers. */
  private async onSomeEndpoint<T>(
    attempt: (endpoint: string, token?: string) => Promise<Answer<T>>,
  ): Promise<T> {
    let last: unknown;
    for (let n = 0; n < this.endpoints.length; n++) {
      const i = (this.preferred + n) % this.endpoints.length;
      try {
        const endpoint = this.endpoints[i]!;
        let answer = await attempt(endpoint, await this.token(endpoint));
        // Each change of users or roles (a node joining) makes every token older than it stale:
        // while nodes join, a fresh token can go stale again before its call arrives.
        for (let n = 0; n < STALE_TOKEN_RETRIES; n++) {
          if (!(answer instanceof EtcdRefused && this.login && STALE_TOKEN.test(answer.message))) break;
          this.tokens.delete(endpoint);
          answer = await attempt(endpoint, await this.token(endpoint));
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

  /** One unary call on one endpoint. */
  private unary<T>(endpoint: string, rpc: Rpc, body: object, token?: string): Promise<Answer<T>> {
    return new Promise((resolve, reject) => {
      this.channel(endpoint).makeUnaryRequest(
        rpc.path,
        (b: object) => encode(rpc.request, b),
        (bytes: Buffer) => decode<T>(rpc.response, bytes),
        body,
        metadataOf(token),
        { deadline: Date.now() + ANSWER_TIMEOUT_MS },
        (err, value) => {
          if (!err) return resolve(value as T);
          const refusal = refusalOf(err);
          if (refusal !== undefined) resolve(new EtcdRefused(`etcd ${rpc.path}: ${refusal}`));
          else reject(unanswered(endpoint, err));
        },
      );
    });
  }

  /** The endpoint's token for this client's login (asked once, again when it went stale). */
  private token(endpoint: string): Promise<string | undefined> {
    const login = this.login;
    if (!login) return Promise.resolve(undefined);
    let token = this.tokens.get(endpoint);
    if (!token) {
      token = (async () => {
        const answer = await this.unary<{ token?: string }>(endpoint, RPC.authenticate, {
          name: login.user,
          password: login.password,
        });
        if (answer instanceof EtcdRefused || !answer.token)
          throw new EtcdRefused(
            `etcd refused this node's sign-in as ${login.user}: ${answer instanceof EtcdRefused ? answer.message : "no token"}`,
          );
        return answer.token;
      })();
      this.tokens.set(endpoint, token);
      token.catch(() => this.tokens.delete(endpoint));
    }
    return token;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const r = await this.call<{ kvs?: RawKv[] }>("range", rangeOf(key, false));
    return r.kvs?.[0] ? kvOf(r.kvs[0]) : undefined;
  }

  /** The store's revision now (a read through the raft leader, of no key's value). */
  async revision(): Promise<number> {
    const r = await this.call<Header>("range", { ...rangeOf("/", false), count_only: true });
    return Number(r.header?.revision ?? 0);
  }

  /** Every key under `prefix`, and the store's revision they were read at. */
  async list(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call<{ kvs?: RawKv[] } & Header>("range", rangeOf(prefix, true));
    return { kvs: (r.kvs ?? []).map(kvOf), revision: Number(r.header?.revision ?? 0) };
  }

  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call<Header>("put", {
      key: Buffer.from(key),
      value: Buffer.from(value),
      ...(lease ? { lease } : {}),
    });
    return Number(r.header?.revision ?? 0);
  }

  async delete(key: string, prefix = false): Promise<number> {
    const r = await this.call<{ deleted?: string }>("deleteRange", rangeOf(key, prefix));
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
    const r = await this.call<{ succeeded?: boolean } & Header>("txn", {
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
    const r = await this.call<{ responses?: Array<{ response_range?: { kvs?: RawKv[] } }> }>("txn", {
      success: keys.map((key) => ({ request_range: rangeOf(key, false) })),
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
    const inner = Math.max(...txns.map((t) => Math.max(t.compare.length, t.ops.length)));
    if (txns.length + inner > MAX_TXN_OPS)
      throw new InvalidArgument(
        `etcd refuses ${txns.length} nested transactions of up to ${inner} operations in one call: at most ${MAX_TXN_OPS} in all`,
      );
    const r = await this.call<{ responses?: Array<{ response_txn?: { succeeded?: boolean } }> }>("txn", {
      success: txns.map((t) => ({
        request_txn: { compare: t.compare.map(compareOf), success: t.ops.map(requestOp) },
      })),
    });
    return txns.map((_, i) => r.responses?.[i]?.response_txn?.succeeded === true);
  }

  async grantLease(ttlSeconds: number): Promise<string> {
    const r = await this.call<{ ID?: string; error?: string }>("leaseGrant", { TTL: ttlSeconds });
    if (!r.ID || r.ID === "0")
      throw new EtcdRefused(`etcd granted no lease: ${r.error || "no reason given"}`);
    return r.ID;
  }

  /** Renews a lease; false when etcd no longer knows it (it expired). */
  async keepAlive(lease: string): Promise<boolean> {
    const r = await this.retried((endpoint, token) => this.renewalsOn(endpoint, token).renew(lease));
    return Number(r.TTL ?? 0) > 0;
  }

  /** The member's renewal stream, opened again when the last one ended. */
  private renewalsOn(endpoint: string, token: string | undefined): LeaseRenewals {
    let renewals = this.renewals.get(endpoint);
    if (!renewals || renewals.ended) {
      renewals = new LeaseRenewals(
        this.channel(endpoint).makeBidiStreamRequest(
          RPC.leaseKeepAlive.path,
          (b: object) => encode(RPC.leaseKeepAlive.request, b),
          (bytes: Buffer) => decode<{ ID?: string; TTL?: string }>(RPC.leaseKeepAlive.response, bytes),
          metadataOf(token),
        ),
        endpoint,
      );
      this.renewals.set(endpoint, renewals);
    }
    return renewals;
  }

  async revokeLease(lease: string): Promise<void> {
    await this.call("leaseRevoke", { ID: lease }).catch((err) => {
      if (!(err instanceof EtcdRefused)) throw err;
    });
  }

  /** The answering member's database size (allocated and in use) and the store's revision. */
  async status(): Promise<{ dbSize: number; dbSizeInUse: number; revision: number }> {
    const r = await this.call<{ dbSize?: string; dbSizeInUse?: string } & Header>("status", {});
    return {
      dbSize: Number(r.dbSize ?? 0),
      dbSizeInUse: Number(r.dbSizeInUse ?? 0),
      revision: Number(r.header?.revision ?? 0),
    };
  }

  async members(): Promise<Member[]> {
    return membersOf(await this.call<MemberList>("memberList", {}));
  }

  /** Adds a member by its peer URL; the members after, the new one without a name yet. */
  async addMember(peerURL: string): Promise<Member[]> {
    return membersOf(await this.call<MemberList>("memberAdd", { peerURLs: [peerURL] }));
  }

  async removeMember(id: string): Promise<void> {
    await this.call("memberRemove", { ID: id });
  }

  // ---- role-based access (the caller must hold etcd's root role)

  async addUser(name: string, password: string): Promise<void> {
    await this.call("userAdd", { name, password });
  }

  async deleteUser(name: string): Promise<void> {
    await this.call("userDelete", { name });
  }

  async grantRole(user: string, role: string): Promise<void> {
    await this.call("userGrantRole", { user, role });
  }

  async revokeRole(name: string, role: string): Promise<void> {
    await this.call("userRevokeRole", { name, role });
  }

  async addRole(name: string): Promise<void> {
    await this.call("roleAdd", { name });
  }

  async deleteRole(role: string): Promise<void> {
    await this.call("roleDelete", { role });
  }

  /** Lets a role read, or read and write, one key or every key under a prefix. */
  async grantPermission(
    role: string,
    permType: "READ" | "READWRITE",
    key: string,
    prefix: boolean,
  ): Promise<void> {
    await this.call("roleGrantPermission", { name: role, perm: { permType, ...rangeOf(key, prefix) } });
  }

  async enableAuth(): Promise<void> {
    await this.call("authEnable", {});
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
    let current: grpc.ClientDuplexStream<object, WatchResponse> | undefined;
    const follow = (endpoint: string, stream: grpc.ClientDuplexStream<object, WatchResponse>) =>
      new Promise<void>((resolve) => {
        stream.on("data", (msg: WatchResponse) => {
          // Changes before a compaction are gone: go on from there; the readers reconcile from
          // a full read, so nothing stays missed.
          const compacted = Number(msg.compact_revision ?? 0);
          if (compacted > next) {
            next = compacted;
            if (!stopped) onCompacted?.();
          }
          // A cancelled watch (compacted past, or refused: a token gone stale) sends no more: it
          // opens again, from where it was, signed in again.
          if (msg.canceled) {
            if (!compacted) this.tokens.delete(endpoint);
            stream.cancel();
            return;
          }
          const events = msg.events ?? [];
          if (!events.length) return;
          const out = events.map((e) => ({
            type: (e.type === "DELETE" ? "DELETE" : "PUT") as WatchEvent["type"],
            kv: kvOf(e.kv ?? {}),
          }));
          next = out[out.length - 1]!.kv.modRevision + 1;
          if (!stopped) onEvents(out);
        });
        stream.once("error", (err: grpc.ServiceError) => {
          if (err.code === grpc.status.CANCELLED) return resolve();
          // A refusal of the stream itself (a stale token) signs in again; no answer at all
          // moves to the next member.
          if (refusalOf(err) !== undefined) this.tokens.delete(endpoint);
          else this.preferred = (this.preferred + 1) % this.endpoints.length;
          resolve();
        });
        stream.once("end", () => resolve());
        stream.once("close", () => resolve());
      });
    const open = async () => {
      while (!stopped && !this.closed) {
        const endpoint = this.endpoints[this.preferred]!;
        try {
          const stream = this.channel(endpoint).makeBidiStreamRequest(
            RPC.watch.path,
            (b: object) => encode(RPC.watch.request, b),
            (bytes: Buffer) => decode<WatchResponse>(RPC.watch.response, bytes),
            metadataOf(await this.token(endpoint)),
          );
          current = stream;
          const ended = follow(endpoint, stream);
          stream.write({ create_request: { ...rangeOf(prefix, true), start_revision: String(next) } });
          await ended;
        } catch {
          this.preferred = (this.preferred + 1) % this.endpoints.length;
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 250));
      }
    };
    void open();
    return () => {
      stopped = true;
      current?.cancel();
    };
  }
}

/**
 * The lease renewals sent to one member, on one stream: each renewal waits for the answer that
 * names its lease. A stream that breaks, or leaves a renewal unanswered, fails every renewal
 * waiting on it and is not used again.
 */
class LeaseRenewals {
  ended = false;
  private readonly waiting = new Map<string, Array<(answer: Answer<{ TTL?: string }> | Error) => void>>();

  constructor(
    private readonly stream: grpc.ClientDuplexStream<object, { ID?: string; TTL?: string }>,
    private readonly endpoint: string,
  ) {
    stream.on("data", (msg: { ID?: string; TTL?: string }) => {
      const id = msg.ID ?? "0";
      const queue = this.waiting.get(id);
      queue?.shift()?.(msg);
      if (queue && !queue.length) this.waiting.delete(id);
    });
    stream.once("error", (err: grpc.ServiceError) => {
      const refusal = refusalOf(err);
      this.fail(refusal !== undefined ? new EtcdRefused(`etcd lease renewal: ${refusal}`) : undefined, err);
    });
    stream.once("end", () => this.fail(undefined, new Error("the renewal stream ended")));
    stream.once("close", () => this.fail(undefined, new Error("the renewal stream closed")));
  }

  renew(lease: string): Promise<Answer<{ TTL?: string }>> {
    return new Promise((resolve, reject) => {
      if (this.ended) return reject(new Error(`${this.endpoint}: the renewal stream ended`));
      const timer = setTimeout(() => {
        this.fail(undefined, new Error(`no answer from ${this.endpoint} in ${ANSWER_TIMEOUT_MS / 1000} s`));
      }, ANSWER_TIMEOUT_MS);
      const queue = this.waiting.get(lease) ?? [];
      queue.push((answer) => {
        clearTimeout(timer);
        answer instanceof Error && !(answer instanceof EtcdRefused) ? reject(answer) : resolve(answer);
      });
      this.waiting.set(lease, queue);
      this.stream.write({ ID: lease });
    });
  }

  end(): void {
    this.fail(undefined, new Error("the store client is closed"));
  }

  /** Ends the stream and answers every waiting renewal with the refusal, or else the error. */
  private fail(refusal: EtcdRefused | undefined, err: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.cancel();
    const answer = refusal ?? unanswered(this.endpoint, err);
    for (const queue of this.waiting.values()) for (const settle of queue) settle(answer);
    this.waiting.clear();
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
    key: Buffer.from(c.key),
    target: c.target,
    result: "EQUAL",
    ...(c.target === "CREATE"
      ? { create_revision: String(c.createRevision) }
      : c.target === "MOD"
        ? { mod_revision: String(c.modRevision) }
        : { value: Buffer.from(c.value) }),
  };
}

function requestOp(op: Operation): object {
  if ("put" in op)
    return {
      request_put: {
        key: Buffer.from(op.put.key),
        value: Buffer.from(op.put.value),
        ...(op.put.lease ? { lease: op.put.lease } : {}),
      },
    };
  return { request_delete_range: rangeOf(op.delete.key, op.delete.prefix ?? false) };
}
