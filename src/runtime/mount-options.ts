/**
 * OCI mount options → mount(2) flags, propagation flags and the filesystem data string, the way
 * mount(8) and runc read them (runtime-spec config.md, "Mounts").
 */
import { InvalidArgument } from "../errors.js";
import { MS } from "./linux.js";

export interface ParsedMountOptions {
  /** Flags for mount(2) itself (MS_RDONLY, MS_NOSUID, ..., MS_BIND|MS_REC for binds). */
  flags: number;
  /** Propagation changes to apply after mounting (each one mount(2) call). */
  propagation: number[];
  /** Filesystem-specific options, comma-joined ("mode=755,size=65536k"). */
  data: string;
  bind: boolean;
  recursive: boolean;
}

/** Options that set a flag, and options that clear one (as mount(8) does). */
const SETS: Record<string, number> = {
  bind: MS.BIND,
  rbind: MS.BIND | MS.REC,
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  mand: MS.MANDLOCK,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  lazytime: MS.LAZYTIME,
  iversion: MS.I_VERSION,
  silent: MS.SILENT,
  nosymfollow: MS.NOSYMFOLLOW,
};
const CLEARS: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  nolazytime: MS.LAZYTIME,
  noiversion: MS.I_VERSION,
  loud: MS.SILENT,
  defaults: 0,
};
export const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Every mount option Berth applies, for `berth-runtime features`. */
export function knownMountOptions(): string[] {
  return [...Object.keys(SETS), ...Object.keys(CLEARS), ...Object.keys(PROPAGATION)];
}

/** Options Berth does not implement; refused rather than silently ignored. */
const UNSUPPORTED = new Set([
  "idmap",
  "ridmap",
  "tmpcopyup",
  "rro",
  "rrw",
  "rnosuid",
  "rsuid",
  "rnodev",
  "rdev",
  "rnoexec",
  "rexec",
]);

export function parseMountOptions(options: readonly string[] = [], where = "mount"): ParsedMountOptions {
  let flags = 0;
  const propagation: number[] = [];
  const data: string[] = [];
  for (const option of options) {
    if (option in SETS) flags |= SETS[option]!;
    else if (option in CLEARS) flags &= ~CLEARS[option]!;
    else if (option in PROPAGATION) propagation.push(PROPAGATION[option]!);
    else if (UNSUPPORTED.has(option))
      throw new InvalidArgument(`${where}: mount option "${option}" is not supported`);
    else if (option === "remount")
      throw new InvalidArgument(`${where}: "remount" is not a mount option for a container`);
    else data.push(option);
  }
  return {
    flags,
    propagation,
    data: data.join(","),
    bind: (flags & MS.BIND) !== 0,
    recursive: (flags & MS.REC) !== 0,
  };
}
