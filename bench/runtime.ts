/**
 * Runtime scenario (issue 2): create + start + wait + delete of /bin/true in one busybox bundle,
 * by plain fork+exec, unshare(1), runc, crun, the berth-runtime CLI and the Runtime library
 * (the path the daemon uses: no Node start-up per container). Also the monitor's memory.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Spec } from "../src/oci/runtime-spec.js";
import { detectCgroupVersion } from "../src/runtime/cgroups/index.js";
import { waitExited } from "../src/runtime/native/monitor.js";
import { Runtime } from "../src/runtime/runtime.js";
import { busyboxBundleDir, busyboxRootfs } from "../test/helpers/busybox.js";
import { startDockerd } from "../test/helpers/dockerd.js";
import { RUNTIME_LAUNCHER } from "../test/helpers/runtime.js";
import { commandWorks, type Scenario, timeCommand } from "./harness.js";

const BERTH_RUNTIME = fileURLToPath(new URL("../../bin/berth-runtime.cjs", import.meta.url));

function makeBundle(): string {
  const bundle = busyboxBundleDir("berth-bench-bundle-");
  // The peers' own default config, so that every runtime reads the same file.
  const r = spawnSync("runc", ["spec"], { cwd: bundle });
  if (r.status !== 0) throw new Error("runc spec failed: is runc installed?");
  const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as Spec;
  spec.process!.terminal = false;
  spec.process!.args = ["/bin/true"];
  writeFileSync(join(bundle, "config.json"), JSON.stringify(spec, null, 2));
  return bundle;
}

/** crun on a hybrid host: in a mount namespace of its own, without the cgroup2 mount (sh -c). */
const CRUN_ON_HYBRID = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun "$@"';

function crunRun(root: string, bundle: string, id: string): [string, string[]] {
  const args = ["--root", root, "run", "-b", bundle, id];
  if (detectCgroupVersion() === 2) return ["crun", args];
  return ["unshare", ["-m", "sh", "-c", CRUN_ON_HYBRID, "crun", ...args]];
}

export function runtimeScenario(): Scenario {
  const bundle = makeBundle();
  const roots = {
    runc: mkdtempSync("/run/berth-bench-runc-"),
    crun: mkdtempSync("/run/berth-bench-crun-"),
    berth: mkdtempSync("/run/berth-bench-"),
  };
  const runtime = new Runtime({ root: roots.berth });
  let n = 0;
  const id = (p: string) => `${p}-${process.pid}-${++n}`;
  return {
    name: "runtime",
    description: "create+start+wait+delete of /bin/true in the same busybox bundle",
    baseline: "runc run",
    repetitions: 15,
    variants: [
      { name: "fork+exec /bin/true", run: () => timeCommand("/bin/true", []) },
      {
        name: "unshare all namespaces",
        setup: () => commandWorks("unshare", ["-fmuipnC", "--mount-proc", "true"]),
        run: () => timeCommand("unshare", ["-fmuipnC", "--mount-proc", "true"]),
      },
      {
        name: "runc run",
        setup: () => commandWorks("runc", ["--version"]),
        run: () => timeCommand("runc", ["--root", roots.runc, "run", "-b", bundle, id("runc")]),
      },
      {
        // crun refuses hybrid cgroup hosts unless the cgroup2 mount is out of its sight: it runs
        // in a private mount namespace without it (unshare and sh add about 2 ms).
        name: "crun run",
        setup: () => commandWorks(...crunRun(roots.crun, bundle, id("crun"))),
        run: () => timeCommand(...crunRun(roots.crun, bundle, id("crun"))),
      },
      {
        name: "berth-runtime run (CLI)",
        run: () =>
          timeCommand(process.execPath, [
            BERTH_RUNTIME,
            "--root",
            roots.berth,
            "run",
            "-b",
            bundle,
            id("cli"),
          ]),
      },
      {
        name: "berth Runtime library",
        async run() {
          const t0 = process.hrtime.bigint();
          const c = id("lib");
          const created = await runtime.create(c, { bundle, stdio: "null", keepChannel: true });
          await runtime.start(c, created.channel);
          await waitExited(created.channel!);
          created.channel!.close();
          await runtime.delete(c);
          return Number(process.hrtime.bigint() - t0) / 1e6;
        },
      },
    ],
    async extras() {
      // Monitor memory: ten sleeping containers, the monitors' resident and proportional sizes.
      const ids = Array.from({ length: 10 }, () => id("rss"));
      const sleeper = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")) as Spec;
      sleeper.process!.args = ["sleep", "60"];
      const monitors: number[] = [];
      for (const c of ids) {
        const created = await runtime.create(c, { bundle, spec: sleeper, stdio: "null" });
        await runtime.start(c);
        monitors.push(created.monitor.pid!);
      }
      const field = (pid: number, file: string, name: string) =>
        Number(
          readFileSync(`/proc/${pid}/${file}`, "utf8").match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1] ??
            0,
        );
      const rss = monitors.map((p) => field(p, "status", "VmRSS"));
      const pss = monitors.map((p) => field(p, "smaps_rollup", "Pss"));
      for (const c of ids) await runtime.delete(c, true);
      for (const dir of [...Object.values(roots), bundle]) rmSync(dir, { recursive: true, force: true });
      const avg = (v: number[]) => (v.reduce((a, b) => a + b, 0) / v.length).toFixed(0);
      return {
        "berth-monitor RSS per container": `${avg(rss)} KiB (containerd-shim: ~13 MiB on this machine, per the issue)`,
        "berth-monitor PSS per container": `${avg(pss)} KiB`,
      };
    },
  };
}

