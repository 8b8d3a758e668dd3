/**
 * `create`: everything up to the point where the container's process waits to be started.
 * All input is checked and the plan computed before anything is made; after that, a failure
 * takes back what was made (process, cgroup, state directory).
 */
import { rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { errorText, InvalidArgument, SystemError } from "../errors.js";
import type { Spec, State } from "../oci/runtime-spec.js";
import { OCI_VERSION } from "../oci/runtime-spec.js";
import { readSpec } from "../oci/spec-file.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { defaultCgroupPath, openCgroup, selfJoinFiles, systemdCgroupPath } from "./cgroups/index.js";
import { planContainer, rootfsPath } from "./container-plan.js";
import type { RuntimeContext } from "./context.js";
import { resourcesWithDeviceRules } from "./device-rules.js";
import { runHooks } from "./hooks.js";
import { realHost } from "./host.js";
import { unmountUnder } from "./host-mounts.js";
import { formatIdMap, writeIdMaps } from "./idmap.js";
import { CLONE } from "./linux.js";
import type { FrameChannel } from "./native/channel.js";
import { killQuietly, type LaunchOptions, launchMonitor, type MonitorProcess } from "./native/monitor.js";
import type { NativePlan } from "./native/plan.js";
import type { RootfsMount } from "./rootfs.js";
import { type ContainerRecord, processStartTime, validateId } from "./state.js";

export interface CreateOptions {
  bundle: string;
  /** The config; read from <bundle>/config.json when absent. */
  spec?: Spec;
  consoleSocket?: string;
  pidFile?: string;
  /** Where the container's stdio goes: the caller's ("inherit", the OCI CLI), pipes held by the
   * monitor (logged, attachable), or /dev/null. */
  stdio?: NativePlan["stdio"];
  stdinOpen?: boolean;
  log?: NativePlan["log"];
  /** Mount this as the root instead of binding root.path onto itself (the engine's overlay). */
  rootfsMount?: RootfsMount;
  /** Directories to create in the root before the process starts. */
  ensureDirectories?: string[];
  /** Keep the monitor's fd-3 channel open in the returned handle (to start and wait without a
   * round trip through the control socket). */
  keepChannel?: boolean;
  /**
   * The caller reaps the process, as a containerd shim or conmon does with runc: no monitor stays
   * once it runs, and no exit is recorded (the status is the reaper's).
   */
  handoff?: boolean;
  /** cgroupsPath is systemd's "slice:prefix:name" (runc --systemd-cgroup). */
  systemdCgroup?: boolean;
}

export interface CreatedContainer {
  id: string;
  /** Settings adjusted rather than refused, for the caller to show. */
  warnings: string[];
  pid: number;
  monitor: MonitorProcess;
  channel?: FrameChannel;
}

function writeOomScoreAdj(pid: number, value: number): void {
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, String(value));
  } catch (err) {
    throw new SystemError(
      `process.oomScoreAdj: write ${value} to /proc/${pid}/oom_score_adj: ${errorText(err)} (lowering it needs CAP_SYS_RESOURCE)`,
    );
  }
}

