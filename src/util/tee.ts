/** Stream plumbing for pipelines written as async generators. */
import { once } from "node:events";
import type { Writable } from "node:stream";

/** Passes chunks on and writes each to `sink` too (waiting for it to drain), ending it at the end. */
export async function* teeTo(source: AsyncIterable<Buffer>, sink: Writable): AsyncGenerator<Buffer> {
  let ended = false;
  try {
    for await (const chunk of source) {
      if (!sink.write(chunk)) await once(sink, "drain");
      yield chunk;
    }
    sink.end();
    ended = true;
  } finally {
    // A failure or a consumer that stopped early: the sink must not wait for more.
    if (!ended) sink.destroy(new Error("stream stopped before its end"));
  }
}
