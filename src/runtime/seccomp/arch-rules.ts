/**
 * What each syscall number does on one architecture, given the plan: the rules libseccomp (as
 * runc drives it) would end up with, resolved into one behaviour per number.
 *
 * Precedence, for the rules that name one syscall:
 *  - a rule with no conditions decides alone, and the first such rule wins: libseccomp lets an
 *    unconditional rule replace the conditional ones and drops any rule added after it;
 *  - otherwise the conditional rules are tried in profile order and the first whose conditions
 *    all hold decides; none holding means the default action. (libseccomp orders its decision
 *    tree by argument and operator instead, which only matters when rules that overlap have
 *    different actions; for rules with one action, the common case and all of Docker's profile,
 *    the result is the same: any matching rule applies.)
 * Rules with the default action never get here (see profile.ts).
 */
import { ENOSYS, letsSyscallRun, SECCOMP_RET_ERRNO } from "./actions.js";
import type { SeccompArch } from "./arch.js";
import type { Condition, SeccompPlan } from "./profile.js";

export interface ArchRule {
  action: number;
  /** At least one; AND. */
  conditions: Condition[];
}

export type Behavior = { action: number } | { rules: ArchRule[]; otherwise: number };

export interface ArchFilter {
  arch: SeccompArch;
  /** Syscall number → behaviour, for the numbers a rule applies to. Others get the default action. */
  syscalls: Map<number, Behavior>;
  /**
   * runc's -ENOSYS patch: numbers above the largest syscall the profile names on this
   * architecture are assumed newer than the profile and fail with ENOSYS, so that programs fall
   * back to an older syscall instead of failing on EPERM. Undefined when it does not apply.
   */
  enosysAbove?: number;
}

export const ENOSYS_ACTION = (SECCOMP_RET_ERRNO | ENOSYS) >>> 0;

export function archFilter(plan: SeccompPlan, arch: SeccompArch): ArchFilter {
  const decided = new Map<number, number>();
  const conditional = new Map<number, ArchRule[]>();
  for (const rule of plan.rules) {
    const conditions = rule.conditions.filter((c) => !alwaysHolds(c, arch));
    for (const nr of numbers(rule.names, arch)) {
      if (decided.has(nr)) continue;
      if (conditions.length === 0) decided.set(nr, rule.action);
      else conditional.set(nr, [...(conditional.get(nr) ?? []), { action: rule.action, conditions }]);
    }
  }
  const syscalls = new Map<number, Behavior>();
  for (const [nr, rules] of conditional) syscalls.set(nr, { rules, otherwise: plan.defaultAction });
  for (const [nr, action] of decided) syscalls.set(nr, { action });
  return { arch, syscalls, enosysAbove: enosysThreshold(plan, arch) };
}

/** The distinct numbers of `names` on `arch`; names it lacks are skipped, as libseccomp does. */
function numbers(names: string[], arch: SeccompArch): Set<number> {
  const out = new Set<number>();
  for (const name of names) {
    const nr = arch.syscalls[name];
    if (nr !== undefined) out.add(nr);
  }
  return out;
}

/** A masked comparison whose mask is zero in every word compared on this architecture. */
function alwaysHolds(c: Condition, arch: SeccompArch): boolean {
  if (c.op !== "MASKED_EQ" || c.mask === undefined) return false;
  const compared = arch.argWords === 2 ? c.mask : c.mask & 0xffffffffn;
  return compared === 0n;
}

function enosysThreshold(plan: SeccompPlan, arch: SeccompArch): number | undefined {
  if (letsSyscallRun(plan.defaultAction) || plan.defaultAction === ENOSYS_ACTION) return undefined;
  let max: number | undefined;
  for (const nr of numbers(plan.names, arch)) if (max === undefined || nr > max) max = nr;
  return max;
}
