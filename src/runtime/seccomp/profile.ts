/**
 * Reads an OCI seccomp profile (config.json `linux.seccomp`) into a plan: validated actions,
 * architectures, flags and rules with their conditions as unsigned 64-bit numbers. Everything a
 * user can get wrong is refused here, with the field that is wrong; nothing below re-checks it.
 */
import { InvalidArgument } from "../../errors.js";
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from "../../oci/runtime-spec.js";
import {
  ACTIONS,
  type ActionData,
  actionValue,
  EPERM,
  MAX_ERRNO,
  SECCOMP_RET_USER_NOTIF,
} from "./actions.js";
import {
  FOREIGN_ARCH_NAMES,
  isOtherArchSyscall,
  SECCOMP_ARCHES,
  type SeccompArch,
  seccompArch,
} from "./arch.js";

/** A profile feature Berth recognises but does not implement; the container is not created. */
export class UnsupportedSeccompFeature extends InvalidArgument {}

export type CompareOp = "NE" | "LT" | "LE" | "EQ" | "GE" | "GT" | "MASKED_EQ";

export interface Condition {
  /** The syscall argument, 0 to 5. */
  index: number;
  op: CompareOp;
  /** The operand as an unsigned 64-bit number; for MASKED_EQ, already masked (as libseccomp does). */
  value: bigint;
  /** MASKED_EQ only: what the argument is ANDed with before the comparison. */
  mask?: bigint;
}

export interface PlannedRule {
  /** The syscalls the rule is for (names; each architecture has its own numbers). */
  names: string[];
  /** SECCOMP_RET_* with its data. */
  action: number;
  /** All must hold (AND). None: the rule always applies. */
  conditions: Condition[];
}

export interface SeccompPlan {
  defaultAction: number;
  /** The architectures the filter accepts, native first, each once. */
  arches: SeccompArch[];
  /** SECCOMP_FILTER_FLAG_* for seccomp(2). */
  flags: number;
  rules: PlannedRule[];
  /** Every syscall name in the profile, for the -ENOSYS threshold (see arch-rules.ts). */
  names: string[];
  /** What was ignored, for the caller to log. */
  warnings: string[];
}

// <linux/seccomp.h>
export const SECCOMP_FILTER_FLAG_TSYNC = 1;
export const SECCOMP_FILTER_FLAG_LOG = 2;
export const SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4;

export const FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC,
  SECCOMP_FILTER_FLAG_LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW,
};

export const OPERATORS: Readonly<Record<string, CompareOp>> = {
  SCMP_CMP_NE: "NE",
  SCMP_CMP_LT: "LT",
  SCMP_CMP_LE: "LE",
  SCMP_CMP_EQ: "EQ",
  SCMP_CMP_GE: "GE",
  SCMP_CMP_GT: "GT",
  SCMP_CMP_MASKED_EQ: "MASKED_EQ",
};

const FIELD = "linux.seccomp";
const U64 = (1n << 64n) - 1n;

export function planSeccomp(profile: LinuxSeccomp, nativeArch: string): SeccompPlan {
  if (profile.listenerPath)
    throw new UnsupportedSeccompFeature(
      `${FIELD}.listenerPath: seccomp notify agents are not supported by Berth (SCMP_ACT_NOTIFY)`,
    );
  const defaultAction = action(
    profile.defaultAction,
    profile.defaultErrnoRet,
    `${FIELD}.defaultAction`,
    `${FIELD}.defaultErrnoRet`,
  );
  const warnings: string[] = [];
  const rules: PlannedRule[] = [];
  const names: string[] = [];
  (profile.syscalls ?? []).forEach((syscall, i) => {
    const field = `${FIELD}.syscalls[${i}]`;
    const ruleNames = syscallNames(syscall, field, warnings);
    names.push(...ruleNames);
    const ruleAction = action(syscall.action, syscall.errnoRet, `${field}.action`, `${field}.errnoRet`);
    const conditions = (syscall.args ?? []).map((arg, j) => condition(arg, `${field}.args[${j}]`));
    // runc adds no rule whose action is the default one: libseccomp refuses it as redundant.
    if (ruleAction === defaultAction || ruleNames.length === 0) return;
    for (const split of splitSameArgument(conditions))
      rules.push({ names: ruleNames, action: ruleAction, conditions: split });
  });
  return {
    defaultAction,
    arches: architectures(profile.architectures, nativeArch),
    flags: flags(profile.flags),
    rules,
    names,
    warnings,
  };
}

function action(name: unknown, errnoRet: unknown, field: string, errnoField: string): number {
  if (typeof name !== "string" || !name) throw new InvalidArgument(`${field}: an action is required`);
  const kind = ACTIONS[name];
  if (!kind) throw new InvalidArgument(`${field}: unknown action "${name}"`);
  if (kind.ret === SECCOMP_RET_USER_NOTIF)
    throw new UnsupportedSeccompFeature(
      `${field}: ${name} is not supported by Berth (no seccomp notify agent)`,
    );
  return actionValue(kind, actionData(kind.data, name, errnoRet, errnoField));
}

