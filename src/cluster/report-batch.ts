/**
 * A manager's side of `/reports/batch`: many reports of one worker in one call.
 *
 * The batch's shape is checked first (an array of at most MAX_BATCH_REPORTS reports, each a
 * known report path and a body): a malformed batch is refused whole and nothing is done. Then
 * each report is checked as it would be alone (acceptReport's checks against what the store says
 * is the caller's) and answered alone: a refused report changes nothing and is answered with
 * why; the others are written. One worker's reports stand or fall each on its own, as they did
 * when each was a call: a report of another node's task among the caller's own is refused, and
 * lets nothing through with it. Reports are taken in order (an address is taken before the
 * endpoint on it is published); each run of task states is read in one call and written with
 * the states of other workers' batches in as few transactions as etcd allows (group commit).
 *
 * A task a report names is taken from the manager's copy of the store when the copy holds it at
 * the version the worker read or later (a record at one revision never changes, and a later one
 * fails the write's version check as a fresh read would); only the others are read from etcd.
 * At 30,000 tasks those reads, each state of each task, were most of what kept etcd busy.
 */
import { errorText, InvalidArgument } from "../errors.js";
import { peerStatus } from "./join.js";
import { acceptReport, checkedStatus, REPORT_PATHS, reportedTask } from "./node-reports.js";
import { type BatchItem, type ItemAnswer, MAX_BATCH_REPORTS } from "./report-queue.js";
import type { ClusterStore } from "./store.js";
import type { TaskRecord } from "./types.js";

const ONE_REPORT: ReadonlySet<string> = new Set(
  Object.values(REPORT_PATHS).filter((p) => p !== REPORT_PATHS.batch),
);

/** A task in the manager's copy of the store, if it holds one. */
export type HeldTask = (id: string) => TaskRecord | undefined;

export async function acceptBatch(
  store: ClusterStore,
  caller: string,
  body: unknown,
  held: HeldTask = () => undefined,
): Promise<{ answers: ItemAnswer[] }> {
  const reports = batchOf(body);
  const answers: ItemAnswer[] = [];
  for (let i = 0; i < reports.length; ) {
    let end = i;
    while (end < reports.length && reports[end]!.path === REPORT_PATHS.status) end++;
    if (end > i) {
      answers.push(...(await acceptStatuses(store, caller, reports.slice(i, end), held)));
      i = end;
    } else {
      const { path, body } = reports[i++]!;
      answers.push(await answerOf(() => acceptReport(store, caller, path, body)));
    }
  }
  return { answers };
}

/** Task states: their tasks read in one call, the accepted ones written in a group commit. */
async function acceptStatuses(
  store: ClusterStore,
  caller: string,
  reports: BatchItem[],
  held: HeldTask,
): Promise<ItemAnswer[]> {
  const bodies = reports.map((r) => (r.body ?? {}) as Record<string, unknown>);
  const ids = bodies.map((b): string | ItemAnswer => {
    try {
      return reportedTask(b);
    } catch (err) {
      return refusal(err);
    }
  });
  const tasks = new Map<string, TaskRecord>();
  const unheld: string[] = [];
  ids.forEach((id, i) => {
    if (typeof id !== "string") return;
    const read = (bodies[i]!.Version as { Index?: unknown } | undefined)?.Index;
    const copy = held(id);
    if (copy && typeof read === "number" && copy.Version.Index >= read) tasks.set(id, copy);
    else unheld.push(id);
  });
  for (const t of await store.getMany<TaskRecord>("tasks", unheld)) if (t) tasks.set(t.ID, t);
  // Every write is asked for before any is awaited: they go in the same transactions.
  return Promise.all(
    bodies.map((b, i) => {
      const id = ids[i]!;
      if (typeof id !== "string") return id;
      return answerOf(async () => {
        const updated = checkedStatus(tasks.get(id), caller, b);
        return { written: updated ? await store.updateGrouped("tasks", updated) : false };
      });
    }),
  );
}

async function answerOf(report: () => Promise<unknown>): Promise<ItemAnswer> {
  try {
    return { answer: (await report()) ?? {} };
  } catch (err) {
    return refusal(err);
  }
}

function refusal(err: unknown): ItemAnswer {
  return { error: errorText(err), status: err instanceof Error ? peerStatus(err) : 500 };
}

function batchOf(body: unknown): BatchItem[] {
  const reports = (body as { reports?: unknown } | null)?.reports;
  if (!Array.isArray(reports) || !reports.length)
    throw new InvalidArgument('a batch of reports is {"reports": [{"path": …, "body": …}, …]}');
  if (reports.length > MAX_BATCH_REPORTS)
    throw new InvalidArgument(
      `a batch holds at most ${MAX_BATCH_REPORTS} reports (this one ${reports.length}): send the rest in another`,
    );
  return reports.map((r, i) => {
    const path = (r as { path?: unknown } | null)?.path;
    if (typeof path !== "string" || !ONE_REPORT.has(path))
      throw new InvalidArgument(
        `report ${i + 1} of the batch names no report path (one of ${[...ONE_REPORT].join(", ")})`,
      );
    return { path, body: (r as { body?: unknown }).body };
  });
}
