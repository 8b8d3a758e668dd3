/**
 * Architecture names as the OCI runtime spec and libseccomp write them (SCMP_ARCH_*), for the
 * architecture Node runs on. Kept apart from the syscall tables so that spec generation can name
 * the host without loading them.
 */
import { endianness } from "node:os";
import { SystemError } from "../errors.js";

/** "x64" → "SCMP_ARCH_X86_64"; undefined for an architecture the spec has no name for. */
export function seccompArchName(
  nodeArch: string = process.arch,
  byteOrder: "BE" | "LE" = endianness(),
): string | undefined {
  switch (nodeArch) {
    case "x64":
      return "SCMP_ARCH_X86_64";
    case "ia32":
      return "SCMP_ARCH_X86";
    case "arm64":
      return "SCMP_ARCH_AARCH64";
    case "arm":
      return "SCMP_ARCH_ARM";
    case "loong64":
      return "SCMP_ARCH_LOONGARCH64";
    case "mips":
      return "SCMP_ARCH_MIPS";
    case "mipsel":
      return "SCMP_ARCH_MIPSEL";
    case "ppc":
      return "SCMP_ARCH_PPC";
    case "ppc64":
      return byteOrder === "LE" ? "SCMP_ARCH_PPC64LE" : "SCMP_ARCH_PPC64";
    case "riscv64":
      return "SCMP_ARCH_RISCV64";
    case "s390":
      return "SCMP_ARCH_S390";
    case "s390x":
      return "SCMP_ARCH_S390X";
    default:
      return undefined;
  }
}

/** The host's architecture in OCI/libseccomp naming: what a filter built here must always accept. */
export function hostSeccompArch(): string {
  const name = seccompArchName();
  if (!name) throw new SystemError(`seccomp: the host architecture "${process.arch}" has no libseccomp name`);
  return name;
}
