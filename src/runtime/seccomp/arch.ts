/**
 * The architectures a seccomp filter can tell apart, named as libseccomp and the OCI runtime spec
 * name them (SCMP_ARCH_*), with the AUDIT_ARCH_* token the kernel puts in seccomp_data.arch and the
 * syscall table of each. The host's name is in oci/seccomp-arch.ts.
 */
import { AARCH64 } from "./syscalls/aarch64.js";
import { ARM } from "./syscalls/arm.js";
import { OTHER_ARCHES_ONLY } from "./syscalls/other-arches.js";
import { X32 } from "./syscalls/x32.js";
import { X86 } from "./syscalls/x86.js";
import { X86_64 } from "./syscalls/x86_64.js";

/** x32 shares AUDIT_ARCH_X86_64 with x86_64; its syscall numbers carry this bit instead. */
export const X32_SYSCALL_BIT = 0x40000000;

// <linux/audit.h>: the ELF machine number, __AUDIT_ARCH_64BIT, __AUDIT_ARCH_LE.
const AUDIT_ARCH_64BIT = 0x80000000;
const AUDIT_ARCH_LE = 0x40000000;
export const AUDIT_ARCH_X86_64 = (62 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE) >>> 0;
export const AUDIT_ARCH_I386 = (3 | AUDIT_ARCH_LE) >>> 0;
export const AUDIT_ARCH_AARCH64 = (183 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE) >>> 0;
export const AUDIT_ARCH_ARM = (40 | AUDIT_ARCH_LE) >>> 0;

export interface SeccompArch {
  /** The OCI/libseccomp name: "SCMP_ARCH_X86_64". */
  readonly name: string;
  /** What the kernel reports in seccomp_data.arch for this ABI. */
  readonly auditArch: number;
  readonly syscalls: Readonly<Record<string, number>>;
  /**
   * The argument words a comparison looks at. libseccomp treats x86, x32 and arm as 32-bit
   * architectures and compares only the low word of an argument there; the kernel zero-extends
   * their arguments, so the high word carries nothing a rule could mean.
   */
  readonly argWords: 1 | 2;
}

export const SECCOMP_ARCHES: readonly SeccompArch[] = [
  { name: "SCMP_ARCH_X86_64", auditArch: AUDIT_ARCH_X86_64, syscalls: X86_64, argWords: 2 },
  { name: "SCMP_ARCH_X86", auditArch: AUDIT_ARCH_I386, syscalls: X86, argWords: 1 },
  { name: "SCMP_ARCH_X32", auditArch: AUDIT_ARCH_X86_64, syscalls: X32, argWords: 1 },
  { name: "SCMP_ARCH_AARCH64", auditArch: AUDIT_ARCH_AARCH64, syscalls: AARCH64, argWords: 2 },
  { name: "SCMP_ARCH_ARM", auditArch: AUDIT_ARCH_ARM, syscalls: ARM, argWords: 1 },
];

/**
 * Architectures the runtime spec names that Berth builds no filter for. A kernel only ever
 * reports its own ABIs (an x86_64 kernel: x86_64, x32 and i386; arm64: aarch64 and arm), so on the
 * hosts Berth runs on a syscall from one of these cannot happen and leaving it out changes nothing.
 */
export const FOREIGN_ARCH_NAMES: ReadonlySet<string> = new Set([
  "SCMP_ARCH_LOONGARCH64",
  "SCMP_ARCH_M68K",
  "SCMP_ARCH_MIPS",
  "SCMP_ARCH_MIPS64",
  "SCMP_ARCH_MIPS64N32",
  "SCMP_ARCH_MIPSEL",
  "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32",
  "SCMP_ARCH_PPC",
  "SCMP_ARCH_PPC64",
  "SCMP_ARCH_PPC64LE",
  "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X",
  "SCMP_ARCH_PARISC",
  "SCMP_ARCH_PARISC64",
  "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_SH",
  "SCMP_ARCH_SHEB",
]);

export function seccompArch(name: string): SeccompArch | undefined {
  return SECCOMP_ARCHES.find((a) => a.name === name);
}

/** True for a syscall name no supported architecture has but another one does (s390_*, riscv_*…). */
export function isOtherArchSyscall(name: string): boolean {
  return OTHER_ARCHES_ONLY.has(name);
}
