/**
 * The shape of a filter program. It reads seccomp_data { u32 nr; u32 arch; u64 ip; u64 args[6] }:
 *
 *   arch dispatch   load arch; one JEQ per accepted AUDIT_ARCH_*; anything else → bad-arch action
 *   per arch        load nr; on AUDIT_ARCH_X86_64, split x86_64 from x32 on __X32_SYSCALL_BIT;
 *                   then a binary search over ranges of syscall numbers that share a target
 *                   (~log2(ranges) jumps), ending in a return or in the argument checks of a
 *                   syscall whose rules have conditions
 *   argument checks each condition compares 64-bit arguments as two 32-bit words, high word first
 *                   (unsigned, as libseccomp does); 32-bit ABIs compare the low word only
 *
 * Targets are labels; bpf.ts resolves them and adds trampolines where a jump is too far.
 */
import { SECCOMP_RET_KILL_THREAD } from "./actions.js";
import { X32_SYSCALL_BIT } from "./arch.js";
import { type ArchFilter, type Behavior, ENOSYS_ACTION } from "./arch-rules.js";
import { Assembly, BPF_JEQ_K, BPF_JGE_K, BPF_JGT_K, type Label, NEXT } from "./bpf.js";
import type { Condition } from "./profile.js";

// struct seccomp_data, little-endian (every architecture Berth supports is).
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const argLow = (index: number) => 16 + 8 * index;
const argHigh = (index: number) => 20 + 8 * index;

const U32_MAX = 0xffffffff;

/**
 * libseccomp's default for a syscall from an architecture the filter does not list, kept by runc
 * (it never sets SCMP_FLTATR_ACT_BADARCH): kill the thread.
 */
export const BAD_ARCH_ACTION = SECCOMP_RET_KILL_THREAD;

/** Writes the program for `filters` (native architecture first). */
export function generate(filters: ArchFilter[], defaultAction: number): Assembly {
  const asm = new Assembly();
  const groups = new Map<number, ArchFilter[]>();
  for (const f of filters) groups.set(f.arch.auditArch, [...(groups.get(f.arch.auditArch) ?? []), f]);
  const blocks = [...groups].map(([auditArch, group]) => ({ auditArch, group, label: asm.label() }));
  asm.load(OFFSET_ARCH);
  for (const block of blocks) asm.jump(BPF_JEQ_K, block.auditArch, block.label, NEXT);
  asm.ret(BAD_ARCH_ACTION);
  for (const block of blocks) {
    asm.place(block.label);
    new ArchBlock(asm, defaultAction).emit(block.group);
  }
  return asm;
}

/** The code of one AUDIT_ARCH_* value: the syscall search, argument checks, shared returns. */
class ArchBlock {
  private readonly returns = new Map<number, Label>();
  private readonly checks: {
    label: Label;
    filter: ArchFilter;
    rules: Extract<Behavior, { rules: unknown }>;
  }[] = [];

  constructor(
    private readonly asm: Assembly,
    private readonly defaultAction: number,
  ) {}

  emit(group: ArchFilter[]): void {
    const { asm } = this;
    asm.load(OFFSET_NR);
    const x86_64 = group.find((f) => f.arch.name === "SCMP_ARCH_X86_64");
    const x32 = group.find((f) => f.arch.name === "SCMP_ARCH_X32");
    if (x86_64 && x32) {
      const x32Search = asm.label();
      asm.jump(BPF_JGE_K, X32_SYSCALL_BIT, x32Search, NEXT);
      this.search(x86_64, 0, X32_SYSCALL_BIT - 1);
      asm.place(x32Search);
      this.search(x32, X32_SYSCALL_BIT, U32_MAX);
    } else if (x86_64) {
      // An x32 syscall when only x86_64 is accepted is a foreign ABI, except nr -1: a tracer sets
      // it to skip a syscall and the filter runs again on it (Linux 4.8+), so libseccomp lets it
      // through to the default action rather than killing the tracee.
      const x32Range = asm.label();
      asm.jump(BPF_JGE_K, X32_SYSCALL_BIT, x32Range, NEXT);
      this.search(x86_64, 0, X32_SYSCALL_BIT - 1);
      asm.place(x32Range);
      asm.jump(BPF_JEQ_K, U32_MAX, this.returnOf(this.defaultAction), this.returnOf(BAD_ARCH_ACTION));
    } else if (x32) {
      asm.jump(BPF_JGE_K, X32_SYSCALL_BIT, NEXT, this.returnOf(BAD_ARCH_ACTION));
      this.search(x32, X32_SYSCALL_BIT, U32_MAX);
    } else {
      this.search(group[0]!, 0, U32_MAX);
    }
    for (const check of this.checks) this.argumentChecks(check.label, check.filter, check.rules);
    for (const [action, label] of this.returns) {
      asm.place(label);
      asm.ret(action);
    }
  }

  private returnOf(action: number): Label {
    let label = this.returns.get(action);
    if (label === undefined) {
      label = this.asm.label();
      this.returns.set(action, label);
    }
    return label;
  }

  /** A binary search over [lo, hi] for the syscall number in the accumulator. */
  private search(filter: ArchFilter, lo: number, hi: number): void {
    const ranges = this.ranges(filter, lo, hi);
    if (ranges.length === 1) {
      this.asm.goto(ranges[0]!.target);
      return;
    }
    this.node(ranges, 0, ranges.length);
  }

