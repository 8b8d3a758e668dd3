import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultSeccompProfile } from "../../../src/oci/seccomp-default.js";
import { DEFAULT_CAPABILITIES } from "../../../src/runtime/capabilities.js";
import { SECCOMP_ARCHES } from "../../../src/runtime/seccomp/arch.js";
import { compileFilter } from "../../helpers/seccomp.js";

const X86_64 = "SCMP_ARCH_X86_64";
const X86 = "SCMP_ARCH_X86";
const X32 = "SCMP_ARCH_X32";
const AARCH64 = "SCMP_ARCH_AARCH64";
const ARM = "SCMP_ARCH_ARM";

const DOCKER_CAPS = [...DEFAULT_CAPABILITIES];

const KERNEL = "6.18.44-fc-v595";
const x86_64 = compileFilter(defaultSeccompProfile(DOCKER_CAPS, X86_64, KERNEL), X86_64);
const admin = compileFilter(defaultSeccompProfile([...DOCKER_CAPS, "CAP_SYS_ADMIN"], X86_64, KERNEL), X86_64);

const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const SIGCHLD = 17;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes
const AF_INET = 2;
const AF_ALG = 38;
const AF_NFC = 39;
const AF_VSOCK = 40;

test("the resolved profile denies with EPERM and lists x86_64's compat ABIs", () => {
  const p = defaultSeccompProfile(DOCKER_CAPS, X86_64, KERNEL);
  assert.equal(p.defaultAction, "SCMP_ACT_ERRNO");
  assert.equal(p.defaultErrnoRet, 1);
  assert.deepEqual(p.architectures, [X86_64, X86, X32]);
  assert.ok(p.syscalls!.length > 10);
  assert.deepEqual(defaultSeccompProfile(DOCKER_CAPS, AARCH64, KERNEL).architectures, [AARCH64, ARM]);
  assert.equal(defaultSeccompProfile(DOCKER_CAPS, X86, KERNEL).architectures, undefined);
});

test("ordinary syscalls are allowed on every x86 ABI; kexec_load, mount and reboot are not", () => {
  for (const arch of [X86_64, X86, X32]) {
    assert.equal(x86_64.verdict(arch, "mkdir"), "allow", arch);
    assert.equal(x86_64.verdict(arch, "read"), "allow", arch);
    assert.equal(x86_64.verdict(arch, "execve"), "allow", arch);
    assert.equal(x86_64.verdict(arch, "kexec_load"), "errno 1", arch);
    assert.equal(x86_64.verdict(arch, "mount"), "errno 1", arch);
    assert.equal(x86_64.verdict(arch, "reboot"), "errno 1", arch);
  }
  assert.equal(x86_64.verdict(X86_64, "arch_prctl"), "allow");
  assert.equal(x86_64.verdict(X86, "socketcall"), "allow");
  assert.equal(x86_64.verdict(X86_64, "fchmodat2"), "allow"); // newer than the machine's headers
  assert.equal(x86_64.verdict(AARCH64, "mkdirat"), "kill_thread");
  assert.deepEqual(x86_64.warnings, []);
});

test("personality: 0xffffffff (query) and the Linux personalities are allowed, others are not", () => {
  for (const persona of [0xffffffff, 0, 8, 0x20000, 0x20008])
    assert.equal(x86_64.verdict(X86_64, "personality", [persona]), "allow", persona.toString(16));
  for (const persona of [
    0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 1, 0x1_0000_0000,
  ])
    assert.equal(x86_64.verdict(X86_64, "personality", [persona]), "errno 1", persona.toString(16));
  // i386 compares the low word only: 0xffffffff passes there too.
  assert.equal(x86_64.verdict(X86, "personality", [0xffffffff]), "allow");
  assert.equal(x86_64.verdict(X86, "personality", [0x0040000]), "errno 1");
});

test("clone may not create namespaces without CAP_SYS_ADMIN; clone3 then fails with ENOSYS", () => {
  assert.equal(x86_64.verdict(X86_64, "clone", [SIGCHLD]), "allow");
  assert.equal(x86_64.verdict(X86_64, "clone", [CLONE_THREAD_FLAGS]), "allow");
  assert.equal(x86_64.verdict(X86_64, "clone", [CLONE_NEWUSER | SIGCHLD]), "errno 1");
  assert.equal(x86_64.verdict(X86_64, "clone", [CLONE_NEWNET | SIGCHLD]), "errno 1");
  assert.equal(x86_64.verdict(X86, "clone", [CLONE_NEWUSER | SIGCHLD]), "errno 1");
  assert.equal(x86_64.verdict(X86_64, "clone3"), "errno 38");
  assert.equal(x86_64.verdict(X86_64, "unshare"), "errno 1");
  assert.equal(admin.verdict(X86_64, "clone", [CLONE_NEWUSER | SIGCHLD]), "allow");
  assert.equal(admin.verdict(X86_64, "clone3"), "allow");
  assert.equal(admin.verdict(X86_64, "mount"), "allow");
  assert.equal(admin.verdict(X86_64, "unshare"), "allow");
});

