/**
 * A root file system holding the host's node binary (at /node) and the shared libraries ldd
 * lists for it: enough to run a small JavaScript server in a container or a plugin, where the
 * busybox image has no such tool (a UDP server, a volume driver).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

/** The shared libraries (and the loader) a binary needs, as ldd lists them. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8" });
  return [...out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!);
}

export function writeNodeRootfs(rootfs: string): void {
  mkdirSync(rootfs, { recursive: true });
  copyFileSync(process.execPath, join(rootfs, "node"));
  for (const lib of sharedLibraries(process.execPath)) {
    mkdirSync(join(rootfs, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(rootfs, lib));
  }
}
