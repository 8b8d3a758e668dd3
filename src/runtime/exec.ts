/** `exec`: run another process in a running container's namespaces and cgroup. */
import { resolve } from "node:path";
import { Conflict, InvalidArgument } from "../errors.js";
import type { NamespaceType, Process } from "../oci/runtime-spec.js";
import { OCI_VERSION } from "../oci/runtime-spec.js";
import { writeFileAtomicSync } from "../util/atomic-file.js";
import { selfJoinFiles } from "./cgroups/index.js";
import type { RuntimeContext } from "./context.js";
import { joinProcessNamespaces } from "./namespaces.js";
import type { FrameChannel } from "./native/channel.js";
import { type LaunchOptions, launchMonitor, type MonitorProcess } from "./native/monitor.js";
import type { NativePlan } from "./native/plan.js";
import { planProcess } from "./process-plan.js";

export interface ExecOptions {
  /** The process to run; callers start from the container's own process and override fields. */
  process: Process;
  consoleSocket?: string;
  pidFile?: string;
  stdio?: NativePlan["stdio"];
  stdinOpen?: boolean;
  log?: NativePlan["log"];
  controlSocket?: string;
  exitFile?: string;
  /** Stop before exec until MSG_START on the channel (to attach to its output from the start). */
  waitStart?: boolean;
  /** The caller reaps the process (runc exec --detach under a shim): no monitor stays. */
  handoff?: boolean;
}

export interface ExecHandle {
  pid: number;
  monitor: MonitorProcess;
  /** The monitor's fd 3: EXITED arrives here. */
  channel: FrameChannel;
}

export async function execInContainer(
  ctx: RuntimeContext,
  id: string,
  options: ExecOptions,
): Promise<ExecHandle> {
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  if (status !== "running" && status !== "created")
    throw new Conflict(`cannot exec in container "${id}": it is ${status}`);
  if (options.handoff && options.process.terminal && !options.consoleSocket)
    throw new InvalidArgument(
      "process.terminal: a detached process needs --console-socket to receive its terminal",
    );
  const types = (record.spec.linux?.namespaces ?? []).map((n) => n.type as NamespaceType);
  const stdio = options.stdio ?? "inherit";
  const plan: NativePlan = {
    stdio,
    terminal: options.process.terminal === true,
    stdinOpen: options.stdinOpen === true,
    ...(options.consoleSocket ? { consoleSocket: resolve(options.consoleSocket) } : {}),
    ...(options.controlSocket ? { controlSocket: options.controlSocket } : {}),
    ...(options.exitFile ? { exitFile: options.exitFile } : {}),
    ...(options.log ? { log: options.log } : {}),
    newNamespaces: 0,
    join: joinProcessNamespaces(record.pid, types).map(({ flag, path }) => ({ flag, path })),
    ops: [],
    startHooks: [],
    waitStart: options.waitStart === true,
    ...(options.handoff ? { handoff: true } : {}),
    process: planProcess(options.process, record.spec),
  };
  const cgroup = ctx.cgroupOf(record);
  const selfJoin = selfJoinFiles(cgroup, record.spec.linux?.resources?.pids?.limit, true);
  if (selfJoin) plan.cgroupSelfJoin = selfJoin;
  const launched = await launchMonitor(
    plan,
    {
      async onPid(pid) {
        if (!selfJoin) await cgroup.addProcess(pid);
        return JSON.stringify({
          ociVersion: OCI_VERSION,
          id,
          status,
          pid: record.pid,
          bundle: record.bundle,
        });
      },
    },
    {
      stdio: (stdio === "inherit" ? "inherit" : "ignore") satisfies LaunchOptions["stdio"],
      ...(ctx.spawner ? { spawner: ctx.spawner } : {}),
    },
  );
  if (options.pidFile) writeFileAtomicSync(resolve(options.pidFile), String(launched.pid));
  return { pid: launched.pid, monitor: launched.monitor, channel: launched.channel };
}
