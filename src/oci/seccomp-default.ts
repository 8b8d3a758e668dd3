/**
 * Docker's default seccomp profile (moby/profiles seccomp/default.json, May 2026), and its
 * resolution for one container the way dockerd does it (moby profiles/seccomp setupSeccomp): a
 * rule is kept when the container's bounding set holds every capability in `includes.caps` and
 * none in `excludes.caps`, when the host architecture matches `includes/excludes.arches`, and when
 * the kernel is at least `includes.minKernel`. The result is an ordinary OCI `linux.seccomp`.
 *
 * Its shape: deny by default with EPERM; allow ~360 syscalls unconditionally; allow a few only
 * with safe arguments (socket families, personality values, clone without namespace flags); allow
 * the privileged ones only to containers that have the matching capability.
 */
import { release } from "node:os";
import type { LinuxSeccomp, LinuxSyscall } from "./runtime-spec.js";
import { hostSeccompArch } from "./seccomp-arch.js";

interface RuleFilter {
  /** Capabilities (CAP_*) of the bounding set. */
  caps?: string[];
  /** Docker's architecture names: "amd64", "x86", "x32", "arm", "arm64", "s390x"… */
  arches?: string[];
  /** "<major>.<minor>" of the host kernel. */
  minKernel?: string;
}

interface ProfileRule extends LinuxSyscall {
  includes?: RuleFilter;
  excludes?: RuleFilter;
}

