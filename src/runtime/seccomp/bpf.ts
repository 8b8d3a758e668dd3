/**
 * A classic BPF assembler: instructions that jump to symbolic labels, and the pass that turns them
 * into `struct sock_filter` bytes. Classic BPF only jumps forward; a conditional jump reaches at
 * most 255 instructions, so a farther target gets a trampoline (an unconditional BPF_JA, whose
 * offset is 32 bits) right after the jump, or a copy of the target when that is a return.
 */

// <linux/filter.h> / <linux/bpf_common.h> opcodes, as used by seccomp filters.
export const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = seccomp_data[k]
export const BPF_AND_K = 0x54; // BPF_ALU | BPF_AND | BPF_K: A &= k
export const BPF_RET_K = 0x06; // BPF_RET | BPF_K
export const BPF_JA = 0x05; // BPF_JMP | BPF_JA: pc += k
export const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K: A == k
export const BPF_JGT_K = 0x25; // A > k (unsigned)
export const BPF_JGE_K = 0x35; // A >= k (unsigned)
export const BPF_JSET_K = 0x45; // A & k

/** The kernel refuses longer programs (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
const MAX_COND_JUMP = 255;

export type Label = number & { readonly __label: unique symbol };

type Item =
  | { kind: "label"; label: Label }
  | { kind: "stmt"; code: number; k: number }
  | { kind: "jump"; code: number; k: number; jt: Label; jf: Label };

/** What `jump` takes for "the instruction after this one". */
export const NEXT = -1 as Label;

/** A program being written: statements, conditional jumps and the labels they go to. */
export class Assembly {
  readonly items: Item[] = [];
  private labels = 0;

  label(): Label {
    return this.labels++ as Label;
  }

  place(label: Label): void {
    this.items.push({ kind: "label", label });
  }

  load(offset: number): void {
    this.items.push({ kind: "stmt", code: BPF_LD_W_ABS, k: offset });
  }

  and(k: number): void {
    this.items.push({ kind: "stmt", code: BPF_AND_K, k });
  }

  ret(k: number): void {
    this.items.push({ kind: "stmt", code: BPF_RET_K, k });
  }

  goto(target: Label): void {
    this.jump(BPF_JA, 0, target, target);
  }

  /** A conditional jump on the accumulator against `k`; NEXT falls through. */
  jump(code: number, k: number, jt: Label, jf: Label): void {
    const next = jt === NEXT || jf === NEXT ? this.label() : undefined;
    const resolve = (l: Label) => (l === NEXT ? (next as Label) : l);
    this.items.push({ kind: "jump", code, k, jt: resolve(jt), jf: resolve(jf) });
    if (next !== undefined) this.place(next);
  }
}

export interface Instruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

type Jump = Extract<Item, { kind: "jump" }>;

/** Resolves the labels; far conditional targets get trampolines until every offset fits. */
export function assemble(asm: Assembly): Instruction[] {
  const code = asm.items.filter((i) => i.kind !== "label");
  const far = code.map(() => ({ jt: false, jf: false }));
  let layout = lay(asm.items, far);
  for (let changed = true; changed; ) {
    changed = false;
    code.forEach((item, i) => {
      if (item.kind !== "jump" || item.code === BPF_JA) return;
      const from = (layout.at[i] as number) + 1;
      for (const side of ["jt", "jf"] as const) {
        if (!far[i]![side] && target(layout, item[side]) - from > MAX_COND_JUMP) {
          far[i]![side] = true;
          changed = true;
        }
      }
    });
    if (changed) layout = lay(asm.items, far);
  }
  const out: Instruction[] = [];
  code.forEach((item, i) => {
    if (item.kind === "stmt") {
      out.push({ code: item.code, jt: 0, jf: 0, k: item.k });
      return;
    }
    const from = (layout.at[i] as number) + 1;
    if (item.code === BPF_JA) {
      out.push({ code: BPF_JA, jt: 0, jf: 0, k: offset(layout, item.jt, from) });
      return;
    }
    const { jt: farT, jf: farF } = far[i]!;
    const jt = farT ? 0 : offset(layout, item.jt, from);
    const jf = farF ? (farT ? 1 : 0) : offset(layout, item.jf, from);
    out.push({ code: item.code, jt, jf, k: item.k });
    if (farT) out.push(trampoline(layout, code, item, "jt", out.length));
    if (farF) out.push(trampoline(layout, code, item, "jf", out.length));
  });
  return out;
}

interface Layout {
  /** Position of each code item (labels excluded). */
  at: number[];
  labels: Map<Label, number>;
  /** Index into the code items of the instruction a label stands before. */
  labelItem: Map<Label, number>;
}

function lay(items: Item[], far: { jt: boolean; jf: boolean }[]): Layout {
  const at: number[] = [];
  const labels = new Map<Label, number>();
  const labelItem = new Map<Label, number>();
  let pc = 0;
  for (const item of items) {
    if (item.kind === "label") {
      labels.set(item.label, pc);
      labelItem.set(item.label, at.length);
      continue;
    }
    const f = far[at.length]!;
    at.push(pc);
    pc += 1 + (f.jt ? 1 : 0) + (f.jf ? 1 : 0);
  }
  return { at, labels, labelItem };
}

function target(layout: Layout, label: Label): number {
  const pc = layout.labels.get(label);
  if (pc === undefined) throw new Error(`bpf: label ${label} is never placed`);
  return pc;
}

function offset(layout: Layout, label: Label, from: number): number {
  const distance = target(layout, label) - from;
  if (distance < 0) throw new Error(`bpf: label ${label} is behind its jump (BPF only jumps forward)`);
  return distance;
}

/** The instruction that carries a far jump on: the target itself if it returns, else a BPF_JA. */
function trampoline(layout: Layout, code: Item[], jump: Jump, side: "jt" | "jf", pc: number): Instruction {
  const dest = code[layout.labelItem.get(jump[side]) as number];
  if (dest?.kind === "stmt" && dest.code === BPF_RET_K) return { code: BPF_RET_K, jt: 0, jf: 0, k: dest.k };
  return { code: BPF_JA, jt: 0, jf: 0, k: offset(layout, jump[side], pc + 1) };
}

/**
 * `struct sock_filter[]` as the kernel reads it: u16 code, u8 jt, u8 jf, u32 k in host byte order,
 * which is little-endian on every architecture Berth supports.
 */
export function encode(program: Instruction[]): Buffer {
  const out = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(insn.jt, i * 8 + 2);
    out.writeUInt8(insn.jf, i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}
