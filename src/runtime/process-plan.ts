/** The OCI `process` (plus the seccomp and personality settings of `linux`) as a ProcessPlan. */
import { existsSync, readFileSync } from "node:fs";
import { InvalidArgument } from "../errors.js";
import type { LinuxSeccomp, Process, Spec } from "../oci/runtime-spec.js";
import { capabilityMasks, hostLastCap } from "./capabilities.js";
import { PER_LINUX, PER_LINUX32 } from "./linux.js";
import type { ProcessPlan } from "./native/plan.js";
import { resolveRlimits } from "./rlimits.js";
import { compileSeccomp } from "./seccomp/compile.js";

/** runc's default umask when the config gives none. */
export const DEFAULT_UMASK = 0o022;

function apparmorEnabled(): boolean {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").trim() === "Y";
  } catch {
    return false;
  }
}

function personality(spec: Spec): number | undefined {
  const p = spec.linux?.personality;
  if (!p) return undefined;
  if (p.flags?.length) throw new InvalidArgument("linux.personality.flags: no flags are supported");
  if (p.domain === "LINUX") return PER_LINUX;
  if (p.domain === "LINUX32") return PER_LINUX32;
  throw new InvalidArgument(`linux.personality.domain: unknown domain "${p.domain}"`);
}

/**
 * Compiled filters by profile object: the engine hands every container with the same
 * capabilities the same (never changed) profile, and compiling it costs ~2 ms of each start.
 */
const compiled = new WeakMap<LinuxSeccomp, ReturnType<typeof compileSeccomp>>();

function seccomp(profile: LinuxSeccomp, warn: (message: string) => void): ProcessPlan["seccomp"] {
  let result = compiled.get(profile);
  if (!result) {
    result = compileSeccomp(profile);
    compiled.set(profile, result);
  }
  const { program, flags, warnings } = result;
  for (const w of warnings) warn(w);
  return { program, flags };
}

export function planProcess(
  process: Process | undefined,
  spec: Spec,
  warn: (message: string) => void = () => {},
  where = "process",
): ProcessPlan {
  if (!process) throw new InvalidArgument(`${where}: required`);
  if (!Array.isArray(process.args) || process.args.length === 0)
    throw new InvalidArgument(`${where}.args: at least the program to run is required`);
  if (typeof process.cwd !== "string" || !process.cwd.startsWith("/"))
    throw new InvalidArgument(`${where}.cwd: must be an absolute path, got ${JSON.stringify(process.cwd)}`);
  const user = process.user;
  if (!user || !Number.isInteger(user.uid) || !Number.isInteger(user.gid) || user.uid < 0 || user.gid < 0)
    throw new InvalidArgument(`${where}.user: uid and gid must be non-negative integers`);
  if (process.apparmorProfile && !apparmorEnabled())
    throw new InvalidArgument(`${where}.apparmorProfile: AppArmor is not enabled on this host`);
  if (process.selinuxLabel && !existsSync("/sys/fs/selinux/enforce"))
    throw new InvalidArgument(`${where}.selinuxLabel: SELinux is not enabled on this host`);
  if (process.ioPriority) throw new InvalidArgument(`${where}.ioPriority: not supported`);
  if (process.scheduler) throw new InvalidArgument(`${where}.scheduler: not supported`);
  if (process.execCPUAffinity) throw new InvalidArgument(`${where}.execCPUAffinity: not supported`);
  const capLast = hostLastCap();
  return {
    args: process.args,
    env: process.env ?? [],
    cwd: process.cwd,
    uid: user.uid,
    gid: user.gid,
    additionalGids: user.additionalGids ?? [],
    umask: user.umask ?? DEFAULT_UMASK,
    rlimits: resolveRlimits(process.rlimits, `${where}.rlimits`),
    ...(process.capabilities
      ? { capabilities: capabilityMasks(process.capabilities, capLast, `${where}.capabilities`, warn) }
      : {}),
    capLast,
    noNewPrivileges: process.noNewPrivileges === true,
    ...(spec.linux?.seccomp ? { seccomp: seccomp(spec.linux.seccomp, warn) } : {}),
    ...(personality(spec) !== undefined ? { personality: personality(spec) } : {}),
  };
}
