/**
 * A framed message channel to a monitor: its fd 3 while we are its parent, or its control socket
 * for anyone later (another CLI call, a restarted daemon).
 */
import { connect, type Socket } from "node:net";
import { BerthError } from "../../errors.js";
import { type Frame, FrameReader, frame } from "./protocol.js";

export class MonitorGone extends BerthError {
  constructor(message = "the container's monitor has gone") {
    super("monitor-gone", message);
  }
}

export class FrameChannel {
  private readonly reader = new FrameReader();
  private readonly queue: Frame[] = [];
  private waiter:
    | { resolve: (f: Frame) => void; reject: (e: Error) => void; accepts: (f: Frame) => boolean }
    | undefined;
  private ended: Error | undefined;
  /** Frames that nobody awaits go here when set (attach streams). */
  onFrame: ((f: Frame) => void) | undefined;

  constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.reader.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
      for (const f of frames) this.deliver(f);
    });
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new MonitorGone()));
  }

  private deliver(f: Frame): void {
    if (this.waiter?.accepts(f)) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(f);
    } else if (this.onFrame) {
      this.onFrame(f);
    } else {
      this.queue.push(f);
    }
  }

  private fail(err: Error): void {
    this.ended ??= err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(this.ended);
    }
  }

  get closed(): boolean {
    return this.ended !== undefined;
  }

  send(type: number, payload?: Uint8Array): void {
    this.socket.write(frame(type, payload));
  }

  /** The next frame; rejects with MonitorGone when the monitor closes the channel. */
  next(): Promise<Frame> {
    return this.nextOf(() => true);
  }

  /**
   * The next frame `accepts` takes; frames before it stay queued, in order, for the next reader
   * (output that arrives while a start waits for STARTED must not be lost).
   */
  nextOf(accepts: (f: Frame) => boolean): Promise<Frame> {
    const i = this.queue.findIndex(accepts);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]!);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, accepts };
    });
  }

  /** Frames received and not yet read, oldest first (handed to a new onFrame reader). */
  drain(): Frame[] {
    return this.queue.splice(0);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Connects to a monitor's control socket. */
export function connectMonitor(path: string): Promise<FrameChannel> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once("connect", () => resolve(new FrameChannel(socket)));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "ENOENT" || err.code === "ECONNREFUSED"
          ? new MonitorGone("the container's monitor is not running")
          : err,
      ),
    );
  });
}