export async function createContainer(
  ctx: RuntimeContext,
  id: string,
  options: CreateOptions,
): Promise<CreatedContainer> {
  validateId(id);
  const bundle = resolve(options.bundle);
  const spec = options.spec ?? readSpec(bundle);
  const cgroupPath = options.systemdCgroup
    ? systemdCgroupPath(spec.linux?.cgroupsPath, id)
    : spec.linux?.cgroupsPath || defaultCgroupPath(id);
  if (options.handoff && spec.process?.terminal && !options.consoleSocket)
    throw new InvalidArgument(
      "process.terminal: a container whose runtime does not stay needs --console-socket to receive its terminal",
    );
  const cgroup = openCgroup(cgroupPath);
  const stdio = options.stdio ?? "inherit";
  const warnings: string[] = [];
  const plan = planContainer(spec, {
    warn: (w) => warnings.push(w),
    bundle,
    host: realHost,
    cgroupMounts: (spec.mounts ?? []).some((m) => m.type === "cgroup") ? cgroup.mountSources() : [],
    controlSocket: ctx.dir.controlSocket(id),
    exitFile: ctx.dir.exitPath(id),
    stdio,
    ...(options.consoleSocket ? { consoleSocket: resolve(options.consoleSocket) } : {}),
    ...(options.stdinOpen ? { stdinOpen: true } : {}),
    ...(options.log ? { log: options.log } : {}),
    ...(options.rootfsMount ? { rootfsMount: options.rootfsMount } : {}),
    ...(options.ensureDirectories ? { ensureDirectories: options.ensureDirectories } : {}),
  });
  if (options.handoff) plan.handoff = true;
  const userns = (plan.newNamespaces & CLONE.NEWUSER) !== 0;
  const maps = userns
    ? {
        uid: formatIdMap(spec.linux?.uidMappings ?? [], "linux.uidMappings"),
        gid: formatIdMap(spec.linux?.gidMappings ?? [], "linux.gidMappings"),
      }
    : undefined;
  const resources = resourcesWithDeviceRules(spec);
  const selfJoin = selfJoinFiles(cgroup, resources.pids?.limit);
  if (selfJoin) plan.cgroupSelfJoin = selfJoin;
  const hostMounts = !(spec.linux?.namespaces ?? []).some((n) => n.type === "mount");

  const dir = ctx.dir.claim(id);
  let pid = 0;
  let monitor: MonitorProcess | undefined;
  const state = (status: State["status"]): State => ({
    ociVersion: OCI_VERSION,
    id,
    status,
    pid,
    bundle,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  });
  try {
    cgroup.create();
    cgroup.apply(resources);
    const monitorStdio: LaunchOptions["stdio"] = stdio === "inherit" ? "inherit" : "ignore";
    // The cgroup join can take a while (v1: an RCU grace period). Without a cgroup namespace, which
    // must be made inside the cgroup, the process sets up its root meanwhile; it joins before any
    // hook sees it and before create returns, and it cannot exec before start (waitStart).
    const cgroupns = (plan.newNamespaces & CLONE.NEWCGROUP) !== 0;
    let joined: Promise<void> = Promise.resolve();
    const launched = await launchMonitor(
      plan,
      {
        onSpawn(m) {
          monitor = m;
        },
        async onPid(p) {
          pid = p;
          if (maps) writeIdMaps(p, maps.uid, maps.gid);
          joined = selfJoin ? Promise.resolve() : cgroup.addProcess(p);
          joined.catch(() => {}); // awaited below; not unhandled meanwhile
          if (cgroupns) await joined;
          if (spec.process?.oomScoreAdj !== undefined) writeOomScoreAdj(p, spec.process.oomScoreAdj);
          return JSON.stringify(state("created"));
        },
        async onSync() {
          await joined;
          await runHooks(spec.hooks?.prestart, state("created"), "prestart");
          await runHooks(spec.hooks?.createRuntime, state("created"), "createRuntime");
        },
      },
      { stdio: monitorStdio, ...(ctx.spawner ? { spawner: ctx.spawner } : {}) },
    );
    await joined;
    const startTime = processStartTime(pid);
    if (startTime === undefined) throw new SystemError(`the container process ${pid} exited during create`);
    const record: ContainerRecord = {
      id,
      bundle,
      pid,
      pidStartTime: startTime,
      monitorPid: launched.monitor.pid,
      monitorStartTime: processStartTime(launched.monitor.pid) ?? 0,
      created: new Date().toISOString(),
      started: false,
      cgroupPath: cgroup.path,
      cgroupVersion: cgroup.version,
      spec,
      ...(hostMounts ? { hostMountsUnder: rootfsPath(spec, bundle) } : {}),
    };
    ctx.dir.save(record);
    if (options.pidFile) writeFileAtomicSync(resolve(options.pidFile), String(pid));
    if (!options.keepChannel) launched.channel.close();
    launched.monitor.unref();
    return {
      id,
      warnings,
      pid,
      monitor: launched.monitor,
      ...(options.keepChannel ? { channel: launched.channel } : {}),
    };
  } catch (err) {
    if (pid > 0) killQuietly(pid);
    if (monitor) await monitor.exited(5000);
    await cgroup.destroy().catch(() => {});
    if (hostMounts) unmountUnder(rootfsPath(spec, bundle));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
