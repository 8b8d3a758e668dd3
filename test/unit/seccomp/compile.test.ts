import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgument } from "../../../src/errors.js";
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from "../../../src/oci/runtime-spec.js";
import { seccompArchName } from "../../../src/oci/seccomp-arch.js";
import { AUDIT_ARCH_X86_64, SECCOMP_ARCHES, X32_SYSCALL_BIT } from "../../../src/runtime/seccomp/arch.js";
import { compileSeccomp } from "../../../src/runtime/seccomp/compile.js";
import { UnsupportedSeccompFeature } from "../../../src/runtime/seccomp/profile.js";
import { describeRet, runFilter } from "../../helpers/bpf-interpreter.js";
import { compileFilter } from "../../helpers/seccomp.js";

const X86_64 = "SCMP_ARCH_X86_64";
const X86 = "SCMP_ARCH_X86";
const X32 = "SCMP_ARCH_X32";
const AARCH64 = "SCMP_ARCH_AARCH64";
const ARM = "SCMP_ARCH_ARM";

function profile(syscalls: LinuxSyscall[], extra: Partial<LinuxSeccomp> = {}): LinuxSeccomp {
  return { defaultAction: "SCMP_ACT_ERRNO", syscalls, ...extra };
}

const allow = (names: string[], args?: LinuxSeccompArg[]): LinuxSyscall => ({
  names,
  action: "SCMP_ACT_ALLOW",
  ...(args && { args }),
});

