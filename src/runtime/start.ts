/** `start`: let a created container's process exec, then run the poststart hooks. */
import { Conflict } from "../errors.js";
import type { RuntimeContext } from "./context.js";
import { runHooksWarning } from "./hooks.js";
import { connectMonitor, type FrameChannel } from "./native/channel.js";
import { startProcess } from "./native/monitor.js";
import { ociState } from "./state.js";

/** Starts container `id`; returns poststart hook warnings. `channel`: the monitor's fd 3, if held. */
export async function startContainer(
  ctx: RuntimeContext,
  id: string,
  channel?: FrameChannel,
): Promise<string[]> {
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  if (status !== "created") throw new Conflict(`container "${id}" cannot be started: it is ${status}`);
  const ch = channel ?? (await connectMonitor(ctx.dir.controlSocket(id)));
  try {
    await startProcess(ch);
  } finally {
    if (!channel) ch.close();
  }
  record.started = true;
  ctx.dir.save(record);
  return runHooksWarning(record.spec.hooks?.poststart, ociState(record, "running"), "poststart");
}
