/**
 * Reading a container's files before it runs, through its snapshot's layers: /etc/passwd and
 * /etc/group for `--user`, and an image directory to fill a new volume with (Docker copies it
 * in at first use). Layers are images' content, untrusted: they are read through the tree
 * reader, each path resolved inside its layer or its mounted tree.
 */
import { isAbsolute, join } from "node:path";
import { FsOpsBatch } from "../snapshot/fsops.js";
import { withMounted } from "../snapshot/mount.js";
import type { Mount } from "../snapshot/snapshotter.js";
import { copyTree } from "../snapshot/tree-copy.js";
import { bodyBytes, statInTree, withTreeReader } from "../snapshot/tree-reader.js";

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

/** The largest /etc/passwd or /etc/group that a start reads. */
const ETC_FILE_LIMIT = 4 << 20;

/**
 * Regular files' contents as the container would see them (undefined for one it has not): the
 * top layer that has the path decides, an overlay whiteout (a 0/0 character device) hiding it.
 */
export async function readLayeredFiles(mounts: Mount[], paths: string[]): Promise<(string | undefined)[]> {
  const out: (string | undefined)[] = paths.map(() => undefined);
  const pending = new Set(paths.keys());
  await withTreeReader(async (reader) => {
    for (const dir of layerDirs(mounts)) {
      if (!pending.size) return;
      const asked = [...pending];
      let i = 0;
      for await (const e of reader.entriesAt(
        dir,
        asked.map((n) => paths[n]!),
        { content: true, limit: ETC_FILE_LIMIT },
      )) {
        const n = asked[i++]!;
        if (!e) continue;
        pending.delete(n);
        if (e.type === "file" && e.size <= ETC_FILE_LIMIT) out[n] = (await bodyBytes(e)).toString();
      }
    }
  });
  return out;
}

/** Copies what the image has at `path` (if a directory) into an empty volume directory. */
export async function fillVolume(mounts: Mount[], path: string, volumeDir: string): Promise<void> {
  const dirs = layerDirs(mounts);
  // Most images have nothing at a volume's path: a look at the layers spares mounting them.
  const present = await withTreeReader(async (r) => {
    for (const d of dirs) if ((await r.stat(d, path, { follow: true }))?.type === "directory") return true;
    return false;
  });
  if (!present) return;
  await withMounted(mounts, async (root) => {
    if ((await statInTree(root, path, { follow: true }))?.type !== "directory") return;
    // Owners, modes, times, links and attributes kept, the volume's root taking the directory's.
    const ops = new FsOpsBatch(volumeDir);
    try {
      await copyTree(ops, root, path, "", {});
      await ops.finish();
    } catch (err) {
      await ops.abort();
      throw err;
    }
  });
}
