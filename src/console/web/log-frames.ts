/**
 * The daemon's log stream of a container without a terminal is multiplexed: frames of an 8-byte
 * header (stream, 0, 0, 0, big-endian length) and the bytes. This splits a stream's chunks into
 * frames, keeping a partial frame for the next chunk.
 */
export interface LogFrame {
  stream: "stdout" | "stderr";
  data: Uint8Array;
}

export class LogDemuxer {
  private pending = new Uint8Array(0);

  push(chunk: Uint8Array): LogFrame[] {
    const buf = new Uint8Array(this.pending.length + chunk.length);
    buf.set(this.pending);
    buf.set(chunk, this.pending.length);
    const frames: LogFrame[] = [];
    let at = 0;
    while (buf.length - at >= 8) {
      const view = new DataView(buf.buffer, buf.byteOffset + at, 8);
      const length = view.getUint32(4);
      if (buf.length - at - 8 < length) break;
      frames.push({ stream: buf[at] === 2 ? "stderr" : "stdout", data: buf.slice(at + 8, at + 8 + length) });
      at += 8 + length;
    }
    this.pending = buf.slice(at);
    return frames;
  }
}
