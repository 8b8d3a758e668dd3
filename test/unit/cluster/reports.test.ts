import assert from "node:assert/strict";
import { test } from "node:test";
import { EtcdClient, MAX_NESTED_TXNS, MAX_TXN_OPS } from "../../../src/cluster/etcd.js";
import { GroupCommit } from "../../../src/cluster/group-commit.js";
import { PeerRefused } from "../../../src/cluster/join.js";
import { REPORT_PATHS } from "../../../src/cluster/node-reports.js";
import { acceptBatch } from "../../../src/cluster/report-batch.js";
import { type BatchItem, type ItemAnswer, ReportQueue } from "../../../src/cluster/report-queue.js";
import type { ClusterStore } from "../../../src/cluster/store.js";
import type { TaskRecord, TaskState } from "../../../src/cluster/types.js";
import { InvalidArgument } from "../../../src/errors.js";

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

/** A manager that answers every report with its body, and records the batches. */
function echoManager() {
  const calls: BatchItem[][] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const send = async (reports: BatchItem[]): Promise<ItemAnswer[]> => {
    calls.push(reports);
    if (hold) await new Promise<void>((r) => (release = r));
    return reports.map((r) => ({ answer: r.body }));
  };
  return {
    calls,
    send,
    hold: () => (hold = true),
    release: () => {
      hold = false;
      release?.();
    },
  };
}

