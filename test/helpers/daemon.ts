/**
 * A Berth daemon for integration tests: private state directories, the busybox image imported,
 * and a client — the real docker CLI pointed at its socket.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ImageService, importBusybox } from "../../src/image/index.js";
import { openSnapshotter } from "../../src/snapshot/index.js";
import { exited } from "./processes.js";
import { until } from "./wait.js";

const DAEMON = fileURLToPath(new URL("../../src/daemon/run.js", import.meta.url));
export const BERTH = fileURLToPath(new URL("../../../bin/berth.cjs", import.meta.url));

export interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

export interface ApiAnswer {
  status: number;
  headers: import("node:http").IncomingHttpHeaders;
  body: Buffer;
}

export interface CliOptions {
  input?: string;
  timeout?: number;
}

/** Imports busybox:latest from the host's busybox-static into a daemon's root (before it runs). */
export async function importBusyboxInto(root: string): Promise<void> {
  const images = await ImageService.open({
    root: join(root, "image"),
    snapshotter: await openSnapshotter(join(root, "snapshots")),
  });
  await importBusybox(images);
}

/** Whether a daemon answers /_ping with 200 on its unix socket. */
export function pings(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: "/_ping" }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

/** The berth CLI (its bundle, as installed) pointed at the daemon on `socket`. */
export function berthAt(socket: string, args: string[], options: CliOptions = {}): Result {
  const r = spawnSync(process.execPath, [BERTH, "-H", `unix://${socket}`, ...args], {
    encoding: "utf8",
    input: options.input ?? "",
    timeout: options.timeout ?? 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The docker CLI pointed at the daemon on `socket`, with a config directory of its own. */
export function dockerAt(
  socket: string,
  configDir: string,
  args: string[],
  options: CliOptions = {},
): Result {
  const r = spawnSync("docker", args, {
    encoding: "utf8",
    input: options.input ?? "",
    timeout: options.timeout ?? 60_000,
    env: dockerEnv(socket, configDir),
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const dockerEnv = (socket: string, configDir: string) => ({
  ...process.env,
  DOCKER_HOST: `unix://${socket}`,
  DOCKER_CONFIG: configDir,
});

/**
 * dockerAt without blocking the event loop (what runs meanwhile, a poller, keeps running); a
 * command killed at its timeout has status -1.
 */
export function dockerAtAsync(
  socket: string,
  configDir: string,
  args: string[],
  options: { timeout?: number } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      "docker",
      args,
      { encoding: "utf8", timeout: options.timeout ?? 60_000, env: dockerEnv(socket, configDir) },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        resolve({ status: err ? (typeof code === "number" ? code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** One raw API call to the daemon on `socket`, on a connection of its own: status, headers, body. */
export function apiAt(
  socket: string,
  method: string,
  path: string,
  body?: Buffer | string,
  headers: Record<string, string> = {},
): Promise<ApiAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
      );
      res.on("error", reject);
    });
    // A daemon may answer (an error) before it read the whole body, and close: the answer counts.
    req.on("error", (err) => setTimeout(() => reject(err), 200));
    req.end(body);
  });
}

export class DaemonFixture {
  readonly root = mkdtempSync("/var/tmp/berth-test-daemon-");
  readonly runRoot = mkdtempSync("/run/berth-test-daemon-");
  readonly socket = join(this.runRoot, "berth.sock");
  private child: ChildProcess | undefined;
  log = "";

  /** Imports busybox:latest from the host's busybox-static (before the daemon owns the store). */
  async importBusybox(): Promise<void> {
    await importBusyboxInto(this.root);
  }

  async start(args: string[] = []): Promise<void> {
    this.child = spawn(
      process.execPath,
      [DAEMON, "--root", this.root, "--exec-root", this.runRoot, ...args],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child.stdout!.on("data", (d) => (this.log += d));
    this.child.stderr!.on("data", (d) => (this.log += d));
    // The socket of a crashed daemon stays behind: wait for an answer, not for the file.
    await until(
      "the daemon's answer",
      async () => this.child?.exitCode !== null || (await this.answers()),
      20_000,
    );
    if (this.child.exitCode !== null) throw new Error(`the daemon exited: ${this.log}`);
  }

  private answers(): Promise<boolean> {
    return pings(this.socket);
  }

  /** Kills the daemon the hard way (what live restore must survive). */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGKILL");
    await exited(child);
    this.child = undefined;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    child.kill("SIGTERM");
    await exited(child);
    this.child = undefined;
  }

  /** The berth CLI (its bundle, as installed) pointed at this daemon. */
  berth(args: string[], options: CliOptions = {}): Result {
    return berthAt(this.socket, args, options);
  }

  docker(args: string[], options: CliOptions = {}): Result {
    return dockerAt(this.socket, join(this.root, "docker-config"), args, options);
  }

  /** One raw API call on a connection of its own: status, headers, body. */
  api(
    method: string,
    path: string,
    body?: Buffer | string,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    return apiAt(this.socket, method, path, body, headers);
  }

  pid(): number | undefined {
    try {
      return Number(readFileSync(join(this.runRoot, "berth.pid"), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** Removes every container (force), stops the daemon and deletes its directories. */
  async cleanup(): Promise<void> {
    if (!this.child) await this.start().catch(() => {});
    const ids = this.docker(["ps", "-aq"]).stdout.split("\n").filter(Boolean);
    if (ids.length) this.docker(["rm", "-f", "-v", ...ids]);
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
    rmSync(this.runRoot, { recursive: true, force: true });
  }
}

export function ok(r: Result, what = "docker"): Result {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}
