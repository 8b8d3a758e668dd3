/** The CLI's end of Docker's progress stream (pull, push, plugin install and upgrade). */
import { InvalidArgument } from "../../errors.js";
import type { ProgressEvent } from "../../image/progress.js";
import { progressRenderer } from "../../image/progress-render.js";
import { jsonLines } from "./client.js";

/** Consumes a progress stream, drawing it; an error line in it becomes the thrown error. */
export async function followProgress(
  res: NodeJS.ReadableStream,
  out: NodeJS.WritableStream,
  quiet: boolean,
): Promise<void> {
  const render = quiet ? undefined : progressRenderer(out as NodeJS.WriteStream & { isTTY?: boolean });
  for await (const e of jsonLines<ProgressEvent & { error?: string }>(res)) {
    if (e.error) throw new InvalidArgument(e.error);
    render?.(e);
  }
}
