/**
 * The copying snapshotter, for filesystems where overlayfs is unavailable (overlay on overlay,
 * some network filesystems): each snapshot is a full copy of its parent's tree, made with
 * `cp -a --reflink=auto` (a cheap clone on btrfs and XFS), and mounted as a bind mount. Layers
 * are unpacked over the copy with whiteouts applied as deletions.
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { DirSnapshotter } from "./dir-snapshotter.js";
import { SnapshotSystemError } from "./errors.js";
import type { SnapshotRecord } from "./metadata.js";
import type { Mount } from "./snapshotter.js";

const run = promisify(execFile);

export class CopySnapshotter extends DirSnapshotter {
  readonly name = "copy";
  readonly unpackWithoutParent = false;
  readonly whiteouts = "apply" as const;

  protected async create(record: SnapshotRecord, parent: SnapshotRecord | undefined): Promise<void> {
    // A view shares its parent's tree read-only; only writable snapshots need their own.
    if (record.kind === "view") return;
    const fs = join(this.meta.dir(record.id), "fs");
    if (!parent) {
      await mkdir(fs, { mode: 0o755 });
      return;
    }
    try {
      await run("cp", ["-a", "--reflink=auto", this.fsDir(parent), fs]);
    } catch (err) {
      throw new SnapshotSystemError(
        `copy snapshot ${parent.key} for ${record.key}: ${(err as { stderr?: string }).stderr ?? err}`,
      );
    }
  }

  protected describe(chain: SnapshotRecord[]): Mount[] {
    const [self, parent] = chain;
    if (self!.kind !== "view") return [{ type: "bind", source: this.fsDir(self!), options: ["rw", "rbind"] }];
    return parent ? [{ type: "bind", source: this.fsDir(parent), options: ["ro", "rbind"] }] : [];
  }
}
