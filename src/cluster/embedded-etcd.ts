/**
 * The etcd member a manager runs as its child when no --cluster-store is given: data under the
 * daemon's root, client and peer traffic over TLS with the cluster's certificates (client
 * certificates required on both), ended with the daemon (it dies with it, by PR_SET_PDEATHSIG
 * through setpriv) and started again when the daemon starts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SystemError } from "../errors.js";
import { EtcdClient, type EtcdLogin, type EtcdTls } from "./etcd.js";

export const CLIENT_PORT = 2379;
export const PEER_PORT = 2380;

export interface EtcdFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface MemberStart {
  /** The member's name: the node id. */
  name: string;
  /** The address it serves peers and clients on (and 127.0.0.1 for its own daemon). */
  addr: string;
  dataDir: string;
  files: EtcdFiles;
  /** A new cluster of this one member, or members to join (`name=https://addr:2380`, …). */
  initialCluster?: string[];
  /** How this node's client signs in once the store has access control (its first start has none). */
  access?: () => { tls: Required<EtcdTls>; login: EtcdLogin } | undefined;
  log: (message: string) => void;
}

export const peerURL = (addr: string) => `https://${bracket(addr)}:${PEER_PORT}`;
export const clientURL = (addr: string) => `https://${bracket(addr)}:${CLIENT_PORT}`;
const bracket = (addr: string) => (addr.includes(":") ? `[${addr}]` : addr);

export function tlsOf(files: EtcdFiles): Required<EtcdTls> {
  return {
    ca: readFileSync(files.ca, "utf8"),
    cert: readFileSync(files.cert, "utf8"),
    key: readFileSync(files.key, "utf8"),
  };
}

export class EmbeddedEtcd {
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(private readonly options: MemberStart) {}

  /** Starts the member and waits until it answers (with a quorum: a read goes through raft). */
  async start(): Promise<void> {
    const o = this.options;
    mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
    const logFd = openSync(join(o.dataDir, "..", "etcd.log"), "a", 0o600);
    const args = [
      "--pdeathsig",
      "KILL",
      "--",
      "etcd",
      "--name",
      o.name,
      "--data-dir",
      join(o.dataDir, "data"),
      "--listen-client-urls",
      [clientURL(o.addr), ...(o.addr === "127.0.0.1" ? [] : [clientURL("127.0.0.1")])].join(","),
      "--advertise-client-urls",
      clientURL(o.addr),
      "--listen-peer-urls",
      peerURL(o.addr),
      "--initial-advertise-peer-urls",
      peerURL(o.addr),
      "--cert-file",
      o.files.cert,
      "--key-file",
      o.files.key,
      "--trusted-ca-file",
      o.files.ca,
      "--client-cert-auth",
      "--peer-cert-file",
      o.files.cert,
      "--peer-key-file",
      o.files.key,
      "--peer-trusted-ca-file",
      o.files.ca,
      "--peer-client-cert-auth",
      // Old revisions go, so that the database stays small; watchers resume past a compaction.
      // Every store user's password is 24 random bytes (store-access.ts): no guess can find one,
      // so bcrypt's work factor buys nothing, and at etcd's default (10) each node's user added
      // and each sign-in costs ~60 ms of etcd's CPU — a minute for 1,000 joining nodes.
      "--bcrypt-cost",
      "4",
      // bbolt's free pages as a map, not a list scanned at each allocation: etcd's own default
      // since 3.5. With the list, a commit of the database (which the writes being applied
      // wait for) took longer the more pages compaction had freed.
      "--experimental-backend-bbolt-freelist-type",
      "map",
      // A member cut off from the others (a manager's link cut) asks whether it could win before
      // it campaigns, rather than raising its term in vain: without that, its higher term made the
      // healthy leader step down when the link came back, and the whole store waited for an
      // election. etcd's own default since 3.5 (the Debian 12 package is 3.4).
      "--pre-vote",
      "--auto-compaction-mode",
      "revision",
      "--auto-compaction-retention",
      "10000",
      "--logger",
      "zap",
      "--log-outputs",
      "stderr",
      ...(o.initialCluster
        ? ["--initial-cluster", o.initialCluster.join(","), "--initial-cluster-state", "existing"]
        : ["--initial-cluster", `${o.name}=${peerURL(o.addr)}`, "--initial-cluster-state", "new"]),
    ];
    this.stopping = false;
    const child = spawn("setpriv", args, { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    this.child = child;
    child.once("error", (err) => o.log(`etcd: ${err.message}`));
    child.once("exit", (code, signal) => {
      if (this.stopping) return;
      // A member that died on its own comes back (its data is on disk); the others meanwhile
      // keep the quorum when there are three or more.
      o.log(
        `etcd exited (${signal ?? `status ${code}`}), starting it again: see ${join(o.dataDir, "..", "etcd.log")}`,
      );
      setTimeout(() => {
        if (!this.stopping) this.start().catch((err: Error) => o.log(`etcd: ${err.message}`));
      }, 1000).unref();
    });
    const access = o.access?.();
    const client = access
      ? new EtcdClient([clientURL("127.0.0.1")], access.tls, access.login)
      : new EtcdClient([clientURL("127.0.0.1")], tlsOf(o.files));
    try {
      const deadline = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null)
          throw new SystemError(`etcd did not start: see ${join(o.dataDir, "..", "etcd.log")}`);
        try {
          await client.get("/berth/cluster");
          return;
        } catch {
          if (Date.now() > deadline)
            throw new SystemError(`etcd did not answer in 30 s: see ${join(o.dataDir, "..", "etcd.log")}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      client.close();
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.stopping = true;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
