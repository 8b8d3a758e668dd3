/**
 * What a remapped container reads its files through: idmapped views of the snapshot and volume
 * directories (under <run-root>/userns), one of each per daemon, mounted at start and detached
 * at shutdown. Through a view a file stored as uid 0 is seen as the remapped root, and a file
 * the remapped root creates is stored as uid 0; overlayfs takes such views as its layers
 * (Linux 5.19 or later), so the container's copy-ups are stored unshifted too.
 *
 * A container's overlay keeps private clones of its layers, so detaching a view never disturbs
 * a running container; a daemon that crashed left its views mounted, and the next one replaces
 * them (its mappings may differ).
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { SystemError } from "../errors.js";
import type { Mount } from "../oci/runtime-spec.js";
import { unmountUnder } from "../runtime/host-mounts.js";
import type { Mount as SnapshotMount } from "../snapshot/snapshotter.js";
import { nativeBinary } from "../util/native.js";
import { formatMapArgument, type IdMaps, type UsernsRemap } from "./userns-remap.js";

const run = promisify(execFile);

/** What the engine holds for --userns-remap: the mappings, and the views to read files through. */
export interface RemappedUserns {
  remap: UsernsRemap;
  views: UsernsViews;
}

const viewsDir = (runRoot: string) => join(runRoot, "userns");

export class UsernsViews {
  readonly dir: string;
  /** Real directory → its view. */
  private readonly views: [string, string][];

  constructor(
    runRoot: string,
    sources: { snapshots: string; volumes: string },
    private readonly maps: IdMaps,
  ) {
    this.dir = viewsDir(runRoot);
    this.views = [
      [sources.snapshots, join(this.dir, "snapshots")],
      [sources.volumes, join(this.dir, "volumes")],
    ];
  }

  async mount(): Promise<void> {
    unmountUnder(this.dir);
    for (const [source, view] of this.views) {
      // As the volume store makes its root: others may pass, not list.
      mkdirSync(source, { recursive: true, mode: 0o701 });
      mkdirSync(view, { recursive: true, mode: 0o700 });
      try {
        await run(nativeBinary("berth-idmap"), [
          formatMapArgument(this.maps.uid),
          formatMapArgument(this.maps.gid),
          source,
          view,
        ]);
      } catch (err) {
        const detail = ((err as { stderr?: string }).stderr ?? String(err)).trim();
        throw new SystemError(
          `--userns-remap: an idmapped view of ${source} failed (${detail}); it needs Linux 5.19 or later and a file system with idmapped mounts (ext4, xfs, btrfs, tmpfs)`,
        );
      }
    }
  }

  unmount(): void {
    unmountUnder(this.dir);
  }

  /** The views a crashed daemon with remapping left, for a daemon without it. */
  static detachLeftovers(runRoot: string): void {
    unmountUnder(viewsDir(runRoot));
  }

  /** `path` as seen through a view (unchanged when no view holds it). */
  translate(path: string): string {
    for (const [source, view] of this.views)
      if (path === source || path.startsWith(`${source}/`)) return view + path.slice(source.length);
    return path;
  }

  /** The root mount of a container, with its layers read through the snapshot view. */
  rootfsMount(m: SnapshotMount): SnapshotMount {
    const options = m.options.map((o) => {
      const eq = o.indexOf("=");
      if (eq < 0) return o;
      const key = o.slice(0, eq);
      if (key !== "lowerdir" && key !== "upperdir" && key !== "workdir") return o;
      const paths = o.slice(eq + 1).split(":");
      return `${key}=${paths.map((p) => (p.startsWith("/") ? this.translate(p) : p)).join(":")}`;
    });
    return {
      ...m,
      source: m.type === "bind" ? this.translate(m.source) : m.source,
      options,
      ...(m.cwd ? { cwd: this.translate(m.cwd) } : {}),
    };
  }

  /** Bind mounts of volumes read through the volume view; other mounts unchanged. */
  bindMount(m: Mount): Mount {
    return m.type === "bind" && m.source ? { ...m, source: this.translate(m.source) } : m;
  }
}
