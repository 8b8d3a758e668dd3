/**
 * Reading a container's files before it runs, through its snapshot's layers: /etc/passwd for
 * `--user`, and an image directory to fill a new volume with (Docker copies it in at first use).
 */
import { spawnSync } from "node:child_process";
import { lstatSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { SystemError } from "../errors.js";
import { withMounted } from "../snapshot/mount.js";
import type { Mount } from "../snapshot/snapshotter.js";

/** The directories of a snapshot, top (writable) first. */
export function layerDirs(mounts: Mount[]): string[] {
  const m = mounts[0];
  if (!m) return [];
  if (m.type !== "overlay") return [m.source];
  const base = m.cwd ?? "/";
  const abs = (p: string) => (isAbsolute(p) ? p : join(base, p));
  const opt = (key: string) => m.options.find((o) => o.startsWith(`${key}=`))?.slice(key.length + 1);
  const upper = opt("upperdir");
  const lower = (opt("lowerdir") ?? "").split(":").filter(Boolean);
  return [...(upper ? [upper] : []), ...lower].map(abs);
}

/** A regular file's content as the container would see it, or undefined if it has none. */
export function readLayeredFile(mounts: Mount[], path: string): string | undefined {
  for (const dir of layerDirs(mounts)) {
    const p = join(dir, path);
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    // An overlay whiteout (a 0/0 character device) hides the file of every layer below.
    if (st.isCharacterDevice() && st.rdev === 0) return undefined;
    if (!st.isFile()) return undefined;
    return readFileSync(p, "utf8");
  }
  return undefined;
}

/** Copies what the image has at `path` (if anything) into an empty volume directory. */
export async function fillVolume(mounts: Mount[], path: string, volumeDir: string): Promise<void> {
  const present = layerDirs(mounts).some((d) => {
    try {
      return lstatSync(join(d, path)).isDirectory();
    } catch {
      return false;
    }
  });
  if (!present) return;
  await withMounted(mounts, async (root) => {
    // cp -a keeps owners, modes, times, links and xattrs, as Docker's copy does.
    const r = spawnSync("cp", ["-a", "--", `${join(root, path)}/.`, volumeDir], { encoding: "utf8" });
    if (r.status !== 0)
      throw new SystemError(`copy ${path} from the image into the volume: ${r.stderr.trim()}`);
  });
}
