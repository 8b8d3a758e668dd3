/**
 * The plan for one container (or exec) process, as data: every decision the native monitor and
 * init carry out. Built by container-plan.ts / exec-plan.ts, encoded here for native/plan.c.
 */
import type { Hook } from "../../oci/runtime-spec.js";
import { Op, type OpArg, PlanTag, PlanWriter, Stdio, Target } from "./protocol.js";

export type TargetKind = "dir" | "file" | "none";

export type PlanOp =
  | {
      op: "mount";
      source: string;
      target: string;
      fstype: string;
      flags: number;
      data: string;
      kind: TargetKind;
    }
  | { op: "mountHost"; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: "remount"; target: string; flags: number }
  | { op: "propagation"; target: string; flags: number; inRoot: boolean }
  | { op: "setRoot"; path: string }
  | { op: "mknod"; path: string; mode: number; dev: bigint; uid: number; gid: number }
  | { op: "symlink"; target: string; path: string }
  | { op: "mkdir"; path: string; mode: number }
  | { op: "pivotRoot" }
  | { op: "chroot" }
  | { op: "mask"; path: string }
  | { op: "readonly"; path: string }
  | { op: "writeFile"; path: string; content: string }
  | { op: "sethostname"; name: string }
  | { op: "setdomainname"; name: string }
  | { op: "sync"; name: string }
  | { op: "hook"; hook: Hook }
  | { op: "chdir"; path: string }
  | { op: "ifup"; name: string };

export interface ProcessPlan {
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: number[];
  umask?: number;
  rlimits: { resource: number; soft: bigint; hard: bigint }[];
  /** Absent: keep the capabilities the runtime has (runc does the same when the config has none). */
  capabilities?: {
    bounding: bigint;
    effective: bigint;
    permitted: bigint;
    inheritable: bigint;
    ambient: bigint;
  };
  capLast: number;
  noNewPrivileges: boolean;
  seccomp?: { program: Buffer; flags: number };
  personality?: number;
}

export interface NativePlan {
  stdio: "inherit" | "pipes" | "null";
  terminal: boolean;
  /** With stdio "pipes": keep a stdin pipe that clients can write to. */
  stdinOpen: boolean;
  consoleSocket?: string;
  controlSocket?: string;
  exitFile?: string;
  log?: { path: string; maxSize: number; maxFiles: number };
  /** Files the process writes "0" to before anything else, moving itself into its cgroups. */
  cgroupSelfJoin?: string[];
  /** CLONE_NEW* flags of the namespaces to create. */
  newNamespaces: number;
  join: { flag: number; path: string }[];
  ops: PlanOp[];
  startHooks: Hook[];
  /** Stop after set-up until started (OCI create); exec processes run at once. */
  waitStart: boolean;
  /**
   * The caller reaps the process (a containerd shim, conmon): the monitor leaves once it has
   * exec'd (or died) without reaping it, so that it becomes the caller's child, as with runc.
   */
  handoff?: boolean;
  process: ProcessPlan;
}

const KIND = { dir: Target.DIR, file: Target.FILE, none: Target.NONE } as const;

function hookArgs(hook: Hook): OpArg[] {
  const args = hook.args ?? [hook.path];
  return [hook.timeout ?? 0, hook.path, args.length, ...args, ...(hook.env ?? [])];
}

function opArgs(o: PlanOp): [number, OpArg[]] {
  switch (o.op) {
    case "mount":
      return [Op.MOUNT, [o.source, o.target, o.fstype, o.flags, o.data, KIND[o.kind]]];
    case "mountHost":
      return [Op.MOUNT_HOST, [o.source, o.target, o.fstype, o.flags, o.data]];
    case "remount":
      return [Op.REMOUNT, [o.target, o.flags]];
    case "propagation":
      return [Op.PROPAGATION, [o.target, o.flags, o.inRoot ? 1 : 0]];
    case "setRoot":
      return [Op.SET_ROOT, [o.path]];
    case "mknod":
      return [Op.MKNOD, [o.path, o.mode, o.dev, o.uid, o.gid]];
    case "symlink":
      return [Op.SYMLINK, [o.target, o.path]];
    case "mkdir":
      return [Op.MKDIR, [o.path, o.mode]];
    case "pivotRoot":
      return [Op.PIVOT_ROOT, []];
    case "chroot":
      return [Op.CHROOT, []];
    case "mask":
      return [Op.MASK, [o.path]];
    case "readonly":
      return [Op.READONLY, [o.path]];
    case "writeFile":
      return [Op.WRITE_FILE, [o.path, o.content]];
    case "sethostname":
      return [Op.SETHOSTNAME, [o.name]];
    case "setdomainname":
      return [Op.SETDOMAINNAME, [o.name]];
    case "sync":
      return [Op.SYNC, [o.name]];
    case "hook":
      return [Op.HOOK, hookArgs(o.hook)];
    case "chdir":
      return [Op.CHDIR, [o.path]];
    case "ifup":
      return [Op.IFUP, [o.name]];
  }
}

