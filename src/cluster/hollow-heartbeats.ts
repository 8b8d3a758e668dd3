/**
 * The hollow nodes' heartbeats (./hollow.ts), on a thread of their own. On real hosts a node
 * renews its lease from a process that runs one agent. In one process of hollow nodes the agents
 * of a thousand nodes share one event loop: while their work queues up (the bulk of a 30,000-task
 * fill, each task checked, started and reported), a renewal due waited up to 4 s, a lease of 5 s
 * ran out, and the swarm took a node for dead that no real node under the same load would have
 * been — then made its tasks again, which loaded the process more. Here each node still renews
 * its own lease with a store client of its own (its own login on a store with access control);
 * only the timing is the thread's, not the agents' loop's.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { errorText } from "../errors.js";
import { EtcdClient, type EtcdLogin, type EtcdTls } from "./etcd.js";
import { ClusterStore } from "./store.js";
import { HEARTBEAT_MS, LEASE_TTL_SECONDS } from "./swarm.js";

/** What a node's heartbeat needs: who it is, and how it reaches the store as itself. */
export interface HeartbeatNode {
  id: string;
  addr: string;
  endpoints: string[];
  tls: EtcdTls;
  login?: EtcdLogin | undefined;
}

/** How the nodes' leases held up since they started. */
export interface RenewalFigures {
  /** The longest wait between two renewals of one node's lease (the lease lasts LEASE_TTL_SECONDS). */
  longestGapMs: number;
  /** Leases that ran out and were made again (the node was taken for down meanwhile). */
  leasesLost: number;
  /** The longest one renewal took, sent to answered: how slow the store was to answer. */
  longestCallMs: number;
  /** How late the thread's timers ran at most: how long it waited for a core. */
  threadDelayMaxMs: number;
}

type ToThread = { type: "figures" } | { type: "stop" };
type FromThread =
  | { type: "started" }
  | { type: "failed"; message: string }
  | { type: "log"; message: string }
  | ({ type: "figures" } & RenewalFigures)
  | { type: "stopped" };

/** The main thread's handle on the heartbeat thread. */
export class HeartbeatThread {
  private waiting: Array<{
    type: FromThread["type"];
    settle: (m: FromThread) => void;
    fail: (err: Error) => void;
  }> = [];

  private constructor(private readonly worker: Worker) {}

  /** Starts the thread; resolves once every node has beaten once (it is announced, and ready). */
  static start(nodes: HeartbeatNode[], log: (message: string) => void): Promise<HeartbeatThread> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { hollowHeartbeats: nodes } });
    const thread = new HeartbeatThread(worker);
    return new Promise((resolve, reject) => {
      worker.on("message", (m: FromThread) => {
        if (m.type === "log") return log(m.message);
        if (m.type === "started") return resolve(thread);
        if (m.type === "failed") return reject(new Error(m.message));
        const i = thread.waiting.findIndex((w) => w.type === m.type);
        if (i >= 0) thread.waiting.splice(i, 1)[0]!.settle(m);
      });
      worker.once("error", reject);
      worker.once("exit", (code) => {
        const err = new Error(`the hollow nodes' heartbeat thread exited (${code})`);
        reject(err);
        for (const w of thread.waiting.splice(0)) w.fail(err);
      });
    });
  }

  figures(): Promise<RenewalFigures> {
    return this.ask({ type: "figures" }).then((m) => m as RenewalFigures);
  }

  /** Stops beating and gives every lease back: the swarm sees the nodes down at once. */
  async stop(): Promise<void> {
    await this.ask({ type: "stop" });
    await this.worker.terminate();
  }

  private ask(message: ToThread): Promise<FromThread> {
    return new Promise((settle, fail) => {
      this.waiting.push({ type: message.type === "stop" ? "stopped" : message.type, settle, fail });
      this.worker.postMessage(message);
    });
  }
}

/** One node's lease, renewed every HEARTBEAT_MS (made again, and the node announced, when lost). */
class NodeHeartbeat {
  private lease: string | undefined;
  private renewedAt = 0;
  longestGapMs = 0;
  leasesLost = 0;
  longestCallMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly store: ClusterStore;

  constructor(
    private readonly node: HeartbeatNode,
    private readonly log: (message: string) => void,
  ) {
    this.store = new ClusterStore(new EtcdClient(node.endpoints, node.tls, node.login));
  }

  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(
      () =>
        void this.beat().catch((err) =>
          this.log(`hollow node ${this.node.id}: heartbeat: ${errorText(err)}`),
        ),
      HEARTBEAT_MS,
    );
  }

  private async beat(): Promise<void> {
    const n = this.node;
    const sent = Date.now();
    const { lease, fresh } = await this.store.heartbeat(n.id, n.addr, this.lease, LEASE_TTL_SECONDS);
    const now = Date.now();
    this.longestCallMs = Math.max(this.longestCallMs, now - sent);
    if (this.renewedAt) this.longestGapMs = Math.max(this.longestGapMs, now - this.renewedAt);
    if (fresh && this.lease) this.leasesLost++;
    this.renewedAt = now;
    this.lease = lease;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.lease) await this.store.etcd.revokeLease(this.lease).catch(() => {});
    this.store.etcd.close();
  }
}

/** The thread itself: beats for every node it was given, answers the main thread's asks. */
async function runThread(nodes: HeartbeatNode[]): Promise<void> {
  const port = parentPort!;
  const post = (m: FromThread) => port.postMessage(m);
  const log = (message: string) => post({ type: "log", message });
  const beats = nodes.map((n) => new NodeHeartbeat(n, log));
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  port.on("message", (m: ToThread) => {
    if (m.type === "figures")
      post({
        type: "figures",
        longestGapMs: Math.max(0, ...beats.map((b) => b.longestGapMs)),
        leasesLost: beats.reduce((sum, b) => sum + b.leasesLost, 0),
        longestCallMs: Math.max(0, ...beats.map((b) => b.longestCallMs)),
        threadDelayMaxMs: Math.round(delay.max / 1e6),
      });
    else void Promise.all(beats.map((b) => b.stop())).then(() => post({ type: "stopped" }));
  });
  try {
    for (const b of beats) await b.start();
    post({ type: "started" });
  } catch (err) {
    post({ type: "failed", message: `a hollow node's first heartbeat: ${errorText(err)}` });
  }
}

if (!isMainThread && workerData?.hollowHeartbeats) void runThread(workerData.hollowHeartbeats);
