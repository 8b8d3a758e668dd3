/** `kill`: send a signal to a container's process (or to all of its processes). */
import { Conflict, errorText, SystemError } from "../errors.js";
import type { RuntimeContext } from "./context.js";
import { parseSignal } from "./signals.js";

export async function killContainer(
  ctx: RuntimeContext,
  id: string,
  signal: string | number = "SIGTERM",
  all = false,
): Promise<void> {
  const sig = parseSignal(signal);
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  // "container not running" is the phrase containerd looks for to treat the kill as done.
  if (status === "stopped") throw new Conflict(`cannot signal "${id}": container not running`);
  if (all) {
    const cgroup = ctx.cgroupOf(record);
    if (sig === 9) return cgroup.killAll();
    for (const pid of cgroup.processes()) signalPid(pid, sig);
    return;
  }
  signalPid(record.pid, sig);
}

function signalPid(pid: number, sig: number): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH")
      throw new SystemError(`kill ${pid}: ${errorText(err)}`);
  }
}
