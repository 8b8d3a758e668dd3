/**
 * Monitors started by berth-spawner (native/spawner.c) instead of by forking this process. A
 * fork copies the page tables of the process that calls it: for the daemon, a Node.js process
 * of a hundred MiB or more, that is milliseconds of its only thread per container, against
 * microseconds for the small static spawner.
 *
 * A monitor started this way has no fd 3 from us: it connects to our socket and names itself
 * with a one-time token, and that connection is its channel. The spawner lives as long as we
 * do (it exits when its stdin ends); the monitors outlive both, as before.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { constants } from "node:os";
import { SystemError } from "../../errors.js";
import { nativeBinary } from "../../util/native.js";

const TOKEN_LENGTH = 32;

interface Pending {
  pid?: number;
  socket?: Socket;
  resolve(started: { pid: number; socket: Socket }): void;
  reject(err: Error): void;
}

function errnoName(errno: number): string {
  return Object.entries(constants.errno).find(([, v]) => v === errno)?.[0] ?? `errno ${errno}`;
}

export class MonitorSpawner {
  private spawner: ChildProcess | undefined;
  private server: Server | undefined;
  private starting: Promise<void> | undefined;
  private output = "";
  private readonly pending = new Map<string, Pending>();
  /** Monitors started and not yet connected, by pid (an exit before connecting fails them). */
  private readonly unconnected = new Map<number, string>();

  constructor(
    /** The socket monitors connect to (the daemon's run directory). */
    readonly socketPath: string,
    private readonly monitorPath: () => string,
  ) {}

  /** Starts a monitor; resolves with its pid and its channel's socket once it has connected. */
  async spawn(): Promise<{ pid: number; socket: Socket }> {
    if (!this.starting)
      this.starting = this.start().catch((err: Error) => {
        this.starting = undefined;
        throw err;
      });
    await this.starting;
    const token = randomBytes(TOKEN_LENGTH / 2).toString("hex");
    return new Promise((resolve, reject) => {
      this.pending.set(token, { resolve, reject });
      this.spawner!.stdin!.write(`${token}\n`);
    });
  }

  close(): void {
    this.spawner?.stdin?.end();
    this.server?.close();
    rmSync(this.socketPath, { force: true });
  }

  private async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    // Neither keeps this process alive: whoever waits on a spawn does.
    server.unref();
    this.server = server;
    const child = spawn(nativeBinary("berth-spawner"), [this.monitorPath(), "--connect", this.socketPath], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    child.unref();
    (child.stdin as unknown as { unref(): void }).unref();
    (child.stdout as unknown as { unref(): void }).unref();
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (text: string) => this.read(text));
    child.once("exit", () => this.lost(new SystemError("berth-spawner exited")));
    child.once("error", (err) => this.lost(new SystemError(`start berth-spawner: ${err.message}`)));
    this.spawner = child;
  }

  /** The spawner is gone: fail what waits, and start a new one on the next spawn. */
  private lost(err: Error): void {
    this.spawner = undefined;
    this.starting = undefined;
    this.server?.close();
    this.server = undefined;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.unconnected.clear();
  }

  private read(text: string): void {
    this.output += text;
    const lines = this.output.split("\n");
    this.output = lines.pop()!;
    for (const line of lines) {
      const [first, second, third] = line.split(" ");
      if (first === "EXIT") {
        const token = this.unconnected.get(Number(second));
        if (token === undefined) continue;
        this.unconnected.delete(Number(second));
        this.fail(token, `berth-monitor exited before it connected (wait status ${third})`);
        continue;
      }
      const p = this.pending.get(first!);
      const pid = Number(second);
      if (!p) continue;
      if (pid < 0) {
        this.fail(first!, `start berth-monitor: ${errnoName(-pid)}`);
        continue;
      }
      p.pid = pid;
      if (p.socket) this.complete(first!, p);
      else this.unconnected.set(pid, first!);
    }
  }

  private accept(socket: Socket): void {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length <= TOKEN_LENGTH) return;
      socket.off("data", onData);
      socket.pause();
      const token = head.subarray(0, TOKEN_LENGTH).toString();
      const p = this.pending.get(token);
      if (!p || head[TOKEN_LENGTH] !== 0x0a) {
        socket.destroy();
        return;
      }
      const rest = head.subarray(TOKEN_LENGTH + 1);
      if (rest.length) socket.unshift(rest);
      p.socket = socket;
      if (p.pid !== undefined) {
        this.unconnected.delete(p.pid);
        this.complete(token, p);
      }
    };
    socket.on("data", onData);
    socket.on("error", () => socket.destroy());
  }

  private complete(token: string, p: Pending): void {
    this.pending.delete(token);
    p.resolve({ pid: p.pid!, socket: p.socket! });
  }

  private fail(token: string, message: string): void {
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    p.socket?.destroy();
    p.reject(new SystemError(message));
  }
}