test("every action returns its SECCOMP_RET_* value, errno and trace data included", () => {
  const f = compileFilter(
    profile(
      [
        allow(["read"]),
        { names: ["getpid"], action: "SCMP_ACT_KILL" },
        { names: ["gettid"], action: "SCMP_ACT_KILL_THREAD" },
        { names: ["getppid"], action: "SCMP_ACT_KILL_PROCESS" },
        { names: ["getuid"], action: "SCMP_ACT_TRAP" },
        { names: ["getgid"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
        { names: ["geteuid"], action: "SCMP_ACT_ERRNO" },
        { names: ["getegid"], action: "SCMP_ACT_TRACE", errnoRet: 7 },
        { names: ["getpgrp"], action: "SCMP_ACT_TRACE" },
        { names: ["setsid"], action: "SCMP_ACT_LOG" },
      ],
      { defaultErrnoRet: 99 },
    ),
  );
  const expected: Record<string, string> = {
    read: "allow",
    getpid: "kill_thread", // SCMP_ACT_KILL is libseccomp's old name for killing the thread
    gettid: "kill_thread",
    getppid: "kill_process",
    getuid: "trap",
    getgid: "errno 13",
    geteuid: "errno 1", // a rule's errno defaults to EPERM, not to defaultErrnoRet
    getegid: "trace 7",
    getpgrp: "trace 1",
    setsid: "log",
    write: "errno 99",
  };
  for (const [name, verdict] of Object.entries(expected))
    assert.equal(f.verdict(X86_64, name), verdict, name);
});

test("the default errno is EPERM unless defaultErrnoRet says otherwise", () => {
  assert.equal(compileFilter(profile([allow(["mkdir"])])).verdict(X86_64, "read"), "errno 1");
  assert.equal(
    compileFilter({ defaultAction: "SCMP_ACT_KILL_PROCESS", syscalls: [allow(["mkdir"])] }).verdict(
      X86_64,
      "read",
    ),
    "kill_process",
  );
  assert.equal(compileFilter({ defaultAction: "SCMP_ACT_ALLOW" }).verdict(X86_64, "mount"), "allow");
});

test("notify agents are refused as not supported, naming the field", () => {
  const notify = () => compileSeccomp(profile([{ names: ["read"], action: "SCMP_ACT_NOTIFY" }]));
  assert.throws(
    notify,
    (e: unknown) => e instanceof UnsupportedSeccompFeature && e instanceof InvalidArgument,
  );
  assert.throws(
    notify,
    /^UnsupportedSeccompFeature: linux\.seccomp\.syscalls\[0\]\.action: SCMP_ACT_NOTIFY is not supported/,
  );
  assert.throws(
    () => compileSeccomp(profile([], { listenerPath: "/run/agent.sock" })),
    /linux\.seccomp\.listenerPath: seccomp notify agents are not supported/,
  );
  assert.throws(() => compileSeccomp({ defaultAction: "SCMP_ACT_NOTIFY" }), UnsupportedSeccompFeature);
});

test("flags become SECCOMP_FILTER_FLAG_* bits; none given means SPEC_ALLOW, as runc does", () => {
  const flags = (f?: string[]) => compileSeccomp(profile([], f ? { flags: f } : {})).flags;
  assert.equal(flags(), 4);
  assert.equal(flags([]), 0);
  assert.equal(flags(["SECCOMP_FILTER_FLAG_TSYNC"]), 1);
  assert.equal(flags(["SECCOMP_FILTER_FLAG_LOG"]), 2);
  assert.equal(
    flags(["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
    7,
  );
  assert.throws(
    () => flags(["SECCOMP_FILTER_FLAG_NOPE"]),
    /linux\.seccomp\.flags\[0\]: unknown flag "SECCOMP_FILTER_FLAG_NOPE"/,
  );
  assert.throws(() => flags(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]), UnsupportedSeccompFeature);
});

// Operands and arguments around the 32-bit boundary, and negative numbers as 64-bit values.
const VALUES = [0n, 5n, 0xffffffffn, 0x100000000n, 0x100000005n, -2n, -1n];
const ARGS = [
  0n,
  4n,
  5n,
  6n,
  0xffffffffn,
  0x100000000n,
  0x100000004n,
  0x100000005n,
  0x100000006n,
  0x500000005n,
  0x8000000000000000n,
  -3n,
  -2n,
  -1n,
];
const u64 = (v: bigint) => BigInt.asUintN(64, v);
const OPS: Record<string, (arg: bigint, value: bigint) => boolean> = {
  SCMP_CMP_EQ: (a, v) => u64(a) === u64(v),
  SCMP_CMP_NE: (a, v) => u64(a) !== u64(v),
  SCMP_CMP_LT: (a, v) => u64(a) < u64(v),
  SCMP_CMP_LE: (a, v) => u64(a) <= u64(v),
  SCMP_CMP_GT: (a, v) => u64(a) > u64(v),
  SCMP_CMP_GE: (a, v) => u64(a) >= u64(v),
};

test("every comparison orders 64-bit arguments as unsigned numbers, high word first", () => {
  for (const [op, holds] of Object.entries(OPS)) {
    for (const value of VALUES) {
      const f = compileFilter(profile([allow(["read"], [{ index: 2, op, value }])]));
      for (const arg of ARGS) {
        const expected = holds(arg, value) ? "allow" : "errno 1";
        assert.equal(f.verdict(X86_64, "read", [0, 0, arg]), expected, `${arg} ${op} ${value}`);
      }
    }
  }
});

test("SCMP_CMP_MASKED_EQ compares (arg & value) with valueTwo, in both words", () => {
  const cases: [bigint, bigint][] = [
    [0x7e020000n, 0n],
    [0xffn, 0x11n],
    [0xff00000000n, 0x1200000000n],
    [0xffff0000ffffn, 0x12340000abcdn],
    [-1n, -2n],
  ];
  for (const [mask, datum] of cases) {
    const f = compileFilter(
      profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_MASKED_EQ", value: mask, valueTwo: datum }])]),
    );
    for (const arg of [
      ...ARGS,
      0x11n,
      0x211n,
      0x1200000000n,
      0x12340000abcdn,
      0x10000000n,
      0x12ff0000abcdn,
    ]) {
      const expected = (u64(arg) & u64(mask)) === (u64(datum) & u64(mask)) ? "allow" : "errno 1";
      assert.equal(f.verdict(X86_64, "read", [arg]), expected, `${arg} & ${mask} == ${datum}`);
    }
  }
});

test("a 32-bit ABI compares the low word only, as libseccomp does", () => {
  for (const [op, holds] of Object.entries(OPS)) {
    for (const value of VALUES) {
      const f = compileFilter(
        profile([allow(["read"], [{ index: 0, op, value }])], { architectures: [X86] }),
      );
      for (const arg of [0n, 4n, 5n, 6n, 0xfffffffdn, 0xfffffffen, 0xffffffffn]) {
        const expected = holds(arg, u64(value) & 0xffffffffn) ? "allow" : "errno 1";
        assert.equal(f.verdict(X86, "read", [arg]), expected, `x86: ${arg} ${op} ${value}`);
      }
    }
  }
});

test("negative values may be numbers or bigints and mean the same 64-bit value", () => {
  for (const value of [-1, -1n, 0xffffffffffffffffn]) {
    const f = compileFilter(profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value }])]));
    assert.equal(f.verdict(X86_64, "read", [-1n]), "allow");
    assert.equal(f.verdict(X86_64, "read", [0xffffffffn]), "errno 1");
  }
});

