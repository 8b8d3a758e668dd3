/** `pause` and `resume`: the freezer. */
import { Conflict } from "../errors.js";
import type { RuntimeContext } from "./context.js";

export async function pauseContainer(ctx: RuntimeContext, id: string): Promise<void> {
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  if (status !== "running" && status !== "created")
    throw new Conflict(`container "${id}" cannot be paused: it is ${status}`);
  await ctx.cgroupOf(record).freeze();
}

export async function resumeContainer(ctx: RuntimeContext, id: string): Promise<void> {
  const record = ctx.dir.load(id);
  const status = ctx.status(record);
  if (status !== "paused") throw new Conflict(`container "${id}" cannot be resumed: it is ${status}`);
  ctx.cgroupOf(record).thaw();
}
