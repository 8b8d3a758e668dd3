import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Assembly,
  assemble,
  BPF_JA,
  BPF_JEQ_K,
  BPF_JGE_K,
  BPF_LD_W_ABS,
  BPF_RET_K,
  encode,
  NEXT,
} from "../../../src/runtime/seccomp/bpf.js";
import { checkFilter, runFilter } from "../../helpers/bpf-interpreter.js";

const run = (asm: Assembly, nr: number) => {
  const program = encode(assemble(asm));
  checkFilter(program);
  return runFilter(program, { nr, arch: 0 }).ret;
};

test("the bytes are struct sock_filter: u16 code, u8 jt, u8 jf, u32 k, little-endian", () => {
  const bytes = encode([
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 4 },
    { code: BPF_JEQ_K, jt: 1, jf: 2, k: 0xc000003e },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 0x7fff0000 },
  ]);
  assert.equal(bytes.toString("hex"), "2000000004000000" + "150001023e0000c0" + "060000000000ff7f");
});

test("labels resolve to forward offsets and NEXT falls through", () => {
  const asm = new Assembly();
  const yes = asm.label();
  const no = asm.label();
  asm.load(0);
  asm.jump(BPF_JEQ_K, 7, NEXT, no);
  asm.jump(BPF_JGE_K, 0, yes, no);
  asm.place(no);
  asm.ret(1);
  asm.place(yes);
  asm.ret(2);
  assert.deepEqual(assemble(asm), [
    { code: BPF_LD_W_ABS, jt: 0, jf: 0, k: 0 },
    { code: BPF_JEQ_K, jt: 0, jf: 1, k: 7 },
    { code: BPF_JGE_K, jt: 1, jf: 0, k: 0 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 1 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 2 },
  ]);
  assert.equal(run(asm, 7), 2);
  assert.equal(run(asm, 8), 1);
});

test("a conditional jump beyond 255 instructions goes through a BPF_JA trampoline", () => {
  const asm = new Assembly();
  const far = asm.label();
  asm.load(0);
  asm.jump(BPF_JEQ_K, 1, far, NEXT);
  for (let i = 0; i < 300; i++) asm.and(0xffffffff);
  asm.ret(10);
  asm.place(far);
  asm.load(0); // not a return: the trampoline must be a jump
  asm.ret(20);
  const program = assemble(asm);
  assert.deepEqual(program[1], { code: BPF_JEQ_K, jt: 0, jf: 1, k: 1 });
  assert.equal(program[2]!.code, BPF_JA);
  assert.equal(run(asm, 1), 20);
  assert.equal(run(asm, 2), 10);
});

test("a far jump to a return becomes a copy of the return", () => {
  const asm = new Assembly();
  const allow = asm.label();
  const deny = asm.label();
  asm.load(0);
  asm.jump(BPF_JEQ_K, 1, allow, deny);
  for (let i = 0; i < 300; i++) asm.and(0xffffffff);
  asm.place(allow);
  asm.ret(30);
  asm.place(deny);
  asm.ret(40);
  const program = assemble(asm);
  assert.deepEqual(program.slice(1, 4), [
    { code: BPF_JEQ_K, jt: 0, jf: 1, k: 1 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 30 },
    { code: BPF_RET_K, jt: 0, jf: 0, k: 40 },
  ]);
  assert.equal(run(asm, 1), 30);
  assert.equal(run(asm, 0), 40);
});

test("trampolines that push other jumps out of range are relaxed until all fit", () => {
  // 200 jumps all to the same far target: each trampoline lengthens the jumps before it.
  const asm = new Assembly();
  const target = asm.label();
  asm.load(0);
  for (let i = 0; i < 200; i++) asm.jump(BPF_JEQ_K, i, target, NEXT);
  for (let i = 0; i < 100; i++) asm.and(0xffffffff);
  asm.ret(1);
  asm.place(target);
  asm.load(0);
  asm.ret(2);
  for (let i = 0; i < 200; i += 37) assert.equal(run(asm, i), 2);
  assert.equal(run(asm, 500), 1);
});

test("a label behind its jump or never placed is a bug, not a program", () => {
  const back = new Assembly();
  const top = back.label();
  back.place(top);
  back.load(0);
  back.jump(BPF_JEQ_K, 0, top, NEXT);
  back.ret(0);
  assert.throws(() => assemble(back), /behind its jump/);
  const lost = new Assembly();
  lost.goto(lost.label());
  assert.throws(() => assemble(lost), /never placed/);
});
