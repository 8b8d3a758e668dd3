/** The real host behind rootfs.ts's HostView. */
import { readFileSync, statSync } from "node:fs";
import type { HostView } from "./rootfs.js";

/** Mount points from /proc/self/mountinfo (field 5), with octal escapes decoded. */
export function mountPoints(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  return mountinfo
    .split("\n")
    .filter(Boolean)
    .map((line) =>
      (line.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o) =>
        String.fromCharCode(Number.parseInt(o, 8)),
      ),
    );
}

export const realHost: HostView = {
  kind(path) {
    try {
      return statSync(path).isDirectory() ? "dir" : "file";
    } catch {
      return undefined;
    }
  },
  mountPointOf(path) {
    let best = "/";
    for (const mp of mountPoints())
      if ((path === mp || path.startsWith(mp === "/" ? "/" : `${mp}/`)) && mp.length > best.length) best = mp;
    return best;
  },
};
