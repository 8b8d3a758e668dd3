/**
 * Test fixtures built from Debian's busybox-static: a root filesystem, and OCI bundles around it.
 * The rootfs is built once per test process in a cache directory and copied per bundle (2 MB),
 * so that tests may write to their root freely.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

let cachedRootfs: string | undefined;

/** Writes a minimal busybox root filesystem into `dir` (created if missing). */
export function makeBusyboxRootfs(dir: string): void {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: apt-get install busybox-static`);
  for (const sub of [
    "bin",
    "sbin",
    "etc",
    "proc",
    "sys",
    "dev",
    "tmp",
    "root",
    "usr/bin",
    "usr/sbin",
    "var",
    "home",
  ])
    mkdirSync(join(dir, sub), { recursive: true });
  copyFileSync(BUSYBOX, join(dir, "bin/busybox"));
  execFileSync("chmod", ["0755", join(dir, "bin/busybox")]);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet === "busybox") continue;
    const link = join(dir, "bin", applet);
    if (!existsSync(link)) symlinkSync("busybox", link);
  }
  writeFileSync(
    join(dir, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  writeFileSync(join(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  writeFileSync(join(dir, "etc/hostname"), "busybox\n");
  execFileSync("chmod", ["1777", join(dir, "tmp")]);
}

/** A shared, read-only-by-convention busybox rootfs for this test process. */
export function busyboxRootfs(): string {
  if (!cachedRootfs) {
    cachedRootfs = mkdtempSync(join(tmpdir(), "berth-test-rootfs-"));
    // mkdtemp makes it 0700; a root filesystem is 0755 (other users and user namespaces walk it).
    chmodSync(cachedRootfs, 0o755);
    makeBusyboxRootfs(cachedRootfs);
    process.on("exit", () => rmSync(cachedRootfs!, { recursive: true, force: true }));
  }
  return cachedRootfs;
}

/** A fresh directory holding a private copy of the busybox rootfs at `<dir>/rootfs`. */
export function busyboxBundleDir(prefix = "berth-test-bundle-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cpSync(busyboxRootfs(), join(dir, "rootfs"), { recursive: true, verbatimSymlinks: true });
  return dir;
}
