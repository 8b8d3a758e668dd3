/**
 * Device rules → an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE: how cgroup v2 restricts
 * device access (v1 had devices.allow/deny files). The program reads struct bpf_cgroup_dev_ctx
 * { u32 access_type (access << 16 | type); u32 major; u32 minor } and returns 1 (allow) or 0.
 *
 * Semantics are v1's: rules apply in order, a rule for every device ("a", no major/minor, all
 * access) resets the default, later rules win over earlier ones. So the program checks the
 * rules after the last reset from the last one back, and falls through to the default.
 */
import { InvalidArgument } from "../../errors.js";
import type { LinuxDeviceCgroup } from "../../oci/runtime-spec.js";

const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC = { m: 1, r: 2, w: 4 } as const;

/** One eBPF instruction (struct bpf_insn). */
interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const ldxw = (dst: number, src: number, off: number): Insn => ({ code: 0x61, dst, src, off, imm: 0 }); // BPF_LDX|BPF_MEM|BPF_W
const and32 = (dst: number, imm: number): Insn => ({ code: 0x54, dst, src: 0, off: 0, imm }); // BPF_ALU|BPF_AND|BPF_K
const rsh32 = (dst: number, imm: number): Insn => ({ code: 0x74, dst, src: 0, off: 0, imm }); // BPF_ALU|BPF_RSH|BPF_K
const mov64 = (dst: number, imm: number): Insn => ({ code: 0xb7, dst, src: 0, off: 0, imm }); // BPF_ALU64|BPF_MOV|BPF_K
const movReg = (dst: number, src: number): Insn => ({ code: 0xbc, dst, src, off: 0, imm: 0 }); // BPF_ALU|BPF_MOV|BPF_X
const jne = (dst: number, imm: number, off: number): Insn => ({ code: 0x55, dst, src: 0, off, imm }); // BPF_JMP|BPF_JNE|BPF_K
const jeq = (dst: number, imm: number, off: number): Insn => ({ code: 0x15, dst, src: 0, off, imm }); // BPF_JMP|BPF_JEQ|BPF_K
const exit = (): Insn => ({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }); // BPF_JMP|BPF_EXIT

function accessMask(access: string | undefined, where: string): number {
  let mask = 0;
  for (const c of access ?? "rwm") {
    const bit = ACC[c as keyof typeof ACC];
    if (!bit) throw new InvalidArgument(`${where}.access: "${access}" may only hold r, w and m`);
    mask |= bit;
  }
  return mask;
}

const wildcard = (v: number | null | undefined) => v === undefined || v === null || v === -1;

function isReset(rule: LinuxDeviceCgroup): boolean {
  return (
    (rule.type ?? "a") === "a" &&
    wildcard(rule.major) &&
    wildcard(rule.minor) &&
    accessMask(rule.access, "rule") === 7
  );
}

/** The checks for one rule; jumps past itself (to the next rule) when it does not match. */
function ruleBlock(rule: LinuxDeviceCgroup, where: string): Insn[] {
  const type = rule.type ?? "a";
  if (type !== "a" && type !== "b" && type !== "c")
    throw new InvalidArgument(`${where}.type: "${type}" is not a, b or c`);
  const access = accessMask(rule.access, where);
  const tests: ((skip: number) => Insn[])[] = [];
  if (type !== "a") tests.push((skip) => [jne(2, type === "b" ? DEV_BLOCK : DEV_CHAR, skip)]);
  if (!wildcard(rule.major)) tests.push((skip) => [jne(4, rule.major!, skip)]);
  if (!wildcard(rule.minor)) tests.push((skip) => [jne(5, rule.minor!, skip)]);
  // Allow: only when every requested access is in the rule. Deny: when any requested one is.
  const accessTest: Insn[] = rule.allow
    ? [movReg(1, 3), and32(1, ~access & 7), jne(1, 0, 2)]
    : [movReg(1, 3), and32(1, access), jeq(1, 0, 2)];
  const verdict = [mov64(0, rule.allow ? 1 : 0), exit()];
  // Lay out backwards so each jump knows how far the end of the block is.
  let tail: Insn[] = [...accessTest, ...verdict];
  for (const test of tests.reverse()) tail = [...test(tail.length), ...tail];
  return tail;
}

export function compileDeviceFilter(
  rules: readonly LinuxDeviceCgroup[],
  where = "linux.resources.devices",
): Buffer {
  let start = 0;
  let defaultAllow = true; // v1's root cgroup allows everything until told otherwise
  rules.forEach((rule, i) => {
    if (isReset(rule)) {
      start = i + 1;
      defaultAllow = rule.allow;
    }
  });
  const insns: Insn[] = [
    ldxw(2, 1, 0),
    and32(2, 0xffff), // r2 = type
    ldxw(3, 1, 0),
    rsh32(3, 16), // r3 = requested access
    ldxw(4, 1, 4), // r4 = major
    ldxw(5, 1, 8), // r5 = minor
  ];
  for (let i = rules.length - 1; i >= start; i--) insns.push(...ruleBlock(rules[i]!, `${where}[${i}]`));
  insns.push(mov64(0, defaultAllow ? 1 : 0), exit());
  const out = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    out.writeUInt8(insn.code, i * 8);
    out.writeUInt8((insn.src << 4) | insn.dst, i * 8 + 1);
    out.writeInt16LE(insn.off, i * 8 + 2);
    out.writeInt32LE(insn.imm, i * 8 + 4);
  });
  return out;
}
