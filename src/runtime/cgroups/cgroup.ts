/**
 * One container's cgroup, whatever the host's cgroup version. The runtime only talks to this
 * interface; v1.ts and v2.ts implement it, index.ts picks one for the host.
 */
import type { LinuxResources } from "../../oci/runtime-spec.js";

export type CgroupVersion = 1 | 2;

/** Statistics in the shape `runc events --stats` prints (its types.Stats JSON). */
export interface CgroupStats {
  cpu: {
    usage: { total: number; percpu: number[]; kernel: number; user: number };
    throttling: { periods: number; throttled_periods: number; throttled_time: number };
  };
  memory: {
    cache: number;
    usage: MemoryEntry;
    swap: MemoryEntry;
    kernel: MemoryEntry;
    raw: Record<string, number>;
  };
  pids: { current: number; limit: number };
  blkio: {
    ioServiceBytesRecursive: BlkioEntry[];
    ioServicedRecursive: BlkioEntry[];
  };
  hugetlb: Record<string, { usage: number; max: number; failcnt: number }>;
}

export interface MemoryEntry {
  limit: number;
  usage: number;
  max: number;
  failcnt: number;
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** Where a container's view of a hierarchy comes from, for the /sys/fs/cgroup mount inside it. */
export interface CgroupMountSource {
  /** Directory name under /sys/fs/cgroup in the container ("memory", "cpu,cpuacct"; "" for v2). */
  name: string;
  /** The host directory of this container's cgroup in that hierarchy. */
  hostPath: string;
  /** Extra names that are symlinks to `name` (v1 co-mounted controllers: "cpu", "cpuacct"). */
  aliases: string[];
}

export interface Cgroup {
  readonly version: CgroupVersion;
  /** The cgroup path relative to each hierarchy's root ("/berth/abc" or "/process_api/x/berth/abc"). */
  readonly path: string;

  /** Makes the directories (all v1 hierarchies, or the v2 one with its controllers enabled). */
  create(): void;
  /** Writes the limits; also used by `update` on a running container. Fields absent stay as they are. */
  apply(resources: LinuxResources): void;
  /** Moves a process (and so its future children) into the cgroup. */
  addProcess(pid: number): Promise<void>;
  /**
   * Files that a single-threaded process writes "0" to, to move itself in without the global
   * lock that a move from outside takes (v1 "tasks"); undefined where there are none (v2).
   */
  selfJoinFiles(): string[] | undefined;
  /** Pids currently in the cgroup (recursively on v2). */
  processes(): number[];
  /** Stops every process (freezer), resolving when the kernel reports them frozen. */
  freeze(): Promise<void>;
  thaw(): void;
  isFrozen(): boolean;
  /** How many processes the kernel's OOM killer has killed in this cgroup. */
  oomKillCount(): number;
  stats(): CgroupStats;
  /** Sends SIGKILL to every process in the cgroup (cgroup.kill on v2; freeze, kill, thaw on v1). */
  killAll(): Promise<void>;
  /** Removes the directories, waiting briefly for exiting processes; no error if already gone. */
  destroy(): Promise<void>;
  mountSources(): CgroupMountSource[];
}
