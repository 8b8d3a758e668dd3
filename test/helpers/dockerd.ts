/**
 * A private dockerd for interoperability tests (docker save/load), with its own data root and
 * socket under a temporary directory, no networking, stopped by PID. Undefined when dockerd is
 * not installed or does not start here.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { exited } from "./processes.js";

const run = promisify(execFile);

export interface TestDockerd {
  /** The daemon's unix socket. */
  socket: string;
  /** Its directory (data root, exec root). */
  dir: string;
  docker(args: string[], input?: Buffer): Promise<Buffer>;
  stop(): Promise<void>;
}

/**
 * With `networking`, dockerd keeps its defaults (docker0, iptables, docker-proxy), for the network
 * benchmark; the bridge and the tables it adds are removed when it stops. `runtimes`: OCI runtimes
 * beside runc, by name (`docker run --runtime NAME`).
 */
export async function startDockerd(
  options: { networking?: boolean; runtimes?: Record<string, string> } = {},
): Promise<TestDockerd | undefined> {
  if (!existsSync("/usr/sbin/dockerd") || !existsSync("/usr/local/bin/docker")) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "dockerd-test-"));
  const tables = () => spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout.split("\n");
  const tablesBefore = new Set(tables());
  const bridgeBefore = existsSync("/sys/class/net/docker0");
  // dockerd's cgroup parent ("docker") outlives it, as it does with runc: the ones it made go with it.
  const dockerCgroups = () => [
    "/sys/fs/cgroup/docker", // cgroup v2
    ...readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}/docker`),
  ];
  const cgroupsBefore = new Set(dockerCgroups().filter((dir) => existsSync(dir)));
  const sock = join(dir, "docker.sock");
  const child: ChildProcess = spawn(
    "dockerd",
    [
      "--data-root",
      join(dir, "root"),
      "--exec-root",
      join(dir, "exec"),
      "--pidfile",
      join(dir, "pid"),
      "-H",
      `unix://${sock}`,
      ...(options.networking ? [] : ["--iptables=false", "--bridge=none"]),
      ...Object.entries(options.runtimes ?? {}).map(([name, path]) => `--add-runtime=${name}=${path}`),
    ],
    { stdio: "ignore" },
  );
  const docker = (args: string[], input?: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const p = spawn("docker", ["-H", `unix://${sock}`, ...args], { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      let err = "";
      p.stdout.on("data", (b: Buffer) => out.push(b));
      p.stderr.on("data", (b: Buffer) => {
        err += b.toString();
      });
      p.on("close", (code) =>
        code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`docker ${args.join(" ")}: ${err}`)),
      );
      p.stdin.end(input);
    });
  const stop = async () => {
    child.kill("SIGTERM");
    await exited(child);
    // overlay2 may leave its layer mounts behind if it died: unmount what is under our root.
    await run("sh", [
      "-c",
      `grep -o ' ${dir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`,
    ]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    for (const cgroup of dockerCgroups())
      if (!cgroupsBefore.has(cgroup) && existsSync(cgroup)) rmdirSync(cgroup); // fails if a container's is left
    if (options.networking) {
      if (!bridgeBefore) spawnSync("ip", ["link", "del", "docker0"]);
      for (const line of tables())
        if (line.startsWith("table ") && !tablesBefore.has(line))
          spawnSync("nft", ["delete", ...line.split(" ")]);
    }
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await docker(["version"]);
      return { socket: sock, dir, docker, stop };
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        return undefined;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
