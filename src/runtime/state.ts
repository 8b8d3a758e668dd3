/**
 * What the runtime remembers about a container between commands: one directory per container
 * under the runtime root with the record (state.json, written atomically), the monitor's control
 * socket and the exit file the monitor writes.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Conflict, InvalidArgument, isErrno, NotFound } from "../errors.js";
import type { Spec, State, Status } from "../oci/runtime-spec.js";
import { OCI_VERSION } from "../oci/runtime-spec.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import type { CgroupVersion } from "./cgroups/cgroup.js";

export const DEFAULT_RUNTIME_ROOT = "/run/berth/runtime";
const SHORT_SOCKET_DIR = "/run/berth/s";

export interface ContainerRecord {
  id: string;
  bundle: string;
  /** The container process's pid, and its start time (clock ticks after boot) against pid reuse. */
  pid: number;
  pidStartTime: number;
  monitorPid: number;
  /** Its start time, so that a recycled pid is not mistaken for it (absent in older records). */
  monitorStartTime?: number;
  created: string;
  started: boolean;
  cgroupPath: string;
  cgroupVersion: CgroupVersion;
  /** The config the container was created from: hooks, process defaults for exec, annotations. */
  spec: Spec;
  /** Without a mount namespace of its own, its mounts live under this root on the host. */
  hostMountsUnder?: string;
}

export interface ExitRecord {
  status: number;
  exitCode: number;
  signal: number;
  finishedAt: string;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

export function validateId(id: string): void {
  if (!ID_PATTERN.test(id))
    throw new InvalidArgument(
      `invalid container id "${id}": use 1-128 letters, digits, "_", ".", "+" or "-", starting with a letter or digit`,
    );
}

export class StateDir {
  constructor(readonly root: string = DEFAULT_RUNTIME_ROOT) {}

  dir(id: string): string {
    return join(this.root, id);
  }
  recordPath(id: string): string {
    return join(this.root, id, "state.json");
  }
  exitPath(id: string): string {
    return join(this.root, id, "exit");
  }
  /**
   * The monitor's control socket: beside the state, unless that path is longer than a unix
   * socket address may be (108 bytes); then a short name derived from it in a directory of its own.
   */
  controlSocket(id: string): string {
    const path = join(this.root, id, "monitor.sock");
    if (Buffer.byteLength(path) < 100) return path;
    mkdirSync(SHORT_SOCKET_DIR, { recursive: true, mode: 0o700 });
    return join(SHORT_SOCKET_DIR, `${createHash("sha256").update(path).digest("hex").slice(0, 24)}.sock`);
  }

  /** Claims the id: the directory's creation is the lock that makes two creates of one id fail. */
  claim(id: string): string {
    validateId(id);
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    try {
      mkdirSync(this.dir(id), { mode: 0o700 });
    } catch (err) {
      if (isErrno(err, "EEXIST")) throw new Conflict(`container "${id}" already exists`);
      throw err;
    }
    return this.dir(id);
  }

  save(record: ContainerRecord): void {
    // Not fsync'ed: the record describes live processes, which a power loss ends too (runc's
    // state.json is not synced either); the rename still keeps it whole for readers and crashes.
    writeFileAtomicSync(this.recordPath(record.id), JSON.stringify(record), 0o600, { durable: false });
  }

  load(id: string): ContainerRecord {
    validateId(id);
    try {
      return JSON.parse(readFileSync(this.recordPath(id), "utf8")) as ContainerRecord;
    } catch (err) {
      if (isErrno(err, "ENOENT")) throw new NotFound(`container "${id}" does not exist`);
      throw err;
    }
  }

  /** Container directories without a record: creates that a crash of their caller cut short. */
  halfMade(): string[] {
    try {
      return readdirSync(this.root).filter((id) => ID_PATTERN.test(id) && !this.exists(id));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
  }

  exists(id: string): boolean {
    return existsSync(this.recordPath(id));
  }

  ids(): string[] {
    try {
      return readdirSync(this.root).filter((id) => ID_PATTERN.test(id) && this.exists(id));
    } catch (err) {
      if (isErrno(err, "ENOENT")) return [];
      throw err;
    }
  }

  exit(id: string): ExitRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.exitPath(id), "utf8")) as ExitRecord;
    } catch {
      return undefined;
    }
  }
}

/** Field 22 of /proc/<pid>/stat, or undefined when the process is gone or a zombie. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return Number(fields[19]);
}

export function processAlive(pid: number, startTime: number): boolean {
  return pid > 0 && processStartTime(pid) === startTime;
}

/** The OCI status of a record, from the exit file, the process and the freezer. */
export function statusOf(record: ContainerRecord, dir: StateDir, isFrozen: () => boolean): Status {
  if (existsSync(dir.exitPath(record.id))) return "stopped";
  if (!processAlive(record.pid, record.pidStartTime)) return "stopped";
  if (isFrozen()) return "paused";
  return record.started ? "running" : "created";
}

export function ociState(record: ContainerRecord, status: Status): State {
  const state: State = { ociVersion: OCI_VERSION, id: record.id, status, bundle: record.bundle };
  if (status !== "stopped") state.pid = record.pid;
  if (record.spec.annotations && Object.keys(record.spec.annotations).length)
    state.annotations = record.spec.annotations;
  return state;
}
