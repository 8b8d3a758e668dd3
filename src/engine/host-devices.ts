/** The host's device nodes, for --device and --privileged. */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LinuxDevice } from "../oci/runtime-spec.js";

// glibc's dev_t split. The high halves are beyond 32 bits, where JavaScript's shifts do not
// reach (x >> 32 is x), so divide for them.
const high32 = (rdev: number) => Math.floor(rdev / 2 ** 32);

export function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (high32(rdev) & ~0xfff);
}

export function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

export function hostDevice(path: string): LinuxDevice | undefined {
  try {
    const st = statSync(path);
    if (!st.isCharacterDevice() && !st.isBlockDevice()) return undefined;
    return {
      path,
      type: st.isBlockDevice() ? "b" : "c",
      major: major(st.rdev),
      minor: minor(st.rdev),
      fileMode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
    };
  } catch {
    return undefined;
  }
}

/** Every device under /dev except the pty ones the container makes itself (as Docker's --privileged). */
export function hostDevices(dir = "/dev"): LinuxDevice[] {
  const out: LinuxDevice[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "pts" && entry.name !== "shm" && entry.name !== "mqueue")
        out.push(...hostDevices(path));
    } else if (entry.isCharacterDevice() || entry.isBlockDevice()) {
      if (
        path === "/dev/console" ||
        path === "/dev/ptmx" ||
        (path.startsWith("/dev/tty") && path !== "/dev/tty")
      )
        continue;
      const d = hostDevice(path);
      if (d) out.push(d);
    }
  }
  return out;
}