export function encodePlan(plan: NativePlan): Buffer {
  const w = new PlanWriter();
  w.u32(PlanTag.STDIO_MODE, { inherit: Stdio.INHERIT, pipes: Stdio.PIPES, null: Stdio.NULL }[plan.stdio]);
  if (plan.terminal) w.u32(PlanTag.TERMINAL, 1);
  if (plan.stdinOpen) w.u32(PlanTag.STDIN_OPEN, 1);
  if (plan.consoleSocket) w.str(PlanTag.CONSOLE_SOCKET, plan.consoleSocket);
  if (plan.controlSocket) w.str(PlanTag.CONTROL_SOCKET, plan.controlSocket);
  if (plan.exitFile) w.str(PlanTag.EXIT_FILE, plan.exitFile);
  if (plan.log) {
    w.str(PlanTag.LOG_PATH, plan.log.path);
    w.u64(PlanTag.LOG_MAX_SIZE, plan.log.maxSize);
    w.u32(PlanTag.LOG_MAX_FILES, plan.log.maxFiles);
  }
  for (const file of plan.cgroupSelfJoin ?? []) w.str(PlanTag.CGROUP_SELF, file);
  w.u32(PlanTag.NS_NEW, plan.newNamespaces);
  for (const j of plan.join) {
    const flag = Buffer.alloc(4);
    flag.writeUInt32LE(j.flag);
    w.record(PlanTag.NS_JOIN, Buffer.concat([flag, Buffer.from(j.path)]));
  }
  for (const o of plan.ops) {
    const [code, args] = opArgs(o);
    w.op(PlanTag.OP, code, args);
  }
  for (const hook of plan.startHooks) w.op(PlanTag.START_HOOK, Op.HOOK, hookArgs(hook));
  if (plan.waitStart) w.u32(PlanTag.WAIT_START, 1);
  if (plan.handoff) w.u32(PlanTag.HANDOFF, 1);

  const p = plan.process;
  for (const arg of p.args) w.str(PlanTag.ARG, arg);
  for (const env of p.env) w.str(PlanTag.ENV, env);
  w.str(PlanTag.CWD, p.cwd);
  w.u32(PlanTag.UID, p.uid);
  w.u32(PlanTag.GID, p.gid);
  if (p.additionalGids.length) {
    const groups = Buffer.alloc(4 * p.additionalGids.length);
    for (const [i, g] of p.additionalGids.entries()) groups.writeUInt32LE(g, 4 * i);
    w.record(PlanTag.GROUPS, groups);
  }
  if (p.umask !== undefined) w.u32(PlanTag.UMASK, p.umask);
  for (const r of p.rlimits) {
    const b = Buffer.alloc(20);
    b.writeUInt32LE(r.resource, 0);
    b.writeBigUInt64LE(r.soft, 4);
    b.writeBigUInt64LE(r.hard, 12);
    w.record(PlanTag.RLIMIT, b);
  }
  if (p.capabilities) {
    const c = p.capabilities;
    const b = Buffer.alloc(40);
    for (const [i, m] of [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].entries())
      b.writeBigUInt64LE(m, 8 * i);
    w.record(PlanTag.CAPS, b);
  }
  w.u32(PlanTag.CAP_LAST, p.capLast);
  if (p.noNewPrivileges) w.u32(PlanTag.NO_NEW_PRIVS, 1);
  if (p.seccomp) {
    w.record(PlanTag.SECCOMP, p.seccomp.program);
    w.u32(PlanTag.SECCOMP_FLAGS, p.seccomp.flags);
  }
  if (p.personality !== undefined) w.u32(PlanTag.PERSONALITY, p.personality);
  return w.finish();
}