test("sockets of every family but AF_ALG and AF_VSOCK are allowed", () => {
  assert.equal(x86_64.verdict(X86_64, "socket", [AF_INET]), "allow");
  assert.equal(x86_64.verdict(X86_64, "socket", [AF_NFC]), "allow");
  assert.equal(x86_64.verdict(X86_64, "socket", [AF_VSOCK + 1]), "allow");
  assert.equal(x86_64.verdict(X86_64, "socket", [AF_ALG]), "errno 1");
  assert.equal(x86_64.verdict(X86_64, "socket", [AF_VSOCK]), "errno 1");
});

test("capabilities open their syscalls, in any spelling; ptrace needs kernel 4.8", () => {
  const caps = (list: string[], kernel = KERNEL) =>
    compileFilter(defaultSeccompProfile([...DOCKER_CAPS, ...list], X86_64, kernel), X86_64);
  assert.equal(x86_64.verdict(X86_64, "chroot"), "allow"); // CAP_SYS_CHROOT is a default capability
  assert.equal(compileFilter(defaultSeccompProfile([], X86_64, KERNEL)).verdict(X86_64, "chroot"), "errno 1");
  assert.equal(caps(["sys_time"]).verdict(X86_64, "settimeofday"), "allow");
  assert.equal(caps(["SYS_MODULE"]).verdict(X86_64, "finit_module"), "allow");
  assert.equal(caps(["CAP_SYS_BOOT"]).verdict(X86_64, "reboot"), "allow");
  assert.equal(x86_64.verdict(X86_64, "ptrace"), "allow");
  assert.equal(caps([], "4.4.0-generic").verdict(X86_64, "ptrace"), "errno 1");
  assert.equal(caps(["CAP_SYS_PTRACE"], "4.4.0-generic").verdict(X86_64, "ptrace"), "allow");
});

test("on arm64 the profile covers aarch64 and arm, with arm's private syscalls", () => {
  const arm64 = compileFilter(defaultSeccompProfile(DOCKER_CAPS, AARCH64, KERNEL), AARCH64);
  assert.equal(arm64.verdict(AARCH64, "mkdirat"), "allow");
  assert.equal(arm64.verdict(AARCH64, "kexec_load"), "errno 1");
  assert.equal(arm64.verdict(AARCH64, "clone", [CLONE_NEWUSER]), "errno 1");
  assert.equal(arm64.verdict(ARM, "mkdir"), "allow");
  assert.equal(arm64.verdict(ARM, "set_tls"), "allow");
  assert.equal(arm64.verdict(ARM, "cacheflush"), "allow");
  assert.equal(arm64.verdict(X86_64, "mkdir"), "kill_thread");
  assert.deepEqual(arm64.warnings, []);
});

test("syscalls newer than the profile fail with ENOSYS, older unlisted ones with EPERM", () => {
  assert.equal(x86_64.verdict(X86_64, "kexec_file_load"), "errno 1");
  const highest = Math.max(...Object.values(SECCOMP_ARCHES[0]!.syscalls));
  assert.equal(x86_64.verdict(X86_64, highest + 1), "errno 38");
  assert.equal(x86_64.verdict(X86_64, 0x3fffffff), "errno 38");
});

test("Docker's default profile compiles well under the kernel's 4096 instructions and decides in few steps", (t) => {
  const arm64 = compileFilter(defaultSeccompProfile(DOCKER_CAPS, AARCH64, KERNEL), AARCH64);
  t.diagnostic(`x86_64 (x86_64 + x86 + x32): ${x86_64.size} instructions; with CAP_SYS_ADMIN: ${admin.size}`);
  t.diagnostic(`aarch64 (aarch64 + arm): ${arm64.size} instructions`);
  assert.ok(x86_64.size < 600, `${x86_64.size}`);
  assert.ok(arm64.size < 600, `${arm64.size}`);
  const steps = ["read", "write", "futex", "epoll_wait", "mkdir", "kexec_load"].map((n) =>
    x86_64.steps(X86_64, n),
  );
  t.diagnostic(`instructions run for read, write, futex, epoll_wait, mkdir, kexec_load: ${steps.join(", ")}`);
  for (const s of steps) assert.ok(s <= 16, `${s} steps`);
});
