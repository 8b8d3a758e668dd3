/**
 * The wire format shared with native/protocol.h (a unit test checks that every number here equals
 * the header's). Frames are u32 type, u32 length, payload; the plan is a list of records
 * u16 tag, u16 0, u32 length, value. Little-endian throughout.
 */

export const PROTOCOL_VERSION = 1;
export const MAX_FRAME = 16 * 1024 * 1024;

export const Msg = {
  PLAN: 1,
  PID: 2,
  CONTINUE: 3,
  SYNC: 4,
  CREATED: 5,
  START: 6,
  STARTED: 7,
  ERROR: 8,
  EXITED: 9,
  WAIT: 10,
  PTY: 11,
  RESIZE: 12,
  ATTACH: 13,
  STDIN: 14,
  STDOUT: 15,
  STDERR: 16,
  CLOSE_STDIN: 17,
  OK: 18,
  LOG_REOPEN: 19,
} as const;

export const Attach = {
  STDIN: 1,
  STDOUT: 2,
  STDERR: 4,
  CLOSE_STDIN_ON_DETACH: 8,
} as const;

export const PlanTag = {
  STDIO_MODE: 1,
  TERMINAL: 2,
  CONSOLE_SOCKET: 3,
  CONTROL_SOCKET: 4,
  EXIT_FILE: 5,
  NS_NEW: 6,
  NS_JOIN: 7,
  OP: 8,
  ARG: 9,
  ENV: 10,
  CWD: 11,
  UID: 12,
  GID: 13,
  GROUPS: 14,
  UMASK: 15,
  RLIMIT: 16,
  CAPS: 17,
  CAP_LAST: 18,
  NO_NEW_PRIVS: 19,
  SECCOMP: 20,
  SECCOMP_FLAGS: 21,
  WAIT_START: 22,
  PERSONALITY: 23,
  START_HOOK: 24,
  LOG_PATH: 25,
  LOG_MAX_SIZE: 26,
  LOG_MAX_FILES: 27,
  STDIN_OPEN: 28,
  CGROUP_SELF: 29,
  HANDOFF: 30,
} as const;

export const Stdio = {
  INHERIT: 0,
  PIPES: 1,
  NULL: 2,
} as const;

export const Op = {
  MOUNT: 1,
  MOUNT_HOST: 2,
  REMOUNT: 3,
  PROPAGATION: 4,
  SET_ROOT: 5,
  MKNOD: 6,
  SYMLINK: 7,
  MKDIR: 8,
  PIVOT_ROOT: 9,
  MASK: 10,
  READONLY: 11,
  WRITE_FILE: 12,
  SETHOSTNAME: 13,
  SETDOMAINNAME: 14,
  SYNC: 15,
  HOOK: 16,
  CHDIR: 17,
  CHROOT: 18,
  IFUP: 19,
} as const;

export const Target = {
  DIR: 0,
  FILE: 1,
  NONE: 2,
} as const;

/** Encodes one frame. */
export function frame(type: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(payload.length, 4);
  out.set(payload, 8);
  return out;
}

export interface Frame {
  type: number;
  payload: Buffer;
}

/** Splits a byte stream into frames; feed it chunks as they arrive. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    while (this.pending.length >= 8) {
      const len = this.pending.readUInt32LE(4);
      if (len > MAX_FRAME) throw new Error(`protocol: frame of ${len} bytes`);
      if (this.pending.length < 8 + len) break;
      frames.push({ type: this.pending.readUInt32LE(0), payload: this.pending.subarray(8, 8 + len) });
      this.pending = this.pending.subarray(8 + len);
    }
    return frames;
  }
}

/** A value of an op argument: text, or a number sent as 8 little-endian bytes. */
export type OpArg = string | number | bigint | Uint8Array;

function u64(value: number | bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)));
  return b;
}

function u32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32LE(value >>> 0);
  return b;
}

function argBytes(arg: OpArg): Buffer {
  if (typeof arg === "string") return Buffer.from(arg);
  if (typeof arg === "number" || typeof arg === "bigint") return u64(arg);
  return Buffer.from(arg);
}

/** Builds a plan payload record by record. */
export class PlanWriter {
  private readonly parts: Buffer[] = [];

  record(tag: number, value: Uint8Array): this {
    const head = Buffer.allocUnsafe(8);
    head.writeUInt16LE(tag, 0);
    head.writeUInt16LE(0, 2);
    head.writeUInt32LE(value.length, 4);
    this.parts.push(head, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    return this;
  }

  u32(tag: number, value: number): this {
    return this.record(tag, u32(value));
  }

  u64(tag: number, value: number | bigint): this {
    return this.record(tag, u64(value));
  }

  str(tag: number, value: string): this {
    if (value.includes("\0")) throw new Error(`plan: NUL byte in ${JSON.stringify(value)}`);
    return this.record(tag, Buffer.from(value));
  }

  /** A PLAN_OP-shaped record: u32 opcode, u32 argc, then each argument length-prefixed. */
  op(tag: number, code: number, args: readonly OpArg[]): this {
    const encoded = args.map(argBytes);
    const parts: Buffer[] = [u32(code), u32(encoded.length)];
    for (const a of encoded) parts.push(u32(a.length), a);
    return this.record(tag, Buffer.concat(parts));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}
