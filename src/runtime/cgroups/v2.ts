/**
 * cgroup v2: one directory in the unified hierarchy; controllers must be enabled in every
 * ancestor's cgroup.subtree_control before their files exist in ours.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SystemError } from "../../errors.js";
import type { LinuxResources } from "../../oci/runtime-spec.js";
import type { Cgroup, CgroupMountSource, CgroupStats } from "./cgroup.js";
import { applyDeviceRules } from "./device-attach.js";
import { resolveCgroupPath } from "./hierarchy.js";
import { v2Controllers, v2Writes } from "./resources.js";
import { emptyStats, parseIoStat, parseKeyValues, parseNumber } from "./stats.js";
import {
  pidsIn,
  racingParentRemoval,
  removeCgroupDir,
  removeSharedParent,
  writeCgroupFile,
  writeCgroupFileAsync,
} from "./v1.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

export class V2Cgroup implements Cgroup {
  readonly version = 2;
  readonly dir: string;

  constructor(
    readonly path: string,
    private readonly mount: string,
    own: string,
  ) {
    this.dir = join(mount, resolveCgroupPath(path, own));
  }

  create(): void {
    racingParentRemoval(() => mkdirSync(this.dir, { recursive: true }));
  }

  /** Enables `controllers` from the root down to our parent (those the host has). */
  private enable(controllers: string[]): void {
    const available = new Set(readOr(join(this.mount, "cgroup.controllers")).trim().split(/\s+/));
    const wanted = controllers.filter((c) => available.has(c));
    if (wanted.length === 0) return;
    const parts = this.dir.slice(this.mount.length).split("/").filter(Boolean);
    let dir = this.mount;
    for (const part of parts) {
      const enabled = new Set(readOr(join(dir, "cgroup.subtree_control")).trim().split(/\s+/));
      const missing = wanted.filter((c) => !enabled.has(c));
      if (missing.length)
        writeCgroupFile(join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
      dir = join(dir, part);
    }
  }

  apply(resources: LinuxResources): void {
    const writes = v2Writes(resources);
    this.enable(v2Controllers(writes));
    for (const w of writes) {
      const file = join(this.dir, w.file);
      if (!existsSync(file)) {
        if (w.optional) continue;
        throw new SystemError(
          `${w.file} does not exist in ${this.dir}: the ${w.file.split(".")[0]} controller is not enabled on this host`,
        );
      }
      writeCgroupFile(file, w.value);
    }
    if (resources.devices) applyDeviceRules(this.dir, resources.devices);
  }

  selfJoinFiles(): undefined {
    // A v2 move takes the global lock whoever makes it (cgroup.procs moves whole processes).
    return undefined;
  }

  addProcess(pid: number): Promise<void> {
    return writeCgroupFileAsync(join(this.dir, "cgroup.procs"), String(pid));
  }

  processes(): number[] {
    return pidsIn(join(this.dir, "cgroup.procs"));
  }

  async freeze(): Promise<void> {
    writeCgroupFile(join(this.dir, "cgroup.freeze"), "1");
    for (let i = 0; parseKeyValues(readOr(join(this.dir, "cgroup.events")))["frozen"] !== 1; i++) {
      if (i > 500) throw new SystemError(`freeze ${this.dir}: processes did not stop`);
      await sleep(2);
    }
  }

  thaw(): void {
    writeCgroupFile(join(this.dir, "cgroup.freeze"), "0");
  }

  isFrozen(): boolean {
    return readOr(join(this.dir, "cgroup.freeze")).trim() === "1";
  }

  oomKillCount(): number {
    return parseKeyValues(readOr(join(this.dir, "memory.events")))["oom_kill"] ?? 0;
  }

  stats(): CgroupStats {
    const s = emptyStats();
    const cpu = parseKeyValues(readOr(join(this.dir, "cpu.stat")));
    s.cpu.usage = {
      total: (cpu["usage_usec"] ?? 0) * 1000,
      percpu: [],
      user: (cpu["user_usec"] ?? 0) * 1000,
      kernel: (cpu["system_usec"] ?? 0) * 1000,
    };
    s.cpu.throttling = {
      periods: cpu["nr_periods"] ?? 0,
      throttled_periods: cpu["nr_throttled"] ?? 0,
      throttled_time: (cpu["throttled_usec"] ?? 0) * 1000,
    };
    const events = parseKeyValues(readOr(join(this.dir, "memory.events")));
    s.memory.raw = parseKeyValues(readOr(join(this.dir, "memory.stat")));
    s.memory.cache = s.memory.raw["file"] ?? 0;
    s.memory.usage = {
      usage: parseNumber(readOr(join(this.dir, "memory.current"))),
      max: parseNumber(readOr(join(this.dir, "memory.peak"))),
      limit: parseNumber(readOr(join(this.dir, "memory.max"))),
      failcnt: events["max"] ?? 0,
    };
    s.memory.swap = {
      usage: parseNumber(readOr(join(this.dir, "memory.swap.current"))),
      max: 0,
      limit: parseNumber(readOr(join(this.dir, "memory.swap.max"))),
      failcnt: 0,
    };
    s.pids = {
      current: parseNumber(readOr(join(this.dir, "pids.current"))),
      limit: parseNumber(readOr(join(this.dir, "pids.max"))),
    };
    const io = parseIoStat(readOr(join(this.dir, "io.stat")));
    s.blkio = { ioServiceBytesRecursive: io.bytes, ioServicedRecursive: io.ios };
    return s;
  }

  async killAll(): Promise<void> {
    const kill = join(this.dir, "cgroup.kill");
    if (existsSync(kill)) {
      writeCgroupFile(kill, "1");
      return;
    }
    await this.freeze().catch(() => {});
    for (const pid of this.processes()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    this.thaw();
  }

  async destroy(): Promise<void> {
    await removeCgroupDir(this.dir);
    await removeSharedParent(this.dir, this.mount);
  }

  mountSources(): CgroupMountSource[] {
    return [{ name: "", hostPath: this.dir, aliases: [] }];
  }
}
