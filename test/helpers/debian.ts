/**
 * A Debian bookworm (minbase) root tree, debootstrapped once from Debian's mirror into
 * /var/cache/berth-debian and kept between runs (a fresh CI machine pays the few minutes
 * once). The pull benchmark splits it into layers; the builder test imports it as a base image.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export const DEBIAN_CACHE = "/var/cache/berth-debian";
export const DEBIAN_TREE = join(DEBIAN_CACHE, "debian-rootfs");

/** The tree's path, debootstrapped first when the cache does not have it. */
export function debianTree(): string {
  if (existsSync(DEBIAN_TREE)) return DEBIAN_TREE;
  mkdirSync(DEBIAN_CACHE, { recursive: true });
  const tmp = `${DEBIAN_TREE}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write("debootstrapping Debian bookworm (minbase) into the cache, once...\n");
  execFileSync("debootstrap", ["--variant=minbase", "bookworm", tmp, "http://deb.debian.org/debian"], {
    stdio: "ignore",
  });
  renameSync(tmp, DEBIAN_TREE);
  return DEBIAN_TREE;
}
