/**
 * OCI seccomp profile → the classic BPF program and flags the native init hands to
 * seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog). Pure: the plan is computed and tested here,
 * the kernel only ever sees the bytes.
 */
import { InvalidArgument } from "../../errors.js";
import type { LinuxSeccomp } from "../../oci/runtime-spec.js";
import { hostSeccompArch } from "../../oci/seccomp-arch.js";
import { archFilter } from "./arch-rules.js";
import { assemble, BPF_MAXINSNS, encode } from "./bpf.js";
import { generate } from "./codegen.js";
import { planSeccomp } from "./profile.js";

export interface CompiledSeccomp {
  /** `struct sock_filter[]`: u16 code, u8 jt, u8 jf, u32 k per instruction, host (little) endian. */
  program: Buffer;
  /** SECCOMP_FILTER_FLAG_* for seccomp(2). */
  flags: number;
  /** What the profile named that was skipped (unknown syscalls), for the caller to log. */
  warnings: string[];
}

export interface CompileOptions {
  /** The architecture the container runs on, always accepted (default: the host's). */
  nativeArch?: string;
}

/**
 * Programs compiled lately, by profile and architecture: most containers have the default
 * profile, and its compilation (some milliseconds) is the same every time. Bounded: profiles a
 * client sends are many only if the client wants them to be.
 */
const recent = new Map<string, CompiledSeccomp>();
const RECENT_MAX = 16;

export function compileSeccomp(profile: LinuxSeccomp, options: CompileOptions = {}): CompiledSeccomp {
  const nativeArch = options.nativeArch ?? hostSeccompArch();
  // A profile with bigint values (JSON has none) is compiled every time: no text of it could be
  // told apart from that of another profile holding strings in their place.
  let plain = true;
  const key = JSON.stringify([nativeArch, profile], (_, v) => {
    if (typeof v !== "bigint") return v;
    plain = false;
    return undefined;
  });
  const known = plain ? recent.get(key) : undefined;
  if (known) return known;
  const compiled = compile(profile, nativeArch);
  if (!plain) return compiled;
  if (recent.size >= RECENT_MAX) recent.delete(recent.keys().next().value!);
  recent.set(key, compiled);
  return compiled;
}

function compile(profile: LinuxSeccomp, nativeArch: string): CompiledSeccomp {
  const plan = planSeccomp(profile, nativeArch);
  const filters = plan.arches.map((arch) => archFilter(plan, arch));
  const instructions = assemble(generate(filters, plan.defaultAction));
  if (instructions.length > BPF_MAXINSNS)
    throw new InvalidArgument(
      `linux.seccomp: the filter needs ${instructions.length} BPF instructions, more than the kernel's limit of ${BPF_MAXINSNS} (BPF_MAXINSNS): use fewer rules or argument conditions`,
    );
  return { program: encode(instructions), flags: plan.flags, warnings: plan.warnings };
}
