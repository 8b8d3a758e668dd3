/**
 * How a service's rolling update (or rollback) stands, read from its tasks alone so that any
 * leader, new or old, reaches the same verdict: still going, finished (every task of the new
 * spec has run for the monitor period), or failed (more tasks of the new spec ended early than
 * the update's failure ratio allows). What a failure leads to is the update's FailureAction.
 */
import type { ServiceRecord, ServiceSpec, TaskRecord, UpdateConfig } from "./types.js";

/** docker's defaults for an update or rollback policy (`inspect --insertDefaults` shows them). */
export const POLICY_DEFAULTS = {
  Parallelism: 1,
  FailureAction: "pause",
  Monitor: 5e9,
  MaxFailureRatio: 0,
  Order: "stop-first",
} as const;

export type UpdateVerdict =
  | { kind: "going" }
  | { kind: "completed" }
  | { kind: "failed"; taskId: string; action: "pause" | "continue" | "rollback" };

/** States a task reaches on its own when it ends: a failure during an update's monitoring. */
const ENDED_EARLY = new Set(["failed", "rejected", "complete"]);

export const rollingBack = (s: ServiceRecord) =>
  s.UpdateStatus?.State === "rollback_started" || s.UpdateStatus?.State === "rollback_paused";

/** The policy in force: the rollback one while rolling back, else the update one. */
export function activePolicy(s: ServiceRecord): UpdateConfig {
  return (rollingBack(s) ? s.Spec.RollbackConfig : s.Spec.UpdateConfig) ?? {};
}

/**
 * `slots`: how many replicas (or nodes, for a global service) the update replaces; the failure
 * ratio is of that number. `busy`: the orchestrator still makes or replaces tasks this pass.
 */
export function updateVerdict(
  service: ServiceRecord,
  tasks: TaskRecord[],
  slots: number,
  busy: boolean,
  now: number,
): UpdateVerdict {
  const policy = activePolicy(service);
  const monitorMs = (policy.Monitor ?? POLICY_DEFAULTS.Monitor) / 1e6;
  const since = Date.parse(service.UpdateStatus?.StartedAt ?? "") || 0;
  const ofThisUpdate = tasks.filter(
    (t) => t.SpecVersion === service.SpecVersion && Date.parse(t.CreatedAt) >= since,
  );
  // Ended early: before it ran, or within the monitor period of starting.
  const early = ofThisUpdate.filter(
    (t) =>
      ENDED_EARLY.has(t.Status.State) &&
      (!t.RunningSince || Date.parse(t.Status.Timestamp) - Date.parse(t.RunningSince) < monitorMs),
  );
  const action = policy.FailureAction ?? POLICY_DEFAULTS.FailureAction;
  const ratio = policy.MaxFailureRatio ?? POLICY_DEFAULTS.MaxFailureRatio;
  if (early.length && action !== "continue" && early.length / Math.max(1, slots) > ratio) {
    const first = early.sort((a, b) => Date.parse(a.Status.Timestamp) - Date.parse(b.Status.Timestamp))[0]!;
    return { kind: "failed", taskId: first.ID, action };
  }
  const wanted = tasks.filter((t) => t.DesiredState === "running" || t.DesiredState === "ready");
  const settled =
    wanted.length >= slots &&
    wanted.every(
      (t) =>
        t.SpecVersion === service.SpecVersion &&
        t.Status.State === "running" &&
        // A task made by this update is watched for the monitor period before it counts.
        (Date.parse(t.CreatedAt) < since || !t.RunningSince || now - Date.parse(t.RunningSince) >= monitorMs),
    );
  return settled && !busy ? { kind: "completed" } : { kind: "going" };
}

export const isJob = (spec: ServiceSpec) => !!(spec.Mode.ReplicatedJob || spec.Mode.GlobalJob);

/**
 * A service given a new spec: an update, or a rollback to its previous spec. A change of what
 * the tasks run (not a scale) starts a rolling update under a new spec version.
 */
export function respec(
  service: ServiceRecord,
  spec: ServiceSpec,
  rollback: boolean,
  message: string,
): ServiceRecord {
  const templateChanged = JSON.stringify(spec.TaskTemplate) !== JSON.stringify(service.Spec.TaskTemplate);
  const now = new Date().toISOString();
  return {
    ...service,
    UpdatedAt: now,
    PreviousSpec: service.Spec,
    Spec: spec,
    SpecVersion: templateChanged ? service.SpecVersion + 1 : service.SpecVersion,
    // Jobs run again on a new spec; they have no rolling update to report (as in swarmkit).
    ...(templateChanged && !isJob(spec)
      ? {
          UpdateStatus: {
            State: rollback ? "rollback_started" : "updating",
            StartedAt: now,
            Message: message,
          },
        }
      : {}),
  };
}
