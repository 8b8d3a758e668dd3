/**
 * A container without a mount namespace of its own mounts into the runtime's namespace (the
 * host's): those mounts are found under its root in /proc/self/mountinfo and detached at delete.
 */
import { spawnSync } from "node:child_process";
import { SystemError } from "../errors.js";
import { mountPoints } from "./host.js";

export function mountsUnder(root: string, mountinfo?: string): string[] {
  const prefix = root.replace(/\/$/, "");
  return mountPoints(mountinfo)
    .filter((mp) => mp === prefix || mp.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

export function unmountUnder(root: string): void {
  for (const mp of mountsUnder(root)) {
    // -l (MNT_DETACH): a busy mount still leaves the tree now and goes when its last user does.
    const r = spawnSync("umount", ["-l", mp], { encoding: "utf8" });
    if (r.status !== 0 && mountsUnder(mp).includes(mp))
      throw new SystemError(`unmount ${mp}: ${(r.stderr || r.error?.message || "").trim()}`);
  }
}

/**
 * Makes `dir` a mount point of its own and shared (recursively): a mount that a process in
 * another mount namespace makes below its peer there (a volume plugin's PropagatedMount) appears
 * here too. One mount(8) call does both; undo with unmountUnder.
 */
export function bindShared(dir: string): void {
  unmountUnder(dir);
  const r = spawnSync("mount", ["--bind", "--make-rshared", dir, dir], { encoding: "utf8" });
  if (r.status !== 0)
    throw new SystemError(`bind ${dir} onto itself, shared: ${(r.stderr || r.error?.message || "").trim()}`);
}
