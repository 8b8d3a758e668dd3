/**
 * Seccomp actions: the OCI names (SCMP_ACT_*) and the SECCOMP_RET_* value a filter returns for
 * each (<linux/seccomp.h>). The low 16 bits of a return value are its data: the errno of
 * SECCOMP_RET_ERRNO, the message of SECCOMP_RET_TRACE.
 */

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_KILL_THREAD = 0x00000000;
export const SECCOMP_RET_TRAP = 0x00030000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_USER_NOTIF = 0x7fc00000;
export const SECCOMP_RET_TRACE = 0x7ff00000;
export const SECCOMP_RET_LOG = 0x7ffc0000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
export const SECCOMP_RET_ACTION_FULL = 0xffff0000;
export const SECCOMP_RET_DATA = 0x0000ffff;

export const EPERM = 1;
export const ENOSYS = 38;
/** The kernel caps the errno a filter returns at MAX_ERRNO (<linux/err.h>). */
export const MAX_ERRNO = 4095;

/** How an action takes its data: an errno (ERRNO), a tracer message (TRACE), or none. */
export type ActionData = "errno" | "trace" | "none";

interface ActionKind {
  ret: number;
  data: ActionData;
}

/**
 * The runtime spec's actions. SCMP_ACT_KILL is libseccomp's old name for killing the thread; runc
 * and crun keep that meaning. SCMP_ACT_NOTIFY is known but refused by the profile reader: Berth
 * has no seccomp agent to hand the listener to.
 */
export const ACTIONS: Readonly<Record<string, ActionKind>> = {
  SCMP_ACT_KILL: { ret: SECCOMP_RET_KILL_THREAD, data: "none" },
  SCMP_ACT_KILL_THREAD: { ret: SECCOMP_RET_KILL_THREAD, data: "none" },
  SCMP_ACT_KILL_PROCESS: { ret: SECCOMP_RET_KILL_PROCESS, data: "none" },
  SCMP_ACT_TRAP: { ret: SECCOMP_RET_TRAP, data: "none" },
  SCMP_ACT_ERRNO: { ret: SECCOMP_RET_ERRNO, data: "errno" },
  SCMP_ACT_TRACE: { ret: SECCOMP_RET_TRACE, data: "trace" },
  SCMP_ACT_ALLOW: { ret: SECCOMP_RET_ALLOW, data: "none" },
  SCMP_ACT_LOG: { ret: SECCOMP_RET_LOG, data: "none" },
  SCMP_ACT_NOTIFY: { ret: SECCOMP_RET_USER_NOTIF, data: "none" },
};

/** The SECCOMP_RET_* value of an action with its data (already validated). */
export function actionValue(kind: { ret: number }, data: number): number {
  return (kind.ret | (data & SECCOMP_RET_DATA)) >>> 0;
}

/**
 * Actions that let the syscall run. runc gives syscalls newer than the profile -ENOSYS only when
 * the default action is not one of these: a tracer (TRACE) is expected to handle unknown
 * syscalls itself, and ALLOW/LOG run them anyway.
 */
export function letsSyscallRun(ret: number): boolean {
  const action = (ret & SECCOMP_RET_ACTION_FULL) >>> 0;
  return action === SECCOMP_RET_ALLOW || action === SECCOMP_RET_LOG || action === SECCOMP_RET_TRACE;
}