/**
 * One dockerd with three runtimes: `docker run --rm --runtime X busybox true`, runc (dockerd's
 * own), berth-runtime (issue 13, section 5) and crun where it is installed. The whole path is
 * timed: CLI, dockerd, containerd, the shim, then the runtime's create, start and delete.
 */
export async function dockerdRuntimeScenario(): Promise<Scenario> {
  const runtimes: Record<string, string> = { berth: RUNTIME_LAUNCHER };
  const crun = spawnSync("sh", ["-c", "command -v crun"], { encoding: "utf8" }).stdout.trim();
  const wrappers = mkdtempSync(join(tmpdir(), "berth-bench-crun-"));
  if (crun && detectCgroupVersion() === 2) runtimes["crun"] = crun;
  else if (crun) {
    // The shim runs the runtime by path: a wrapper gives crun its mount namespace (see crunRun).
    const wrapper = join(wrappers, "crun");
    writeFileSync(wrapper, `#!/bin/sh\nexec unshare -m sh -c '${CRUN_ON_HYBRID}' crun "$@"\n`, {
      mode: 0o755,
    });
    runtimes["crun"] = wrapper;
  }
  const dockerd = await startDockerd({ runtimes });
  if (!dockerd) rmSync(wrappers, { recursive: true, force: true }); // no teardown will run
  const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 1 << 28 }).stdout;
  await dockerd?.docker(["import", "-", "busybox:latest"], tar);
  const docker = (runtime: string) =>
    timeCommand("docker", [
      "-H",
      `unix://${dockerd!.socket}`,
      "run",
      "--rm",
      "--network",
      "none",
      "--runtime",
      runtime,
      "busybox",
      "true",
    ]);
  const available = (name: string) => () =>
    !dockerd
      ? "dockerd is not installed or does not start here"
      : name in runtimes || name === "runc"
        ? undefined
        : `${name} is not installed`;
  return {
    name: "dockerd-runtime",
    description: "`docker run --rm --runtime X busybox true` through one dockerd",
    baseline: "--runtime runc",
    repetitions: 15,
    variants: [
      { name: "--runtime runc", setup: available("runc"), run: () => docker("runc") },
      { name: "--runtime crun", setup: available("crun"), run: () => docker("crun") },
      {
        name: "--runtime berth",
        setup: available("berth"),
        run: () => docker("berth"),
        teardown: async () => {
          await dockerd?.stop();
          rmSync(wrappers, { recursive: true, force: true });
        },
      },
    ],
  };
}