test("conditions on different arguments of one rule must all hold (AND)", () => {
  const f = compileFilter(
    profile([
      allow(
        ["read"],
        [
          { index: 0, op: "SCMP_CMP_EQ", value: 1 },
          { index: 1, op: "SCMP_CMP_GT", value: 10 },
          { index: 5, op: "SCMP_CMP_MASKED_EQ", value: 1, valueTwo: 1 },
        ],
      ),
    ]),
  );
  assert.equal(f.verdict(X86_64, "read", [1, 11, 0, 0, 0, 3]), "allow");
  assert.equal(f.verdict(X86_64, "read", [2, 11, 0, 0, 0, 3]), "errno 1");
  assert.equal(f.verdict(X86_64, "read", [1, 10, 0, 0, 0, 3]), "errno 1");
  assert.equal(f.verdict(X86_64, "read", [1, 11, 0, 0, 0, 2]), "errno 1");
});

test("rules for the same syscall are alternatives (OR)", () => {
  const f = compileFilter(
    profile([
      allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: 1 }]),
      allow(["read", "write"], [{ index: 1, op: "SCMP_CMP_EQ", value: 2 }]),
    ]),
  );
  assert.equal(f.verdict(X86_64, "read", [1, 0]), "allow");
  assert.equal(f.verdict(X86_64, "read", [0, 2]), "allow");
  assert.equal(f.verdict(X86_64, "read", [0, 0]), "errno 1");
  assert.equal(f.verdict(X86_64, "write", [1, 0]), "errno 1");
  assert.equal(f.verdict(X86_64, "write", [1, 2]), "allow");
});

test("two conditions on the same argument are alternatives, as runc and crun make them", () => {
  const f = compileFilter(
    profile([
      allow(
        ["read"],
        [
          { index: 0, op: "SCMP_CMP_EQ", value: 1 },
          { index: 0, op: "SCMP_CMP_EQ", value: 2 },
        ],
      ),
    ]),
  );
  assert.equal(f.verdict(X86_64, "read", [1]), "allow");
  assert.equal(f.verdict(X86_64, "read", [2]), "allow");
  assert.equal(f.verdict(X86_64, "read", [3]), "errno 1");
});

test("an unconditional rule decides alone and the first one wins, as in libseccomp", () => {
  const errno = (errnoRet: number, args?: LinuxSeccompArg[]): LinuxSyscall => ({
    names: ["read"],
    action: "SCMP_ACT_ERRNO",
    errnoRet,
    ...(args && { args }),
  });
  const cond = [{ index: 0, op: "SCMP_CMP_EQ", value: 1 }];
  assert.equal(
    compileFilter(profile([errno(5, cond), allow(["read"])])).verdict(X86_64, "read", [1]),
    "allow",
  );
  assert.equal(
    compileFilter(profile([allow(["read"]), errno(5, cond)])).verdict(X86_64, "read", [1]),
    "allow",
  );
  assert.equal(compileFilter(profile([errno(5), allow(["read"])])).verdict(X86_64, "read", [1]), "errno 5");
});

test("conditional rules are tried in profile order: the first that holds decides", () => {
  const f = compileFilter(
    profile([
      {
        names: ["read"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 5,
        args: [{ index: 0, op: "SCMP_CMP_GE", value: 2 }],
      },
      {
        names: ["read"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 6,
        args: [{ index: 0, op: "SCMP_CMP_EQ", value: 2 }],
      },
      allow(["read"], [{ index: 0, op: "SCMP_CMP_LT", value: 2 }]),
    ]),
  );
  assert.deepEqual(
    [0, 2, 3].map((a) => f.verdict(X86_64, "read", [a])),
    ["allow", "errno 5", "errno 5"],
  );
});

test("a rule with the default action is dropped, as runc does, and cannot shadow later rules", () => {
  const f = compileFilter({
    defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [
      allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: 1 }]),
      {
        names: ["read"],
        action: "SCMP_ACT_ERRNO",
        errnoRet: 5,
        args: [{ index: 0, op: "SCMP_CMP_GE", value: 0 }],
      },
    ],
  });
  assert.equal(f.verdict(X86_64, "read", [1]), "errno 5");
});