test("reports made together go in one call; those made while it is out go in the next", async () => {
  const m = echoManager();
  const q = new ReportQueue(m.send);
  const first = [1, 2, 3].map((n) => q.report<number>("/reports/describe", n));
  await tick();
  assert.equal(m.calls.length, 1);
  m.hold();
  const held = q.report<number>("/reports/describe", 4);
  await tick();
  const during = [5, 6].map((n) => q.report<number>("/reports/describe", n));
  await tick();
  assert.equal(m.calls.length, 2, "nothing more is sent while a call is out");
  m.release();
  assert.deepEqual(await Promise.all([...first, held, ...during]), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(
    m.calls.map((c) => c.map((r) => r.body)),
    [[1, 2, 3], [4], [5, 6]],
  );
});

test("a batch holds at most 128 reports and 48 KiB: the rest go in the next call", async () => {
  const m = echoManager();
  const q = new ReportQueue(m.send);
  await Promise.all(Array.from({ length: 300 }, (_, n) => q.report("/reports/describe", n)));
  assert.deepEqual(
    m.calls.map((c) => c.length),
    [128, 128, 44],
  );
  m.calls.length = 0;
  await Promise.all(Array.from({ length: 10 }, () => q.report("/reports/describe", "x".repeat(20_000))));
  assert.ok(m.calls.every((c) => c.length <= 2));
});

test("a task's later status replaces the one still waiting; an older one is dropped, never sent", async () => {
  const m = echoManager();
  const q = new ReportQueue(m.send);
  const displaced = { written: false };
  const status = (version: number, rank: number) =>
    q.report("/reports/task-status", { version, rank }, { key: "t1", order: version * 10 + rank, displaced });
  const starting = status(5, 5);
  const running = status(5, 6);
  const late = status(4, 6);
  const other = q.report("/reports/task-status", { id: "t2" }, { key: "t2", order: 1, displaced });
  assert.deepEqual(await starting, displaced, "replaced: its caller reads the task again");
  assert.deepEqual(await late, displaced, "older than the waiting one: dropped");
  assert.deepEqual(await running, { version: 5, rank: 6 });
  await other;
  assert.deepEqual(m.calls, [
    [
      { path: "/reports/task-status", body: { version: 5, rank: 6 } },
      { path: "/reports/task-status", body: { id: "t2" } },
    ],
  ]);
});

test("a refused report fails alone; a batch that fails fails each of its reports", async () => {
  const q = new ReportQueue(async (reports) =>
    reports.map(
      (r): ItemAnswer => (r.body === "bad" ? { error: "not yours", status: 403 } : { answer: "ok" }),
    ),
  );
  const [good, bad] = [q.report("/reports/describe", "good"), q.report("/reports/describe", "bad")];
  assert.equal(await good, "ok");
  await assert.rejects(
    bad,
    (err: unknown) => err instanceof PeerRefused && err.refusal && /not yours/.test(err.message),
  );
  const down = new ReportQueue(() => Promise.reject(new Error("no manager is reachable")));
  await assert.rejects(down.report("/reports/describe", 1), /no manager is reachable/);
  const short = new ReportQueue(async () => []);
  await assert.rejects(short.report("/reports/describe", 1), /does not match/);
});

test("group commit: writes made together are one call of etcd, 127 at most (etcd refuses 128 nested), a key once per call", async () => {
  const calls: Array<Array<{ compare: unknown[]; ops: Array<{ put: { key: string } }> }>> = [];
  const etcd = {
    txnEach: async (txns: (typeof calls)[number]) => {
      calls.push(txns);
      return txns.map((t) => !t.ops[0]!.put.key.endsWith("stale"));
    },
  } as unknown as EtcdClient;
  const g = new GroupCommit(etcd);
  const writes = Array.from({ length: 130 }, (_, n) => g.write(`/k/${n}`, "v", 7));
  const again = g.write("/k/0", "v2", 7);
  const stale = g.write("/k/stale", "v", 3);
  const results = await Promise.all([...writes, again, stale]);
  assert.deepEqual(results.slice(0, 131), new Array(131).fill(true));
  assert.equal(results[131], false, "a write whose key changed fails alone");
  assert.deepEqual(
    calls.map((c) => c.length),
    [127, 5],
  );
  assert.ok(
    calls[1]!.some((t) => t.ops[0]!.put.key === "/k/0"),
    "the second write of a key waits for the next call",
  );
  const failing = new GroupCommit({
    txnEach: () => Promise.reject(new Error("etcd down")),
  } as unknown as EtcdClient);
  await assert.rejects(failing.write("/k", "v", 1), /etcd down/);
});

const task = (id: string, node: string, state: TaskState = "starting"): TaskRecord =>
  ({
    ID: id,
    NodeID: node,
    Version: { Index: 10 },
    Status: { Timestamp: "t", State: state, Message: "" },
  }) as unknown as TaskRecord;

/** A store with tasks: records reads and writes. */
function fakeStore(tasks: TaskRecord[]) {
  const written: TaskRecord[] = [];
  let reads = 0;
  const store = {
    getMany: async (_kind: string, ids: string[]) => {
      reads++;
      return ids.map((id) => tasks.find((t) => t.ID === id));
    },
    updateGrouped: async (_kind: string, record: TaskRecord) => {
      written.push(record);
      return true;
    },
  } as unknown as ClusterStore;
  return { store, written, reads: () => reads };
}

const statusReport = (id: string, state: TaskState, extra: object = {}) => ({
  path: REPORT_PATHS.status,
  body: {
    ID: id,
    Version: { Index: 10 },
    UpdatedAt: "now",
    Status: { Timestamp: "now", State: state },
    ...extra,
  },
});

test("a batch's bad shape is refused whole, before anything is read", async () => {
  const untouched = new Proxy({} as ClusterStore, {
    get: () => {
      throw new Error("the store was used");
    },
  });
  const bad: Array<[unknown, RegExp]> = [
    [null, /a batch of reports is/],
    ["reports", /a batch of reports is/],
    [{ reports: {} }, /a batch of reports is/],
    [{ reports: [] }, /a batch of reports is/],
    [
      { reports: Array.from({ length: 129 }, () => statusReport("a", "running")) },
      /at most 128 reports \(this one 129\)/,
    ],
    [
      { reports: [statusReport("a", "running"), { path: "/reports/nope", body: {} }] },
      /report 2 of the batch names no report path/,
    ],
    [
      { reports: [{ path: REPORT_PATHS.batch, body: { reports: [] } }] },
      /report 1 of the batch names no report path/,
    ],
    [{ reports: [null] }, /report 1 of the batch/],
    [{ reports: [{ body: {} }] }, /report 1 of the batch/],
  ];
  for (const [body, message] of bad)
    await assert.rejects(acceptBatch(untouched, "n1", body), message, JSON.stringify(body)?.slice(0, 80));
});

test("a batch's reports stand alone: another node's task, a bad one, a late one write nothing; the rest are written in one read", async () => {
  const { store, written, reads } = fakeStore([
    task("mine1", "n1"),
    task("mine2", "n1"),
    task("theirs", "n2"),
    task("done", "n1", "failed"),
  ]);
  const { answers } = await acceptBatch(store, "n1", {
    reports: [
      statusReport("mine1", "running"),
      statusReport("theirs", "failed"),
      statusReport("mine2", "bogus" as TaskState),
      { path: REPORT_PATHS.status, body: { ID: 7 } },
      statusReport("done", "running"),
      statusReport("gone", "running"),
      statusReport("mine2", "running", { RunningSince: "now" }),
    ],
  });
  assert.deepEqual(answers[0], { answer: { written: true } });
  assert.deepEqual(answers[1], { error: "task theirs is not on node n1", status: 403 });
  assert.deepEqual(answers[2], { error: "a task status report names a task state", status: 400 });
  assert.deepEqual(answers[3], { error: "a report's ID must be a non-empty string", status: 400 });
  assert.deepEqual(answers[4], { answer: { written: false } }, "a failed task never runs again");
  assert.deepEqual(answers[5], { answer: { written: false } }, "a task that is gone");
  assert.deepEqual(answers[6], { answer: { written: true } });
  assert.deepEqual(
    written.map((t) => [t.ID, t.Status.State, t.NodeID]),
    [
      ["mine1", "running", "n1"],
      ["mine2", "running", "n1"],
    ],
  );
  assert.equal(reads(), 1, "the tasks of a run of states are read in one call");
  // Reports other than states are checked in order, as alone: an address of another node's.
  const mixed = await acceptBatch(store, "n1", {
    reports: [
      { path: REPORT_PATHS.release, body: { networkId: "x", ip: "10.0.0.2", owner: "n2:c" } },
      statusReport("mine1", "running"),
    ],
  });
  assert.match(String((mixed.answers[0] as { error: string }).error), /only for itself/);
  assert.deepEqual(mixed.answers[1], { answer: { written: true } });
});

test("a batch takes tasks the manager's copy holds at the version read or later; only older or missing ones are read", async () => {
  const { store, written } = fakeStore([task("behind", "n1"), task("theirs", "n2")]);
  const asked: string[][] = [];
  const reading = store.getMany.bind(store);
  store.getMany = (async (kind: "tasks", ids: string[]) => {
    asked.push(ids);
    return reading(kind, ids);
  }) as typeof store.getMany;
  const copy = new Map<string, TaskRecord>([
    ["held", task("held", "n1")],
    ["later", { ...task("later", "n1"), Version: { Index: 12 } }],
    ["behind", { ...task("behind", "n1"), Version: { Index: 9 } }],
    ["theirs", task("theirs", "n2")],
  ]);
  const { answers } = await acceptBatch(
    store,
    "n1",
    {
      reports: [
        statusReport("held", "running"),
        statusReport("later", "running"),
        statusReport("behind", "running"),
        statusReport("theirs", "running"),
      ],
    },
    (id) => copy.get(id),
  );
  assert.deepEqual(asked, [["behind"]], "only the task the copy holds at an older version is read");
  assert.deepEqual(answers[3], { error: "task theirs is not on node n1", status: 403 });
  // The copy's record is written with the version the worker read: a later one fails there.
  assert.deepEqual(
    written.map((t) => [t.ID, t.Version.Index]),
    [
      ["held", 10],
      ["later", 10],
      ["behind", 10],
    ],
  );
});

test("a manager's refusal ends a call (another would refuse it too); not-a-manager and failures inside do not", () => {
  const refusal = (status: number) => new PeerRefused("x", status).refusal;
  assert.deepEqual([400, 401, 403, 413].map(refusal), [true, true, true, true]);
  assert.deepEqual([404, 500, 503].map(refusal), [false, false, false]);
});

test("nested transactions etcd would refuse are refused before any call, with why", async () => {
  const etcd = new EtcdClient(["http://127.0.0.1:9"]);
  const one = (n: number) => ({
    compare: [{ key: `/k/${n}`, target: "MOD" as const, modRevision: 1 }],
    ops: [{ put: { key: `/k/${n}`, value: "v" } }],
  });
  assert.equal(MAX_NESTED_TXNS + 1, MAX_TXN_OPS);
  await assert.rejects(
    etcd.txnEach(Array.from({ length: MAX_NESTED_TXNS + 1 }, (_, n) => one(n))),
    (err: unknown) => err instanceof InvalidArgument && /at most 128 in all/.test(err.message),
  );
  etcd.close();
});
