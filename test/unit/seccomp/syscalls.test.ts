import assert from "node:assert/strict";
import { test } from "node:test";
import { AARCH64 } from "../../../src/runtime/seccomp/syscalls/aarch64.js";
import { ARM } from "../../../src/runtime/seccomp/syscalls/arm.js";
import { OTHER_ARCHES_ONLY } from "../../../src/runtime/seccomp/syscalls/other-arches.js";
import { X32 } from "../../../src/runtime/seccomp/syscalls/x32.js";
import { X86 } from "../../../src/runtime/seccomp/syscalls/x86.js";
import { X86_64 } from "../../../src/runtime/seccomp/syscalls/x86_64.js";

const X32_BIT = 0x40000000;

test("x86_64 numbers match the kernel's table", () => {
  assert.deepEqual(
    [
      X86_64.read,
      X86_64.write,
      X86_64.clone,
      X86_64.mkdir,
      X86_64.kexec_load,
      X86_64.openat2,
      X86_64.fchmodat2,
    ],
    [0, 1, 56, 83, 246, 437, 452],
  );
});

test("i386 numbers are its own, with socketcall and the direct socket calls", () => {
  assert.deepEqual([X86.mkdir, X86.clone, X86.socketcall, X86.socket, X86.clone3], [39, 120, 102, 359, 435]);
  assert.equal(X86.newfstatat, undefined);
});

test("x32 numbers carry __X32_SYSCALL_BIT, with x32's own entry points from 512", () => {
  for (const [name, nr] of Object.entries(X32)) assert.ok(nr >= X32_BIT && nr < X32_BIT + 1024, name);
  assert.equal(X32.mkdir, X32_BIT | 83);
  assert.equal(X32.rt_sigaction, X32_BIT | 512);
  assert.equal(X32.execve, X32_BIT | 520);
});

test("aarch64 has the generic table: *at syscalls only, with arm64's optional ones", () => {
  assert.equal(AARCH64.mkdir, undefined);
  assert.equal(AARCH64.open, undefined);
  assert.deepEqual(
    [
      AARCH64.mkdirat,
      AARCH64.openat,
      AARCH64.clone,
      AARCH64.renameat,
      AARCH64.getrlimit,
      AARCH64.memfd_secret,
    ],
    [34, 56, 220, 38, 163, 447],
  );
  assert.deepEqual([AARCH64.fstat, AARCH64.newfstatat, AARCH64.sync_file_range], [80, 79, 84]);
});

test("arm is the EABI table with arm's private syscalls at 0xf0000", () => {
  assert.deepEqual([ARM.mkdir, ARM.clone, ARM.socket, ARM.cachestat], [39, 120, 281, 451]);
  assert.equal(ARM.socketcall, undefined); // OABI only
  assert.deepEqual([ARM.breakpoint, ARM.cacheflush, ARM.set_tls], [0xf0001, 0xf0002, 0xf0005]);
});

test("no table gives two syscalls one number, and other architectures' names are not in them", () => {
  for (const [arch, table] of Object.entries({ X86_64, X86, X32, AARCH64, ARM })) {
    const numbers = Object.values(table);
    assert.equal(new Set(numbers).size, numbers.length, arch);
    for (const name of OTHER_ARCHES_ONLY) assert.equal(table[name], undefined, `${arch} ${name}`);
  }
  assert.ok(OTHER_ARCHES_ONLY.has("s390_runtime_instr"));
});