test("a syscall of an architecture the profile does not list kills the thread (libseccomp's bad-arch action)", () => {
  const f = compileFilter(profile([allow(["read", "mkdir"])]));
  assert.equal(f.verdict(X86_64, "mkdir"), "allow");
  assert.equal(f.verdict(X86, "mkdir"), "kill_thread");
  assert.equal(f.verdict(AARCH64, "mkdirat"), "kill_thread");
  // x32 shares AUDIT_ARCH_X86_64; its numbers carry __X32_SYSCALL_BIT.
  assert.equal(f.verdict(X32, "mkdir"), "kill_thread");
  // nr -1 is how a tracer skips a syscall; libseccomp gives it the default action, not a kill.
  assert.equal(describeRet(runFilter(f.program, { nr: -1, arch: AUDIT_ARCH_X86_64 }).ret), "errno 1");
});

test("listed architectures are filtered with their own syscall numbers", () => {
  const f = compileFilter(
    profile([allow(["mkdir", "arch_prctl", "newfstatat"])], { architectures: [X86_64, X86, X32] }),
  );
  assert.equal(f.verdict(X86, "mkdir"), "allow"); // 39 on i386, 83 on x86_64
  assert.equal(f.verdict(X86, 83), "errno 1"); // i386's 83 is symlink
  assert.equal(f.verdict(X32, "mkdir"), "allow"); // 0x40000053
  assert.equal(f.verdict(X32, "rmdir"), "errno 1");
  assert.equal(f.verdict(X86_64, "arch_prctl"), "allow");
  assert.equal(f.verdict(X32, "arch_prctl"), "allow");
  // x86 has no arch_prctl: the name is skipped there, not refused.
  assert.equal(f.verdict(X86_64, "newfstatat"), "allow");
  assert.equal(f.verdict(X86, "fstatat64"), "errno 1");
  // An x32 program may not call x86_64's 64-bit-only entry points without the x32 bit.
  assert.equal(f.verdict(X86_64, X32_SYSCALL_BIT + 13), "errno 1");
});

test("x32 alone is filtered on its own, and x86_64 numbers are then foreign", () => {
  const f = compileFilter(profile([allow(["mkdir"])], { architectures: [X32] }), X32);
  assert.equal(f.verdict(X32, "mkdir"), "allow");
  assert.equal(f.verdict(X86_64, "mkdir"), "kill_thread");
});

test("the native architecture is accepted even when the list leaves it out; arm runs under aarch64", () => {
  const f = compileFilter(
    profile([allow(["mkdirat", "mkdir", "set_tls"])], { architectures: [ARM] }),
    AARCH64,
  );
  assert.equal(f.verdict(AARCH64, "mkdirat"), "allow");
  assert.equal(f.verdict(AARCH64, "io_setup"), "errno 1");
  assert.equal(f.verdict(ARM, "mkdir"), "allow");
  assert.equal(f.verdict(ARM, "set_tls"), "allow"); // an ARM-private syscall, 0xf0005
  assert.equal(f.verdict(X86_64, "mkdir"), "kill_thread");
});

test("architectures the host cannot run are accepted and ignored", () => {
  const f = compileFilter(
    profile([allow(["read"])], { architectures: [X86_64, "SCMP_ARCH_S390X", "SCMP_ARCH_PPC64LE"] }),
  );
  assert.equal(f.verdict(X86_64, "read"), "allow");
});

test("unknown syscall names are skipped with a warning, like runc; other architectures' names silently", () => {
  const f = compileFilter(
    profile([allow(["read", "no_such_syscall", "s390_runtime_instr", "riscv_flush_icache"])]),
  );
  assert.deepEqual(f.warnings, [
    'linux.seccomp.syscalls[0].names[1]: unknown syscall "no_such_syscall" ignored',
  ]);
  assert.equal(f.verdict(X86_64, "read"), "allow");
  const none = compileFilter(profile([allow(["no_such_syscall"])]));
  assert.equal(none.verdict(X86_64, "read"), "errno 1");
});

