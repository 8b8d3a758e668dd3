/**
 * Which changes of the store are worth a leader's pass at once. A pass looks at the whole state
 * (at 30,000 tasks, tens of milliseconds), and most changes in a busy swarm are a worker saying
 * its task got one step further towards running — which changes no decision of the orchestrator
 * or the scheduler, unless the task's service is in a rolling update (which waits for tasks to
 * run) or is a job. Those changes wait for the next timed pass (a second at most), as any missed
 * change would: passes are idempotent and look at everything, so leaving one out loses nothing.
 * Anything else — a service, node, alive key or the cluster changed, a task made, ended, moved
 * out of "running", removed — takes a pass now.
 */
import type { WatchEvent } from "./etcd.js";
import { KEYS } from "./store.js";
import type { ServiceRecord, TaskRecord } from "./types.js";

/** A task's way to running, after the scheduler placed it: the states no decision waits for. */
const ON_ITS_WAY: ReadonlySet<string> = new Set(["assigned", "accepted", "preparing", "starting", "running"]);

/** A service whose tasks' progress drives its own orchestration. */
function progressMatters(s: ServiceRecord): boolean {
  const state = s.UpdateStatus?.State;
  return (
    state === "updating" ||
    state === "rollback_started" ||
    !!s.Spec.Mode.ReplicatedJob ||
    !!s.Spec.Mode.GlobalJob
  );
}

/**
 * True unless every event is a task of a settled service stepping towards running. `value` is
 * what the leader's copy of the store holds at a key now (parsed), undefined if nothing.
 */
export function worthAPass(events: readonly WatchEvent[], value: (key: string) => unknown): boolean {
  for (const e of events) {
    if (e.type !== "PUT" || !e.kv.key.startsWith(KEYS.tasks)) return true;
    const t = value(e.kv.key) as TaskRecord | undefined;
    // Not placed, to stop, ended, or malformed: decisions wait for it.
    if (!t?.NodeID || t.DesiredState !== "running" || !ON_ITS_WAY.has(t.Status?.State ?? "")) return true;
    const s = value(KEYS.services + t.ServiceID) as ServiceRecord | undefined;
    if (!s || s.SpecVersion !== t.SpecVersion || progressMatters(s)) return true;
  }
  return false;
}
