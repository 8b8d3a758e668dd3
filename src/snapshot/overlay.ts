/**
 * The overlayfs snapshotter: every committed snapshot (an image layer, keyed by its chain ID) is
 * a directory stored once and shared; an active snapshot is an upper and a work directory over
 * its parents as lowerdirs. Snapshot directories have short random names (16 characters), and
 * when the absolute paths of a deep chain would overflow the one page (4096 bytes) that mount(2)
 * copies its options into, the description switches to paths relative to `snapshots/` and asks
 * to be mounted from there (Docker's overlay2 does the same with its `l/` links for its long
 * names; short names make the links unnecessary): 150 layers take about 2.7 KiB.
 */
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { DirSnapshotter } from "./dir-snapshotter.js";
import type { SnapshotRecord } from "./metadata.js";
import type { Mount } from "./snapshotter.js";

export const PAGE_SIZE = 4096;

export interface OverlayPlan {
  /** `<root>/snapshots`, the directory relative paths start from. */
  snapshotsDir: string;
  /** Snapshot directory names, topmost first. */
  lowers: string[];
  /** The active snapshot's directory name; none for a read-only view. */
  upper?: string;
}

/** The mount description for one overlay: absolute paths when they fit, relative otherwise. */
export function overlayMount(plan: OverlayPlan): Mount {
  const build = (prefix: string): string[] => {
    const options = [`lowerdir=${plan.lowers.map((id) => `${prefix}${id}/fs`).join(":")}`];
    if (plan.upper) options.push(`upperdir=${prefix}${plan.upper}/fs`, `workdir=${prefix}${plan.upper}/work`);
    // index=off: Berth never exports layers over NFS or relies on hard links across layers,
    // and with the index on, moving a layer set between hosts breaks the mount.
    options.push("index=off");
    return options;
  };
  const absolute = build(`${plan.snapshotsDir}/`);
  if (absolute.join(",").length < PAGE_SIZE) return { type: "overlay", source: "overlay", options: absolute };
  return { type: "overlay", source: "overlay", options: build(""), cwd: plan.snapshotsDir };
}

export class OverlaySnapshotter extends DirSnapshotter {
  readonly name = "overlayfs";
  readonly unpackWithoutParent = true;
  readonly whiteouts = "overlay" as const;

  protected async create(record: SnapshotRecord): Promise<void> {
    const dir = this.meta.dir(record.id);
    await mkdir(join(dir, "fs"), { mode: 0o755 });
    if (record.kind === "active") await mkdir(join(dir, "work"), { mode: 0o700 });
  }

  protected override async onCommit(record: SnapshotRecord): Promise<void> {
    await rm(join(this.meta.dir(record.id), "work"), { recursive: true, force: true });
  }

  protected describe(chain: SnapshotRecord[]): Mount[] {
    const [self, ...parents] = chain;
    const snapshotsDir = join(this.root, "snapshots");
    const ro = self!.kind !== "active";
    if (ro) {
      if (parents.length === 0) return [];
      if (parents.length === 1)
        return [{ type: "bind", source: this.fsDir(parents[0]!), options: ["ro", "rbind"] }];
      return [overlayMount({ snapshotsDir, lowers: parents.map((p) => p.id) })];
    }
    if (parents.length === 0) return [{ type: "bind", source: this.fsDir(self!), options: ["rw", "rbind"] }];
    return [overlayMount({ snapshotsDir, lowers: parents.map((p) => p.id), upper: self!.id })];
  }
}