const ALLOWED = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl
fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait
futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid
geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv
msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat
openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr setxattrat shmat shmctl
shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair
splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs
sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe
utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`
  .trim()
  .split(/\s+/);

const ALLOW = "SCMP_ACT_ALLOW";

/** AF_ALG (38) and AF_VSOCK (40) sockets are refused; every other family is allowed. */
const AF_ALG = 38;
const AF_VSOCK = 40;

/**
 * The personalities a program may switch to: PER_LINUX, PER_LINUX32, either with UNAME26, and
 * 0xffffffff, which only queries the current one. Others (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE…)
 * weaken protections.
 */
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/**
 * CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET: without CAP_SYS_ADMIN, clone may create no namespace.
 */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;

const RULES: ProfileRule[] = [
  { names: ALLOWED, action: ALLOW },
  // Before 4.8 ptrace could be used to bypass seccomp.
  {
    names: ["process_vm_readv", "process_vm_writev", "ptrace"],
    action: ALLOW,
    includes: { minKernel: "4.8" },
  },
  { names: ["socket"], action: ALLOW, args: [{ index: 0, value: AF_ALG, op: "SCMP_CMP_LT" }] },
  { names: ["socket"], action: ALLOW, args: [{ index: 0, value: AF_ALG + 1, op: "SCMP_CMP_EQ" }] },
  { names: ["socket"], action: ALLOW, args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_GT" }] },
  ...PERSONALITIES.map(
    (value): ProfileRule => ({
      names: ["personality"],
      action: ALLOW,
      args: [{ index: 0, value, op: "SCMP_CMP_EQ" }],
    }),
  ),
  { names: ["sync_file_range2", "swapcontext"], action: ALLOW, includes: { arches: ["ppc64le"] } },
  {
    names: [
      "arm_fadvise64_64",
      "arm_sync_file_range",
      "sync_file_range2",
      "breakpoint",
      "cacheflush",
      "set_tls",
    ],
    action: ALLOW,
    includes: { arches: ["arm", "arm64"] },
  },
  { names: ["arch_prctl"], action: ALLOW, includes: { arches: ["amd64", "x32"] } },
  { names: ["modify_ldt"], action: ALLOW, includes: { arches: ["amd64", "x32", "x86"] } },
  {
    names: ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"],
    action: ALLOW,
    includes: { arches: ["s390", "s390x"] },
  },
  { names: ["riscv_flush_icache"], action: ALLOW, includes: { arches: ["riscv64"] } },
  { names: ["open_by_handle_at"], action: ALLOW, includes: { caps: ["CAP_DAC_READ_SEARCH"] } },
  {
    names: [
      "bpf",
      "clone",
      "clone3",
      "fanotify_init",
      "fsconfig",
      "fsmount",
      "fsopen",
      "fspick",
      "lookup_dcookie",
      "lsm_get_self_attr",
      "lsm_list_modules",
      "lsm_set_self_attr",
      "mount",
      "mount_setattr",
      "move_mount",
      "open_tree",
      "perf_event_open",
      "quotactl",
      "quotactl_fd",
      "setdomainname",
      "sethostname",
      "setns",
      "syslog",
      "umount",
      "umount2",
      "unshare",
    ],
    action: ALLOW,
    includes: { caps: ["CAP_SYS_ADMIN"] },
  },
  {
    names: ["clone"],
    action: ALLOW,
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    excludes: { caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"] },
  },
  {
    // s390 passes clone's flags as the second argument.
    names: ["clone"],
    action: ALLOW,
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
    includes: { arches: ["s390", "s390x"] },
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  {
    // clone3's flags are in memory a filter cannot read: ENOSYS makes libc fall back to clone,
    // whose flags the rule above checks.
    names: ["clone3"],
    action: "SCMP_ACT_ERRNO",
    errnoRet: ENOSYS,
    excludes: { caps: ["CAP_SYS_ADMIN"] },
  },
  { names: ["reboot"], action: ALLOW, includes: { caps: ["CAP_SYS_BOOT"] } },
  { names: ["chroot"], action: ALLOW, includes: { caps: ["CAP_SYS_CHROOT"] } },
  {
    names: ["delete_module", "init_module", "finit_module"],
    action: ALLOW,
    includes: { caps: ["CAP_SYS_MODULE"] },
  },
  { names: ["acct"], action: ALLOW, includes: { caps: ["CAP_SYS_PACCT"] } },
  {
    names: ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
    action: ALLOW,
    includes: { caps: ["CAP_SYS_PTRACE"] },
  },
  { names: ["iopl", "ioperm"], action: ALLOW, includes: { caps: ["CAP_SYS_RAWIO"] } },
  {
    names: ["settimeofday", "stime", "clock_settime", "clock_settime64"],
    action: ALLOW,
    includes: { caps: ["CAP_SYS_TIME"] },
  },
  { names: ["vhangup"], action: ALLOW, includes: { caps: ["CAP_SYS_TTY_CONFIG"] } },
  {
    names: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"],
    action: ALLOW,
    includes: { caps: ["CAP_SYS_NICE"] },
  },
  { names: ["syslog"], action: ALLOW, includes: { caps: ["CAP_SYSLOG"] } },
  { names: ["bpf"], action: ALLOW, includes: { caps: ["CAP_BPF"] } },
  { names: ["perf_event_open"], action: ALLOW, includes: { caps: ["CAP_PERFMON"] } },
];

/** The profile's archMap: a native architecture and the compat ABIs its kernel also runs. */
const ARCH_MAP: Readonly<Record<string, string[]>> = {
  SCMP_ARCH_X86_64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  SCMP_ARCH_AARCH64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
  SCMP_ARCH_MIPS64: ["SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
  SCMP_ARCH_MIPS64N32: ["SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
  SCMP_ARCH_MIPSEL64: ["SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
  SCMP_ARCH_MIPSEL64N32: ["SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
  SCMP_ARCH_S390X: ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"],
  SCMP_ARCH_RISCV64: ["SCMP_ARCH_RISCV64"],
  SCMP_ARCH_LOONGARCH64: ["SCMP_ARCH_LOONGARCH64"],
};

/** The names `includes.arches` uses (Docker's, after Go's GOARCH) for each architecture. */
const DOCKER_ARCH_NAMES: Readonly<Record<string, string>> = {
  SCMP_ARCH_X86_64: "amd64",
  SCMP_ARCH_X86: "x86",
  SCMP_ARCH_AARCH64: "arm64",
  SCMP_ARCH_ARM: "arm",
  SCMP_ARCH_PPC64LE: "ppc64le",
  SCMP_ARCH_S390: "s390",
  SCMP_ARCH_S390X: "s390x",
  SCMP_ARCH_RISCV64: "riscv64",
  SCMP_ARCH_LOONGARCH64: "loongarch64",
};

/**
 * Docker's default profile for a container whose bounding set is `capabilities` ("CAP_SYS_ADMIN"
 * or "SYS_ADMIN"), on architecture `arch` (SCMP_ARCH_*, default the host's) and a kernel of
 * release `kernelRelease` (default the host's, as `uname -r` prints it).
 */
export function defaultSeccompProfile(
  capabilities: string[],
  arch: string = hostSeccompArch(),
  kernelRelease: string = release(),
): LinuxSeccomp {
  const host: Host = {
    caps: new Set(capabilities.map(capabilityName)),
    arch: DOCKER_ARCH_NAMES[arch] ?? arch,
    kernel: kernelVersion(kernelRelease),
  };
  const syscalls = RULES.filter((rule) => kept(rule, host)).map(
    ({ includes: _i, excludes: _e, ...rule }): LinuxSyscall => ({
      ...rule,
      names: [...rule.names],
      ...(rule.args && { args: rule.args.map((a) => ({ ...a })) }),
    }),
  );
  const profile: LinuxSeccomp = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, syscalls };
  const architectures = ARCH_MAP[arch];
  if (architectures) profile.architectures = [...architectures];
  return profile;
}

interface Host {
  caps: Set<string>;
  arch: string;
  kernel: [number, number];
}

/** dockerd's test: any `excludes` condition that holds drops the rule, every `includes` one must hold. */
function kept({ includes, excludes }: ProfileRule, host: Host): boolean {
  const has = (cap: string) => host.caps.has(cap);
  if (excludes) {
    if (excludes.arches?.includes(host.arch)) return false;
    if (excludes.caps?.some(has)) return false;
    if (excludes.minKernel && atLeast(host.kernel, kernelVersion(excludes.minKernel))) return false;
  }
  if (includes) {
    if (includes.arches?.length && !includes.arches.includes(host.arch)) return false;
    if (includes.caps && !includes.caps.every(has)) return false;
    if (includes.minKernel && !atLeast(host.kernel, kernelVersion(includes.minKernel))) return false;
  }
  return true;
}

function capabilityName(cap: string): string {
  const upper = cap.toUpperCase();
  return upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
}

/** "6.18.44-fc-v595" → [6, 18]; Docker ignores everything after the minor number. */
function kernelVersion(text: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function atLeast([major, minor]: [number, number], [wantMajor, wantMinor]: [number, number]): boolean {
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}
