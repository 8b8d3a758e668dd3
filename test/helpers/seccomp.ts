/**
 * Compiles a seccomp profile and asks the program what it does with a syscall, by name, the way
 * the kernel would run it: checked as at load time, then interpreted on a seccomp_data.
 */
import type { LinuxSeccomp } from "../../src/oci/runtime-spec.js";
import { SECCOMP_ARCHES } from "../../src/runtime/seccomp/arch.js";
import { compileSeccomp } from "../../src/runtime/seccomp/compile.js";
import { checkFilter, describeRet, runFilter } from "./bpf-interpreter.js";

export interface Filter {
  program: Buffer;
  flags: number;
  warnings: string[];
  /** Instructions in the program. */
  size: number;
  /** "allow", "errno 1", "kill_thread"… for syscall `name` (or a number) on `arch`. */
  verdict(arch: string, name: string | number, args?: (bigint | number)[]): string;
  /** Instructions the kernel runs to decide. */
  steps(arch: string, name: string | number, args?: (bigint | number)[]): number;
}

export function compileFilter(profile: LinuxSeccomp, nativeArch = "SCMP_ARCH_X86_64"): Filter {
  const { program, flags, warnings } = compileSeccomp(profile, { nativeArch });
  checkFilter(program);
  const run = (archName: string, name: string | number, args: (bigint | number)[] = []) => {
    const arch = SECCOMP_ARCHES.find((a) => a.name === archName);
    if (!arch) throw new Error(`no architecture ${archName}`);
    const nr = typeof name === "number" ? name : arch.syscalls[name];
    if (nr === undefined) throw new Error(`${archName} has no syscall ${name}`);
    return runFilter(program, { nr, arch: arch.auditArch, args });
  };
  return {
    program,
    flags,
    warnings,
    size: program.length / 8,
    verdict: (arch, name, args) => describeRet(run(arch, name, args).ret),
    steps: (arch, name, args) => run(arch, name, args).steps,
  };
}
