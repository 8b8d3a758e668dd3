/**
 * cgroup v1: one directory per mounted hierarchy. Synchronous file operations on purpose: these
 * are tiny writes to cgroupfs on the container start path, where a thread-pool round trip per
 * file would cost more than the write.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorText, isErrno, SystemError } from "../../errors.js";
import type { LinuxResources } from "../../oci/runtime-spec.js";
import type { Cgroup, CgroupMountSource, CgroupStats } from "./cgroup.js";
import { hostLayout, resolveCgroupPath, type V1Hierarchy } from "./hierarchy.js";
import { type CgroupWrite, v1Writes } from "./resources.js";
import { emptyStats, parseBlkio, parseKeyValues, parseNumber, TICKS_TO_NS } from "./stats.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The same write off the event loop (cgroup.procs: see addProcess). */
export async function writeCgroupFileAsync(path: string, value: string): Promise<void> {
  try {
    await writeFile(path, value);
  } catch (err) {
    throw new SystemError(`write ${JSON.stringify(value)} to ${path}: ${errorText(err)}`, { cause: err });
  }
}

export function writeCgroupFile(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (err) {
    throw new SystemError(`write ${JSON.stringify(value)} to ${path}: ${errorText(err)}`, { cause: err });
  }
}

function readOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

export function pidsIn(file: string): number[] {
  return readOr(file).split("\n").filter(Boolean).map(Number);
}

/**
 * Makes a cgroup directory with its parents. Another process on the host (a daemon, a runtime
 * command) may remove the shared "berth" parent in between, once it found it empty
 * (removeSharedParent): a mkdir below it then fails (ENOENT), or a write into it (ENODEV, a
 * cpuset's cpus and mems): make it again.
 */
export function racingParentRemoval(make: () => unknown): void {
  for (let attempt = 0; ; attempt++) {
    try {
      make();
      return;
    } catch (err) {
      const cause = err instanceof SystemError ? err.cause : err;
      if (!(isErrno(cause, "ENOENT") || isErrno(cause, "ENODEV")) || attempt >= 50) throw err;
    }
  }
}

/**
 * Removes the shared "berth" parent of a removed container cgroup once no container is left in
 * it. A sibling that is still going away can keep it busy for a moment: retry while it has no
 * child directories; a new container's directory ends the attempt (it is in use again).
 */
export async function removeSharedParent(childDir: string, mount: string): Promise<void> {
  const parent = join(childDir, "..");
  if (!parent.endsWith("/berth") || parent.length <= mount.length) return;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      if (readdirSync(parent, { withFileTypes: true }).some((e) => e.isDirectory())) return;
      rmdirSync(parent);
      return;
    } catch (err) {
      if (!isErrno(err, "EBUSY")) return;
      await sleep(25);
    }
  }
}

/** Removes a cgroup directory tree children first, retrying while exiting processes linger. */
export async function removeCgroupDir(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory()) await removeCgroupDir(join(dir, entry.name));
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (isErrno(err, "ENOENT")) return;
      if (!isErrno(err, "EBUSY") || attempt >= 100)
        throw new SystemError(`remove cgroup ${dir}: ${errorText(err)}`, { cause: err });
      await sleep(Math.min(2 ** attempt, 50));
    }
  }
}

export class V1Cgroup implements Cgroup {
  readonly version = 1;
  private readonly dirs: { h: V1Hierarchy; dir: string }[];

  constructor(
    readonly path: string,
    hierarchies: V1Hierarchy[] = hostLayout().v1,
  ) {
    this.dirs = hierarchies.map((h) => ({ h, dir: join(h.mount, resolveCgroupPath(path, h.own)) }));
  }

  private dirOf(controller: string): string | undefined {
    return this.dirs.find((d) => d.h.controllers.includes(controller))?.dir;
  }

  create(): void {
    for (const { h, dir } of this.dirs)
      racingParentRemoval(() =>
        h.controllers.includes("cpuset") ? this.createCpuset(h, dir) : mkdirSync(dir, { recursive: true }),
      );
  }

