/**
 * A classic BPF interpreter for seccomp filters, for tests: the checks the kernel makes when a
 * filter is loaded (bpf_check_classic + seccomp_check_filter), and a run of the program on a
 * struct seccomp_data the way the kernel's interpreter would, returning the SECCOMP_RET_* value.
 */

export interface SeccompData {
  nr: number;
  /** AUDIT_ARCH_* */
  arch: number;
  instructionPointer?: bigint;
  /** Up to six 64-bit arguments; negative numbers are taken in two's complement. */
  args?: (bigint | number)[];
}

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const SECCOMP_DATA_SIZE = 64;
const BPF_MAXINSNS = 4096;
const BPF_MEMWORDS = 16;

// Instruction classes and fields (<linux/bpf_common.h>).
const cls = (code: number) => code & 0x07;
const size = (code: number) => code & 0x18;
const mode = (code: number) => code & 0xe0;
const op = (code: number) => code & 0xf0;
const src = (code: number) => code & 0x08;
const LD = 0x00;
const LDX = 0x01;
const ST = 0x02;
const STX = 0x03;
const ALU = 0x04;
const JMP = 0x05;
const RET = 0x06;
const MISC = 0x07;
const W = 0x00;
const IMM = 0x00;
const ABS = 0x20;
const MEM = 0x60;
const LEN = 0x80;
const X = 0x08;

export function decode(program: Buffer): Insn[] {
  if (program.length % 8) throw new Error(`program of ${program.length} bytes is not whole instructions`);
  const out: Insn[] = [];
  for (let i = 0; i < program.length; i += 8)
    out.push({
      code: program.readUInt16LE(i),
      jt: program.readUInt8(i + 2),
      jf: program.readUInt8(i + 3),
      k: program.readUInt32LE(i + 4),
    });
  return out;
}

/** Throws what the kernel would answer EINVAL for when the filter is loaded. */
export function checkFilter(program: Buffer): void {
  const insns = decode(program);
  if (insns.length === 0 || insns.length > BPF_MAXINSNS)
    throw new Error(`filter length ${insns.length} is outside 1..${BPF_MAXINSNS}`);
  insns.forEach((insn, pc) => {
    const { code, k } = insn;
    const where = `instruction ${pc} (code 0x${code.toString(16)})`;
    switch (cls(code)) {
      case LD:
        if (code === (LD | W | ABS)) {
          if (k >= SECCOMP_DATA_SIZE || k & 3) throw new Error(`${where}: load of seccomp_data offset ${k}`);
        } else if (code !== (LD | W | LEN) && code !== (LD | IMM) && code !== (LD | MEM))
          throw new Error(`${where}: load mode not allowed in seccomp`);
        if (code === (LD | MEM) && k >= BPF_MEMWORDS) throw new Error(`${where}: scratch word ${k}`);
        break;
      case LDX:
        if (code !== (LDX | W | LEN) && code !== (LDX | IMM) && code !== (LDX | MEM))
          throw new Error(`${where}: load mode not allowed in seccomp`);
        break;
      case ST:
      case STX:
        if (k >= BPF_MEMWORDS) throw new Error(`${where}: scratch word ${k}`);
        break;
      case ALU:
        if (op(code) > 0xa0) throw new Error(`${where}: unknown ALU op`);
        if ((op(code) === 0x30 || op(code) === 0x90) && !src(code) && k === 0)
          throw new Error(`${where}: division by zero`);
        break;
      case JMP: {
        if (op(code) > 0x40) throw new Error(`${where}: unknown jump`);
        const targets = op(code) === 0 ? [pc + 1 + k] : [pc + 1 + insn.jt, pc + 1 + insn.jf];
        for (const t of targets)
          if (t >= insns.length) throw new Error(`${where}: jump past the end to ${t}`);
        break;
      }
      case RET:
        if (code !== (RET | 0x00) && code !== (RET | 0x10)) throw new Error(`${where}: unknown return`);
        break;
      case MISC:
        if (code !== 0x07 && code !== 0x87) throw new Error(`${where}: unknown misc op`);
        break;
    }
  });
  const last = insns.at(-1)!;
  if (cls(last.code) !== RET) throw new Error("the last instruction is not a return");
}