  private node(ranges: Range[], from: number, to: number): void {
    const mid = (from + to) >> 1;
    const below = mid - from === 1 ? ranges[from]!.target : NEXT;
    const above = to - mid === 1 ? ranges[mid]!.target : this.asm.label();
    this.asm.jump(BPF_JGE_K, ranges[mid]!.start, above, below);
    if (mid - from > 1) this.node(ranges, from, mid);
    if (to - mid > 1) {
      this.asm.place(above);
      this.node(ranges, mid, to);
    }
  }

  /** [lo, hi] cut into ranges that start at `start` and run to the next one, adjacent targets merged. */
  private ranges(filter: ArchFilter, lo: number, hi: number): Range[] {
    const out: Range[] = [];
    const push = (start: number, target: Label) => {
      if (out.at(-1)?.target !== target) out.push({ start, target });
    };
    const gap = (start: number, end: number) => {
      const above = filter.enosysAbove;
      if (above === undefined || end <= above) push(start, this.returnOf(this.defaultAction));
      else if (start > above) push(start, this.returnOf(ENOSYS_ACTION));
      else {
        push(start, this.returnOf(this.defaultAction));
        push(above + 1, this.returnOf(ENOSYS_ACTION));
      }
    };
    const numbers = [...filter.syscalls.keys()].filter((nr) => nr >= lo && nr <= hi).sort((a, b) => a - b);
    let next = lo;
    for (const nr of numbers) {
      if (nr > next) gap(next, nr - 1);
      push(nr, this.targetOf(filter, filter.syscalls.get(nr)!));
      next = nr + 1;
    }
    if (next <= hi) gap(next, hi);
    return out;
  }

  private targetOf(filter: ArchFilter, behavior: Behavior): Label {
    if ("action" in behavior) return this.returnOf(behavior.action);
    const label = this.asm.label();
    this.checks.push({ label, filter, rules: behavior });
    return label;
  }

  /** Each rule in turn: its conditions (AND), and its action if they all hold. */
  private argumentChecks(
    label: Label,
    filter: ArchFilter,
    behavior: Extract<Behavior, { rules: unknown }>,
  ): void {
    const { asm } = this;
    asm.place(label);
    for (const rule of behavior.rules) {
      const matched = asm.label();
      const nextRule = asm.label();
      rule.conditions.forEach((condition, i) => {
        const holds = i === rule.conditions.length - 1 ? matched : asm.label();
        compare(asm, condition, filter.arch.argWords, holds, nextRule);
        if (holds !== matched) asm.place(holds);
      });
      asm.place(matched);
      asm.ret(rule.action);
      asm.place(nextRule);
    }
    asm.ret(behavior.otherwise);
  }
}

interface Range {
  start: number;
  target: Label;
}

/** The argument word(s) a condition looks at and the operand's two 32-bit halves. */
interface Operand {
  index: number;
  lowOnly: boolean;
  high: number;
  low: number;
}

/** Jumps to `holds` if the argument satisfies the condition, else to `fails`. */
function compare(asm: Assembly, c: Condition, words: 1 | 2, holds: Label, fails: Label): void {
  const x: Operand = {
    index: c.index,
    lowOnly: words === 1,
    high: Number(c.value >> 32n),
    low: Number(c.value & 0xffffffffn),
  };
  switch (c.op) {
    case "EQ":
      equal(asm, x, holds, fails);
      break;
    case "NE":
      equal(asm, x, fails, holds);
      break;
    case "GT":
      greater(asm, x, BPF_JGT_K, holds, fails);
      break;
    case "GE":
      greater(asm, x, BPF_JGE_K, holds, fails);
      break;
    case "LE": // not GT
      greater(asm, x, BPF_JGT_K, fails, holds);
      break;
    case "LT": // not GE
      greater(asm, x, BPF_JGE_K, fails, holds);
      break;
    case "MASKED_EQ":
      maskedEqual(asm, c, x.lowOnly, holds, fails);
      break;
  }
}

function equal(asm: Assembly, x: Operand, yes: Label, no: Label): void {
  if (!x.lowOnly) {
    asm.load(argHigh(x.index));
    asm.jump(BPF_JEQ_K, x.high, NEXT, no);
  }
  asm.load(argLow(x.index));
  asm.jump(BPF_JEQ_K, x.low, yes, no);
}

/** arg > value (JGT on the low word) or arg >= value (JGE): the high words decide unless equal. */
function greater(asm: Assembly, x: Operand, lowJump: number, yes: Label, no: Label): void {
  if (!x.lowOnly) {
    asm.load(argHigh(x.index));
    asm.jump(BPF_JGT_K, x.high, yes, NEXT);
    asm.jump(BPF_JEQ_K, x.high, NEXT, no);
  }
  asm.load(argLow(x.index));
  asm.jump(lowJump, x.low, yes, no);
}

/** (arg & mask) == value; a word whose mask is zero always matches and is not looked at. */
function maskedEqual(asm: Assembly, c: Condition, lowOnly: boolean, yes: Label, no: Label) {
  const mask = c.mask ?? 0n;
  const words = [
    { offset: argHigh(c.index), mask: Number(mask >> 32n), value: Number(c.value >> 32n) },
    { offset: argLow(c.index), mask: Number(mask & 0xffffffffn), value: Number(c.value & 0xffffffffn) },
  ].filter((w, i) => w.mask !== 0 && !(lowOnly && i === 0));
  if (words.length === 0) asm.goto(yes);
  words.forEach((w, i) => {
    asm.load(w.offset);
    if (w.mask !== U32_MAX) asm.and(w.mask);
    asm.jump(BPF_JEQ_K, w.value, i === words.length - 1 ? yes : NEXT, no);
  });
}