test("syscalls newer than the profile get ENOSYS so that programs fall back (runc's patch)", () => {
  const f = compileFilter(profile([allow(["read", "openat2"])], { architectures: [X86_64, X86, X32] }));
  // openat2 (437) is the profile's highest: above it, ENOSYS; below it, the default.
  assert.equal(f.verdict(X86_64, 438), "errno 38");
  assert.equal(f.verdict(X86_64, 436), "errno 1");
  assert.equal(f.verdict(X86, 438), "errno 38");
  assert.equal(f.verdict(X32, X32_SYSCALL_BIT + 438), "errno 38");
  assert.equal(f.verdict(X32, X32_SYSCALL_BIT + 436), "errno 1");
  // The named syscalls count even when a rule skips them (here: its action is the default).
  const named = compileFilter(
    profile([allow(["read"]), { names: ["futex_waitv"], action: "SCMP_ACT_ERRNO" }]),
  );
  assert.equal(named.verdict(X86_64, "futex_waitv"), "errno 1");
  assert.equal(named.verdict(X86_64, 500), "errno 38");
  // Not when the default lets syscalls run, or already is ENOSYS.
  for (const defaultAction of ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]) {
    const open = compileFilter({ defaultAction, syscalls: [{ names: ["read"], action: "SCMP_ACT_KILL" }] });
    assert.notEqual(open.verdict(X86_64, 500), "errno 38", defaultAction);
  }
  // A killing default still gives ENOSYS above the profile.
  const kill = compileFilter({ defaultAction: "SCMP_ACT_KILL", syscalls: [allow(["write"])] });
  assert.equal(kill.verdict(X86_64, "read"), "kill_thread");
  assert.equal(kill.verdict(X86_64, 9), "errno 38");
});

test("invalid profiles are refused with the field that is wrong", () => {
  const bad: [LinuxSeccomp, RegExp][] = [
    [{ defaultAction: "" }, /^linux\.seccomp\.defaultAction: an action is required$/],
    [{ defaultAction: "SCMP_ACT_MAYBE" }, /^linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_MAYBE"$/],
    [
      { defaultAction: "SCMP_ACT_ALLOW", defaultErrnoRet: 1 },
      /^linux\.seccomp\.defaultErrnoRet: SCMP_ACT_ALLOW does not return an errno$/,
    ],
    [
      profile([{ names: ["read"], action: "SCMP_ACT_FOO" }]),
      /^linux\.seccomp\.syscalls\[0\]\.action: unknown action "SCMP_ACT_FOO"$/,
    ],
    [
      profile([{ names: [], action: "SCMP_ACT_ALLOW" }]),
      /^linux\.seccomp\.syscalls\[0\]\.names: must name at least one syscall$/,
    ],
    [
      profile([{ names: ["read", ""], action: "SCMP_ACT_ALLOW" }]),
      /^linux\.seccomp\.syscalls\[0\]\.names\[1\]: empty syscall name$/,
    ],
    [
      profile([{ names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: 4096 }]),
      /^linux\.seccomp\.syscalls\[0\]\.errnoRet: 4096 is out of range \(0 to 4095\)$/,
    ],
    [profile([{ names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: -1 }]), /errnoRet: -1 is out of range/],
    [
      profile([{ names: ["read"], action: "SCMP_ACT_TRACE", errnoRet: 65536 }]),
      /errnoRet: 65536 is out of range \(0 to 65535\)/,
    ],
    [
      profile([{ names: ["read"], action: "SCMP_ACT_KILL", errnoRet: 1 }]),
      /^linux\.seccomp\.syscalls\[0\]\.errnoRet: SCMP_ACT_KILL does not return an errno$/,
    ],
    [
      profile([
        allow(["read"]),
        allow(["read"]),
        allow(["read"]),
        allow(["read"], [{ index: 0, op: "SCMP_CMP_FOO", value: 1 }]),
      ]),
      /^linux\.seccomp\.syscalls\[3\]\.args\[0\]\.op: unknown operator "SCMP_CMP_FOO"$/,
    ],
    [
      profile([allow(["read"], [{ index: 6, op: "SCMP_CMP_EQ", value: 1 }])]),
      /^linux\.seccomp\.syscalls\[0\]\.args\[0\]\.index: 6 is not a syscall argument \(0 to 5\)$/,
    ],
    [
      profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: 1.5 }])]),
      /args\[0\]\.value: 1\.5 is not an exact integer/,
    ],
    [
      profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: 2 ** 64 }])]),
      /args\[0\]\.value: .* is not an exact integer/,
    ],
    [
      profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: 1n << 64n }])]),
      /args\[0\]\.value: .* does not fit in 64 bits/,
    ],
    [
      profile([allow(["read"], [{ index: 0, op: "SCMP_CMP_MASKED_EQ", value: 1, valueTwo: -(1n << 64n) }])]),
      /args\[0\]\.valueTwo: .* does not fit in 64 bits/,
    ],
    [
      profile([], { architectures: ["SCMP_ARCH_Z80"] }),
      /^linux\.seccomp\.architectures\[0\]: unknown architecture "SCMP_ARCH_Z80"$/,
    ],
  ];
  for (const [p, message] of bad) {
    assert.throws(
      () => compileSeccomp(p, { nativeArch: X86_64 }),
      (e: unknown) => e instanceof InvalidArgument && message.test(e.message),
      String(message),
    );
  }
});