  /** A new cpuset cgroup starts with empty cpus and mems, and no process may join it until they
   * are set: copy them down from the nearest parent that has them. */
  private createCpuset(h: V1Hierarchy, dir: string): void {
    const missing: string[] = [];
    for (let d = dir; d.length > h.mount.length && !existsSync(d); d = join(d, "..")) missing.unshift(d);
    for (const d of missing) {
      try {
        mkdirSync(d);
      } catch (err) {
        if (!isErrno(err, "EEXIST")) throw err; // another process made it meanwhile
      }
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        const value = readOr(join(d, "..", file)).trim();
        if (value && !readOr(join(d, file)).trim()) writeCgroupFile(join(d, file), value);
      }
    }
  }

  apply(resources: LinuxResources): void {
    const writes = v1Writes(resources);
    for (let i = 0; i < writes.length; i++) {
      const w = writes[i]!;
      const next = writes[i + 1];
      try {
        this.write(w);
      } catch (err) {
        // Raising a limit above the current memsw: memsw must go first (see resources.ts).
        if (w.file === "memory.limit_in_bytes" && next?.file === "memory.memsw.limit_in_bytes") {
          this.write(next);
          this.write(w);
          i++;
          continue;
        }
        throw err;
      }
    }
  }

  private write(w: CgroupWrite): void {
    const dir = this.dirOf(w.controller);
    if (!dir) {
      if (w.optional) return;
      throw new SystemError(
        `the ${w.controller} cgroup controller is not available on this host (needed for ${w.file})`,
      );
    }
    const file = join(dir, w.file);
    if (w.optional && !existsSync(file)) return;
    writeCgroupFile(file, w.value);
  }

  /**
   * A move into a v1 cgroup waits for an RCU grace period after an idle spell (about 10 ms here):
   * the writes go to the thread pool together, so that they share that wait and the daemon's
   * event loop serves other requests meanwhile.
   */
  async addProcess(pid: number): Promise<void> {
    await Promise.all(
      this.dirs.map(({ dir }) => writeCgroupFileAsync(join(dir, "cgroup.procs"), String(pid))),
    );
  }

  selfJoinFiles(): string[] {
    return this.dirs.map(({ dir }) => join(dir, "tasks"));
  }

  processes(): number[] {
    const dir = this.dirOf("pids") ?? this.dirs[0]?.dir;
    return dir ? pidsIn(join(dir, "cgroup.procs")) : [];
  }

  async freeze(): Promise<void> {
    const dir = this.dirOf("freezer");
    if (!dir) throw new SystemError("the freezer cgroup controller is not available on this host");
    writeCgroupFile(join(dir, "freezer.state"), "FROZEN");
    for (let i = 0; readOr(join(dir, "freezer.state")).trim() !== "FROZEN"; i++) {
      if (i > 500) throw new SystemError(`freeze ${dir}: processes did not stop`);
      await sleep(2);
    }
  }

  thaw(): void {
    const dir = this.dirOf("freezer");
    if (dir) writeCgroupFile(join(dir, "freezer.state"), "THAWED");
  }

  isFrozen(): boolean {
    const dir = this.dirOf("freezer");
    return dir ? readOr(join(dir, "freezer.state")).trim() === "FROZEN" : false;
  }

  oomKillCount(): number {
    const dir = this.dirOf("memory");
    return dir ? (parseKeyValues(readOr(join(dir, "memory.oom_control")))["oom_kill"] ?? 0) : 0;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const cpuacct = this.dirOf("cpuacct");
    if (cpuacct) {
      s.cpu.usage.total = parseNumber(readOr(join(cpuacct, "cpuacct.usage")));
      s.cpu.usage.percpu = readOr(join(cpuacct, "cpuacct.usage_percpu"))
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
      const stat = parseKeyValues(readOr(join(cpuacct, "cpuacct.stat")));
      s.cpu.usage.user = (stat["user"] ?? 0) * TICKS_TO_NS;
      s.cpu.usage.kernel = (stat["system"] ?? 0) * TICKS_TO_NS;
    }
    const cpu = this.dirOf("cpu");
    if (cpu) {
      const stat = parseKeyValues(readOr(join(cpu, "cpu.stat")));
      s.cpu.throttling = {
        periods: stat["nr_periods"] ?? 0,
        throttled_periods: stat["nr_throttled"] ?? 0,
        throttled_time: stat["throttled_time"] ?? 0,
      };
    }
    const mem = this.dirOf("memory");
    if (mem) {
      const entry = (prefix: string) => ({
        usage: parseNumber(readOr(join(mem, `${prefix}.usage_in_bytes`))),
        max: parseNumber(readOr(join(mem, `${prefix}.max_usage_in_bytes`))),
        limit: parseNumber(readOr(join(mem, `${prefix}.limit_in_bytes`))),
        failcnt: parseNumber(readOr(join(mem, `${prefix}.failcnt`))),
      });
      s.memory.usage = entry("memory");
      s.memory.swap = entry("memory.memsw");
      s.memory.kernel = entry("memory.kmem");
      s.memory.raw = parseKeyValues(readOr(join(mem, "memory.stat")));
      s.memory.cache = s.memory.raw["total_cache"] ?? s.memory.raw["cache"] ?? 0;
    }
    const pids = this.dirOf("pids");
    if (pids)
      s.pids = {
        current: parseNumber(readOr(join(pids, "pids.current"))),
        limit: parseNumber(readOr(join(pids, "pids.max"))),
      };
    const blkio = this.dirOf("blkio");
    if (blkio) {
      s.blkio.ioServiceBytesRecursive = parseBlkio(
        readOr(join(blkio, "blkio.throttle.io_service_bytes_recursive")),
      );
      s.blkio.ioServicedRecursive = parseBlkio(readOr(join(blkio, "blkio.throttle.io_serviced_recursive")));
    }
    return s;
  }

  async killAll(): Promise<void> {
    const frozen = this.dirOf("freezer") !== undefined;
    // Freeze first so that nothing forks between reading the pid list and killing it.
    if (frozen) await this.freeze().catch(() => {});
    for (const pid of this.processes()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    if (frozen) this.thaw();
  }

  async destroy(): Promise<void> {
    for (const { h, dir } of this.dirs) {
      await removeCgroupDir(dir);
      await removeSharedParent(dir, h.mount);
    }
  }

  mountSources(): CgroupMountSource[] {
    return this.dirs.map(({ h, dir }) => {
      const name = h.mount.slice(h.mount.lastIndexOf("/") + 1);
      const aliases = name.includes(",") ? name.split(",") : [];
      return { name, hostPath: dir, aliases };
    });
  }
}