/** The runtime spec: an errno the action cannot return is an error; none given means EPERM. */
function actionData(data: ActionData, name: string, errnoRet: unknown, field: string): number {
  if (errnoRet === undefined || errnoRet === null) return data === "none" ? 0 : EPERM;
  if (data === "none") throw new InvalidArgument(`${field}: ${name} does not return an errno`);
  const max = data === "errno" ? MAX_ERRNO : 0xffff;
  if (typeof errnoRet !== "number" || !Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > max)
    throw new InvalidArgument(`${field}: ${String(errnoRet)} is out of range (0 to ${max})`);
  return errnoRet;
}

function syscallNames(syscall: LinuxSyscall, field: string, warnings: string[]): string[] {
  if (!Array.isArray(syscall.names) || syscall.names.length === 0)
    throw new InvalidArgument(`${field}.names: must name at least one syscall`);
  const known: string[] = [];
  syscall.names.forEach((name, i) => {
    if (typeof name !== "string" || !name)
      throw new InvalidArgument(`${field}.names[${i}]: empty syscall name`);
    if (SECCOMP_ARCHES.some((arch) => name in arch.syscalls)) known.push(name);
    // Like runc, an unknown name is skipped rather than refused: profiles list syscalls of newer
    // kernels and other architectures. Only a name no architecture has is worth a warning.
    else if (!isOtherArchSyscall(name))
      warnings.push(`${field}.names[${i}]: unknown syscall "${name}" ignored`);
  });
  return known;
}

function condition(arg: LinuxSeccompArg, field: string): Condition {
  const { index } = arg;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 5)
    throw new InvalidArgument(`${field}.index: ${String(index)} is not a syscall argument (0 to 5)`);
  const op = OPERATORS[arg.op];
  if (!op) throw new InvalidArgument(`${field}.op: unknown operator "${String(arg.op)}"`);
  const value = uint64(arg.value, `${field}.value`);
  if (op !== "MASKED_EQ") return { index, op, value };
  // OCI and libseccomp: value is the mask, valueTwo the datum; libseccomp masks the datum too.
  const datum = arg.valueTwo === undefined ? 0n : uint64(arg.valueTwo, `${field}.valueTwo`);
  return { index, op, value: datum & value, mask: value };
}

/** A number as the kernel sees a 64-bit argument: negative values in two's complement. */
function uint64(value: unknown, field: string): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value))
    throw new InvalidArgument(
      `${field}: ${value} is not an exact integer (JSON numbers beyond 2^53 lose precision: read the value as a bigint, or write it as a negative number)`,
    );
  if (typeof value !== "number" && typeof value !== "bigint")
    throw new InvalidArgument(`${field}: ${String(value)} is not a number`);
  const big = BigInt(value);
  if (big < -(1n << 63n) || big > U64)
    throw new InvalidArgument(`${field}: ${value} does not fit in 64 bits`);
  return BigInt.asUintN(64, big);
}

/**
 * runc and crun hand libseccomp one rule per condition when a rule compares the same argument
 * twice (libseccomp once refused that), so such conditions are alternatives (OR), not AND.
 */
function splitSameArgument(conditions: Condition[]): Condition[][] {
  const indexes = new Set(conditions.map((c) => c.index));
  return indexes.size === conditions.length ? [conditions] : conditions.map((c) => [c]);
}

function architectures(names: string[] | undefined, nativeArch: string): SeccompArch[] {
  const native = seccompArch(nativeArch);
  if (!native)
    throw new InvalidArgument(`seccomp: Berth cannot build filters for the architecture ${nativeArch}`);
  const arches = [native];
  (names ?? []).forEach((name, i) => {
    const arch = seccompArch(name);
    if (arch) {
      if (!arches.includes(arch)) arches.push(arch);
    } else if (!FOREIGN_ARCH_NAMES.has(name)) {
      throw new InvalidArgument(`${FIELD}.architectures[${i}]: unknown architecture "${name}"`);
    }
  });
  return arches;
}

function flags(names: string[] | undefined): number {
  // runc sets SPEC_ALLOW when the profile says nothing (not even []): otherwise the kernel turns on
  // the Speculative Store Bypass mitigation for every filtered process, a cost Docker users don't pay.
  if (names === undefined || names === null) return SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  let value = 0;
  names.forEach((name, i) => {
    const flag = FLAGS[name];
    if (flag !== undefined) value |= flag;
    else if (name === "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
      throw new UnsupportedSeccompFeature(
        `${FIELD}.flags[${i}]: ${name} only applies to seccomp notify agents, which Berth does not support`,
      );
    else throw new InvalidArgument(`${FIELD}.flags[${i}]: unknown flag "${name}"`);
  });
  return value;
}
