/**
 * Applies snapshot mount descriptions on the host with mount(8), spawned in the description's
 * cwd when it uses relative paths. The engine usually mounts the rootfs inside the container's
 * mount namespace through the runtime instead; this executor serves tests, commit and export.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, rmdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { SnapshotSystemError } from "./errors.js";
import type { Mount } from "./snapshotter.js";

const run = promisify(execFile);

function explain(err: unknown): string {
  return ((err as { stderr?: string }).stderr ?? String(err)).trim();
}

/** Mounts `mounts` in order on `target`. A read-only bind needs a second, remounting call. */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const bind = m.type === "bind";
    const options = bind ? m.options.filter((o) => o !== "ro" && o !== "rw") : m.options;
    const args = bind ? ["--bind", m.source, target] : ["-t", m.type, m.source, target];
    if (options.length) args.push("-o", options.join(","));
    try {
      await run("mount", args, m.cwd ? { cwd: m.cwd } : {});
      if (bind && m.options.includes("ro")) await run("mount", ["-o", "remount,bind,ro", target]);
    } catch (err) {
      const hint = m.type === "overlay" ? " (is overlayfs available? too many lower directories?)" : "";
      throw new SnapshotSystemError(`mount ${m.type} on ${target}: ${explain(err)}${hint}`);
    }
  }
}

/** How often, and how far apart, an unmount refused as busy is tried again. */
const BUSY_TRIES = 20;
const BUSY_GAP_MS = 50;

/**
 * Unmounts `target`; `recursive`: what is mounted below it too (umount -R). "Busy" is tried
 * again for a second: a process that just ended (a build step's) can hold the mount a moment
 * longer. Not detached lazily: the caller removes the directory next.
 */
export async function unmount(target: string, recursive = false): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await run("umount", recursive ? ["-R", target] : [target]);
      return;
    } catch (err) {
      const why = explain(err);
      if (attempt < BUSY_TRIES && /busy/i.test(why)) {
        await new Promise((r) => setTimeout(r, BUSY_GAP_MS));
        continue;
      }
      throw new SnapshotSystemError(`unmount ${target}: ${why}`);
    }
  }
}

/**
 * Runs `fn` with the snapshot mounted on a temporary directory, unmounted after, with whatever
 * `fn` mounted below it.
 */
export async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "berth-mnt-"));
  try {
    await mountAll(mounts, dir);
  } catch (err) {
    await rmdir(dir).catch(() => {});
    throw err;
  }
  try {
    return await fn(dir);
  } finally {
    // A mount that will not go keeps its directory (its error says why): removing the
    // directory's content then would remove the snapshot's files through the mount.
    await unmount(dir, true);
    await rmdir(dir);
  }
}

/**
 * True when the kernel has overlayfs and it mounts with upper and work directories on the
 * filesystem of `dir` (overlay on overlay, or on some network filesystems, does not).
 */
export async function overlaySupported(dir: string): Promise<boolean> {
  const text = await readFile("/proc/filesystems", "utf8").catch(() => "");
  if (!/\toverlay$/m.test(text)) return false;
  await mkdir(dir, { recursive: true });
  const probe = await mkdtemp(join(dir, "overlay-probe-"));
  try {
    for (const d of ["lower", "upper", "work", "merged"]) await mkdir(join(probe, d));
    await mountAll(
      [
        {
          type: "overlay",
          source: "overlay",
          options: ["lowerdir=lower", "upperdir=upper", "workdir=work"],
          cwd: probe,
        },
      ],
      join(probe, "merged"),
    );
    await unmount(join(probe, "merged"));
    return true;
  } catch {
    return false;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}