export function seccompDataBytes(data: SeccompData): Buffer {
  const buf = Buffer.alloc(SECCOMP_DATA_SIZE);
  buf.writeUInt32LE(data.nr >>> 0, 0);
  buf.writeUInt32LE(data.arch >>> 0, 4);
  buf.writeBigUInt64LE(data.instructionPointer ?? 0n, 8);
  (data.args ?? []).forEach((arg, i) => {
    buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(arg)), 16 + 8 * i);
  });
  return buf;
}

export interface FilterRun {
  /** The SECCOMP_RET_* value. */
  ret: number;
  /** Instructions executed. */
  steps: number;
}

/** Runs a filter on one syscall. Assumes checkFilter passed. */
export function runFilter(program: Buffer, data: SeccompData): FilterRun {
  const insns = decode(program);
  const bytes = seccompDataBytes(data);
  const mem = new Array<number>(BPF_MEMWORDS).fill(0);
  let a = 0;
  let x = 0;
  let pc = 0;
  for (let steps = 1; ; steps++) {
    const insn = insns[pc];
    if (!insn) throw new Error(`ran off the end of the program at ${pc}`);
    const { code, k } = insn;
    pc++;
    switch (cls(code)) {
      case LD:
        if (mode(code) === ABS && size(code) === W) a = bytes.readUInt32LE(k);
        else if (mode(code) === LEN) a = SECCOMP_DATA_SIZE;
        else if (mode(code) === IMM) a = k;
        else if (mode(code) === MEM) a = mem[k]!;
        else throw new Error(`unsupported load 0x${code.toString(16)}`);
        break;
      case LDX:
        x = mode(code) === LEN ? SECCOMP_DATA_SIZE : mode(code) === MEM ? mem[k]! : k;
        break;
      case ST:
        mem[k] = a;
        break;
      case STX:
        mem[k] = x;
        break;
      case ALU:
        a = alu(op(code), a, src(code) === X ? x : k);
        break;
      case JMP: {
        if (op(code) === 0) {
          pc += k;
          break;
        }
        const operand = src(code) === X ? x : k;
        pc += jumpTaken(op(code), a, operand) ? insn.jt : insn.jf;
        break;
      }
      case RET:
        return { ret: (src(code) === 0x10 ? a : k) >>> 0, steps };
      case MISC:
        if (code === 0x07) x = a;
        else a = x;
        break;
    }
  }
}

function alu(operation: number, a: number, b: number): number {
  switch (operation) {
    case 0x00:
      return (a + b) >>> 0;
    case 0x10:
      return (a - b) >>> 0;
    case 0x20:
      return Number((BigInt(a) * BigInt(b)) & 0xffffffffn);
    case 0x30:
      return b === 0 ? 0 : Math.floor(a / b) >>> 0;
    case 0x40:
      return (a | b) >>> 0;
    case 0x50:
      return (a & b) >>> 0;
    case 0x60:
      return b >= 32 ? 0 : (a << b) >>> 0;
    case 0x70:
      return b >= 32 ? 0 : a >>> b;
    case 0x80:
      return -a >>> 0;
    case 0x90:
      return b === 0 ? 0 : (a % b) >>> 0;
    case 0xa0:
      return (a ^ b) >>> 0;
    default:
      throw new Error(`unknown ALU op 0x${operation.toString(16)}`);
  }
}

function jumpTaken(operation: number, a: number, b: number): boolean {
  switch (operation) {
    case 0x10:
      return a === b;
    case 0x20:
      return a > b;
    case 0x30:
      return a >= b;
    case 0x40:
      return (a & b) !== 0;
    default:
      throw new Error(`unknown jump 0x${operation.toString(16)}`);
  }
}

/** A SECCOMP_RET_* value in words: "allow", "errno 1", "kill_thread", "trace 5"… */
export function describeRet(ret: number): string {
  const data = ret & 0xffff;
  switch ((ret & 0xffff0000) >>> 0) {
    case 0x80000000:
      return "kill_process";
    case 0x00000000:
      return "kill_thread";
    case 0x00030000:
      return "trap";
    case 0x00050000:
      return `errno ${data}`;
    case 0x7fc00000:
      return "notify";
    case 0x7ff00000:
      return `trace ${data}`;
    case 0x7ffc0000:
      return "log";
    case 0x7fff0000:
      return "allow";
    default:
      return `unknown 0x${ret.toString(16)}`;
  }
}
