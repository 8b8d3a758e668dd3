/**
 * A berth-runtime fixture for integration tests: a private state root, busybox bundles with a
 * config the test shapes, the CLI run as a user would run it, and cleanup of everything at the end.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultSpec } from "../../src/oci/default-spec.js";
import type { Spec } from "../../src/oci/runtime-spec.js";
import { clampToHost } from "../../src/runtime/rlimits.js";
import { busyboxBundleDir } from "./busybox.js";

export const RUNTIME_BIN = fileURLToPath(new URL("../../../bin/berth-runtime.cjs", import.meta.url));
/** The installed command (`berth-runtime` on the PATH): the sh launcher in front of RUNTIME_BIN. */
export const RUNTIME_LAUNCHER = fileURLToPath(new URL("../../../bin/berth-runtime", import.meta.url));

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

let counter = 0;

export class RuntimeFixture {
  readonly root = mkdtempSync("/run/berth-test-runtime-");
  private readonly bundles: string[] = [];

  /** A unique container id for this test process. */
  id(name = "c"): string {
    return `${name}-${process.pid}-${++counter}`;
  }

  /** A busybox bundle whose config runs `args`, shaped further by `mutate`. */
  bundle(args: string[], mutate: (spec: Spec) => void = () => {}): string {
    const dir = busyboxBundleDir();
    // mkdtemp makes it 0700: a user-namespaced root (an unprivileged uid outside) must get in.
    chmodSync(dir, 0o755);
    this.bundles.push(dir);
    const spec = defaultSpec({ nofile: clampToHost("RLIMIT_NOFILE", 1024) });
    spec.process!.terminal = false;
    spec.process!.args = args;
    spec.root!.readonly = false;
    mutate(spec);
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec, null, 2));
    return dir;
  }

  /**
   * Runs berth-runtime. Its output goes to files, not pipes: a created container inherits the
   * command's stdio (the OCI model) and would hold a pipe open long after the command exits.
   */
  cli(args: string[], options: { timeout?: number; cwd?: string } = {}): CliResult {
    const out = join(this.root, `.out-${process.pid}`);
    const err = join(this.root, `.err-${process.pid}`);
    const fds = [openSync(out, "w"), openSync(err, "w")];
    try {
      const r = spawnSync(process.execPath, [RUNTIME_BIN, "--root", this.root, ...args], {
        stdio: ["ignore", fds[0]!, fds[1]!],
        timeout: options.timeout ?? 30_000,
        ...(options.cwd ? { cwd: options.cwd } : {}),
      });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, stdout: readFileSync(out, "utf8"), stderr: readFileSync(err, "utf8") };
    } finally {
      for (const fd of fds) closeSync(fd);
      rmSync(out, { force: true });
      rmSync(err, { force: true });
    }
  }

  /** Runs the CLI in the background (for `events`, or a container that must keep running). */
  spawnCli(args: string[]) {
    return spawn(process.execPath, [RUNTIME_BIN, "--root", this.root, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** `run` a bundle to completion; returns the CLI result (the container's output and status). */
  run(args: string[], mutate?: (spec: Spec) => void): CliResult {
    const bundle = this.bundle(args, mutate);
    return this.cli(["run", "--bundle", bundle, this.id()]);
  }

  /** Deletes every container left in the root, then the bundles and the root. */
  cleanup(): void {
    const list = this.cli(["list", "-q"]);
    for (const id of list.stdout.split("\n").filter(Boolean)) this.cli(["delete", "--force", id]);
    for (const dir of this.bundles) rmSync(dir, { recursive: true, force: true });
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function ok(r: CliResult, what = "berth-runtime"): CliResult {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}