test("a profile with 700 argument conditions on one syscall compiles, with far jumps resolved", () => {
  const rules = Array.from({ length: 700 }, (_, i) =>
    allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: i * 3 }]),
  );
  const f = compileFilter(profile(rules));
  assert.ok(f.size > 3000 && f.size <= 4096, `${f.size} instructions`);
  for (const i of [0, 1, 254, 255, 256, 600, 699]) {
    assert.equal(f.verdict(X86_64, "read", [i * 3]), "allow", `read(${i * 3})`);
    assert.equal(f.verdict(X86_64, "read", [i * 3 + 1]), "errno 1", `read(${i * 3 + 1})`);
  }
  assert.equal(f.verdict(X86_64, "write"), "errno 38");
});

test("a profile that needs more than 4096 instructions is refused with a clear error", () => {
  const rules = Array.from({ length: 3000 }, (_, i) =>
    allow(["read"], [{ index: 0, op: "SCMP_CMP_EQ", value: i }]),
  );
  assert.throws(
    () => compileSeccomp(profile(rules), { nativeArch: X86_64 }),
    (e: unknown) =>
      e instanceof InvalidArgument &&
      /^linux\.seccomp: the filter needs \d+ BPF instructions, more than the kernel's limit of 4096/.test(
        e.message,
      ),
  );
});

test("every other syscall allowed on three ABIs: the search over ~230 ranges per ABI is exact", () => {
  const arches = SECCOMP_ARCHES.filter((a) => [X86_64, X86, X32].includes(a.name));
  const names = [...new Set(arches.flatMap((a) => Object.keys(a.syscalls)))].sort();
  const allowed = new Set(names.filter((_, i) => i % 2 === 0));
  const f = compileFilter(profile([allow([...allowed])], { architectures: [X86_64, X86, X32] }));
  for (const arch of arches) {
    const table = Object.entries(arch.syscalls);
    const highest = Math.max(...table.filter(([name]) => allowed.has(name)).map(([, nr]) => nr));
    const byNumber = new Map(table.map(([name, nr]) => [nr, name]));
    const base = arch.name === X32 ? X32_SYSCALL_BIT : 0;
    for (let nr = base; nr < base + 1100; nr++) {
      const name = byNumber.get(nr);
      const expected = name && allowed.has(name) ? "allow" : nr > highest ? "errno 38" : "errno 1";
      assert.equal(f.verdict(arch.name, nr), expected, `${arch.name} ${nr} ${name ?? ""}`);
    }
  }
});

test("the host's architecture has its libseccomp name", () => {
  assert.equal(seccompArchName("x64"), X86_64);
  assert.equal(seccompArchName("ia32"), X86);
  assert.equal(seccompArchName("arm64"), AARCH64);
  assert.equal(seccompArchName("arm"), ARM);
  assert.equal(seccompArchName("ppc64", "LE"), "SCMP_ARCH_PPC64LE");
  assert.equal(seccompArchName("s390x"), "SCMP_ARCH_S390X");
  assert.equal(seccompArchName("wasm"), undefined);
});

test("a profile compiled before gives the same program; any change of it, or of the architecture, compiles anew", () => {
  const first = compileSeccomp(profile([allow(["read", "write"])]));
  // Equal content in other objects (each container's spec is a fresh copy): the kept program.
  assert.equal(compileSeccomp(profile([allow(["read", "write"])])), first);
  const changed = compileSeccomp(profile([allow(["read"])]));
  assert.notEqual(changed, first);
  assert.notDeepEqual(changed.program, first.program);
  const arm = compileSeccomp(profile([allow(["read", "write"])]), { nativeArch: AARCH64 });
  assert.notDeepEqual(arm.program, first.program);
  // Many profiles (a client's): the oldest are forgotten, and what comes back is compiled again.
  for (let i = 0; i < 40; i++) compileSeccomp(profile([allow(["read"])], { defaultErrnoRet: i + 1 }));
  const again = compileSeccomp(profile([allow(["read", "write"])]));
  assert.notEqual(again, first);
  assert.deepEqual(again.program, first.program);
});
