/**
 * A cluster of Berth daemons on this one machine, each looking like a host of its own, for the
 * cluster integration tests.
 *
 * TestLan: a network namespace `berthlan-<id>` holding a bridge `lan0` (10.a.b.254/24, a /24 of
 * 10.252.0.0/14 chosen at random), and for node i a network namespace `berthnode-<id>-<i>` whose
 * `eth0` (10.a.b.i/24, default route via .254) is a veth to a port `n<i>` of lan0.
 *
 * ClusterNode: a daemon in its node's network namespace and in a mount namespace of the node's
 * own, which a holder process (`tail`, started once per node) keeps for the node's whole life, as
 * a host keeps its mounts across daemon restarts: a daemon that crashed finds its containers'
 * network namespaces and root file systems still mounted when it starts again (live restore). The
 * node's mount namespace has
 *   - a sysfs of the node's network namespace on /sys (/sys/class/net lists the node's links),
 *     with the host's cgroup mounts moved onto it at /sys/fs/cgroup;
 *   - a tmpfs on /run/netns: the network namespaces the daemon names (`ip netns add`) are the
 *     node's alone, invisible to the host and to the other nodes;
 *   - none of the host's named network namespaces and other daemons' mounts (*berth* mount
 *     points) that its copy of the host's mount table held: detached, so that the node does not
 *     keep them alive after the host removes them.
 * Its state directories are on the host's file systems (root under /var/tmp, exec-root under
 * /run): the test reaches the daemon's socket by path.
 *
 * TestCluster: a LAN and its nodes; cleanup() leaves nothing behind (containers, processes,
 * namespaces, links, mounts, directories).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { busyboxRootfs } from "./busybox.js";
import {
  type ApiAnswer,
  apiAt,
  berthAt,
  type CliOptions,
  dockerAt,
  dockerAtAsync,
  importBusyboxInto,
  pings,
  type Result,
} from "./daemon.js";
import { exited, type HostProcess, hostProcesses } from "./processes.js";
import { until } from "./wait.js";

const DAEMON = fileURLToPath(new URL("../../src/daemon/run.js", import.meta.url));

/** Runs a command to its end: status, stdout, stderr. */
function run(cmd: string, args: string[], options: CliOptions = {}): Result {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    input: options.input ?? "",
    timeout: options.timeout ?? 60_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? String(r.error ?? "") };
}

function must(r: Result, what: string): Result {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r;
}

function ipBatch(lines: string[], netns?: string): void {
  must(
    run("ip", [...(netns ? ["-n", netns] : []), "-batch", "-"], { input: `${lines.join("\n")}\n` }),
    `ip ${netns ? `-n ${netns} ` : ""}-batch`,
  );
}

const named = (): string[] =>
  run("ip", ["netns", "list"])
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);

const alive = (child: ChildProcess | undefined): child is ChildProcess =>
  !!child && child.exitCode === null && child.signalCode === null;

/** A bridge in a network namespace of its own, and a network namespace per node plugged into it. */
export class TestLan {
  /** Short random id in every name this LAN makes. */
  readonly id = randomBytes(3).toString("hex");
  /** The LAN's network namespace (holds the bridge lan0). */
  readonly netns = `berthlan-${this.id}`;
  /** The first three bytes of the LAN's /24, e.g. "10.253.17". */
  readonly prefix: string;
  readonly subnet: string;
  /** lan0's address: the nodes' default gateway. */
  readonly gateway: string;
  private made: string[] = [];

  constructor(readonly size: number) {
    // A /24 of 10.252.0.0/14: far from Berth's default 10.91.0.0/16 (and from each other LAN).
    const [a = 0, b = 0] = randomBytes(2);
    this.prefix = `10.${252 + (a & 3)}.${b}`;
    this.subnet = `${this.prefix}.0/24`;
    this.gateway = `${this.prefix}.254`;
  }

  /** Node i's network namespace (i from 1). */
  nodeNetns(i: number): string {
    return `berthnode-${this.id}-${i}`;
  }

  /** Node i's address on the LAN. */
  address(i: number): string {
    return `${this.prefix}.${i}`;
  }

  /**
   * One HTTP/1.0 GET from the LAN itself (lan0's address, outside every node) to host:port: the
   * whole answer, or "" when nothing answered within 3 s.
   */
  httpGet(host: string, port: number, path = "/"): string {
    const script = `const s = require("node:net").connect(${port}, ${JSON.stringify(host)}); let d = ""; s.setTimeout(3000, () => s.destroy()); s.on("data", (c) => (d += c)); s.on("error", () => {}); s.on("close", () => process.stdout.write(d)); s.write("GET ${path} HTTP/1.0\\r\\n\\r\\n");`;
    const r = spawnSync("nsenter", [`--net=/run/netns/${this.netns}`, "--", process.execPath, "-e", script], {
      encoding: "utf8",
      timeout: 10_000,
    });
    return r.stdout ?? "";
  }

  /** Node i's veth end in the LAN's namespace (a port of lan0). */
  port(i: number): string {
    return `n${i}`;
  }

  /** Makes the namespaces and links (once: a second call finds them made). */
  create(): void {
    if (this.made.length) return;
    const add = (ns: string) => {
      must(run("ip", ["netns", "add", ns]), `ip netns add ${ns}`);
      this.made.push(ns);
    };
    add(this.netns);
    for (let i = 1; i <= this.size; i++) add(this.nodeNetns(i));
    const lan = [
      "link set lo up",
      "link add lan0 type bridge",
      `addr add ${this.gateway}/24 dev lan0`,
      "link set lan0 up",
    ];
    for (let i = 1; i <= this.size; i++)
      lan.push(
        `link add ${this.port(i)} type veth peer name eth0 netns ${this.nodeNetns(i)}`,
        `link set ${this.port(i)} master lan0`,
        `link set ${this.port(i)} up`,
      );
    ipBatch(lan, this.netns);
    for (let i = 1; i <= this.size; i++) {
      const ns = this.nodeNetns(i);
      ipBatch(
        [
          "link set lo up",
          `addr add ${this.address(i)}/24 dev eth0`,
          "link set eth0 up",
          `route add default via ${this.gateway}`,
        ],
        ns,
      );
      // sysctl in the node's network namespace only (no `ip netns exec`: it remounts /sys).
      must(
        run("nsenter", [`--net=/run/netns/${ns}`, "--", "sysctl", "-qw", "net.ipv4.ip_forward=1"]),
        `ip_forward in ${ns}`,
      );
    }
  }

  /** Sets node i's port on the LAN down (a partition) or up again. */
  setPort(i: number, up: boolean): void {
    must(
      run("ip", ["-n", this.netns, "link", "set", this.port(i), up ? "up" : "down"]),
      `${up ? "healing" : "cutting"} ${this.port(i)}`,
    );
  }

  /** Deletes every network namespace this LAN made (their links go with them); fails on any left. */
  remove(): void {
    for (const ns of this.made) run("ip", ["netns", "del", ns]);
    const left = named().filter((ns) => this.made.includes(ns));
    this.made = left;
    if (left.length) throw new Error(`network namespaces left: ${left.join(", ")}`);
  }
}

/**
 * The node's mount namespace, made by the holder (run as `sh -c SETUP sh KEEPDIR TESTPID` in the
 * node's network namespace, in a new private mount namespace). It prints "ready" and then lives
 * until killed, or until the test process is gone.
 */
const SETUP = `set -e
mount --rbind /sys/fs/cgroup "$1"
umount -l /sys
mount -t sysfs sysfs /sys
mount --move "$1" /sys/fs/cgroup
awk '{ for (i = 7; i < NF; i++) if ($i == "-") break; if ($(i + 1) == "nsfs" || $5 ~ /berth/) print $5 }' /proc/self/mountinfo |
  sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
umount -l /run/netns 2>/dev/null || true
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
hostname "$3"
echo ready
exec tail -f /dev/null --pid="$2"
`;

/** The file fillDisk() writes in a confined root. */
const DISK_FILLER = "disk-filler";

/** A Berth daemon in a network and mount namespace of its own: a host on the LAN. */
export class ClusterNode {
  /** "node1", "node2", ... */
  readonly name: string;
  /** The node's address on the LAN. */
  readonly address: string;
  /** The node's network namespace (on the host: /run/netns/<netns>). */
  readonly netns: string;
  readonly root: string;
  readonly runRoot: string;
  readonly socket: string;
  /** The daemon's stdout and stderr, over all its starts. */
  log = "";
  /** What shutdown() found left behind, and killed or removed. */
  readonly leftovers: string[] = [];
  private holder: ChildProcess | undefined;
  private holderLog = "";
  private daemon: ChildProcess | undefined;
  private lastArgs: string[] = [];
  /** Whether the daemon's root is a tmpfs of its own in the node (confineRoot). */
  private confined = false;
  /** The node's namespaces as /proc/PID/ns links read them ("mnt:[4026532...]"). */
  private ns: { mnt: string; net: string } | undefined;

  constructor(
    readonly lan: TestLan,
    readonly index: number,
    rootBase: string,
    private readonly runBase: string,
    readonly kind: DaemonKind = "berth",
    /** Node's own options for a Berth daemon (e.g. --cpu-prof), before the daemon's script. */
    private readonly nodeArgs: string[] = [],
  ) {
    this.name = `node${index}`;
    this.address = lan.address(index);
    this.netns = lan.nodeNetns(index);
    this.root = join(rootBase, this.name);
    this.runRoot = join(runBase, this.name);
    this.socket = join(this.runRoot, "berth.sock");
    mkdirSync(this.root, { recursive: true });
    mkdirSync(this.runRoot, { recursive: true });
  }

  /** The daemon's pid while it runs (the process spawned: nsenter execs node). */
  get pid(): number | undefined {
    return alive(this.daemon) ? this.daemon.pid : undefined;
  }

  /** The holder's pid: its namespaces are the node's. */
  get holderPid(): number | undefined {
    return alive(this.holder) ? this.holder.pid : undefined;
  }

  /** Makes the node's mount namespace (once; start() does it when needed). */
  async boot(): Promise<void> {
    if (alive(this.holder)) return;
    const keep = join(this.runBase, `${this.name}.cgroup`);
    mkdirSync(keep, { recursive: true });
    this.holderLog = "";
    const holder = spawn(
      "nsenter",
      [
        `--net=/run/netns/${this.netns}`,
        "--",
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        SETUP,
        "sh",
        keep,
        String(process.pid),
        this.name,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.holder = holder;
    holder.stdout!.on("data", (d) => (this.holderLog += d));
    holder.stderr!.on("data", (d) => (this.holderLog += d));
    await until("the node's namespaces", () => !alive(holder) || this.holderLog.includes("ready\n"), 10_000);
    if (!alive(holder)) throw new Error(`${this.name}: setting up its namespaces failed: ${this.holderLog}`);
    rmdirSync(keep);
    this.ns = {
      mnt: readlinkSync(`/proc/${holder.pid}/ns/mnt`),
      net: readlinkSync(`/proc/${holder.pid}/ns/net`),
    };
  }

  /**
   * Imports busybox:latest into the node's image store: Berth's before the daemon starts,
   * dockerd's through `docker import` once it runs.
   */
  async importBusybox(): Promise<void> {
    if (this.kind === "berth") return importBusyboxInto(this.root);
    const tar = spawnSync("tar", ["-C", busyboxRootfs(), "-c", "."], { maxBuffer: 64 << 20 });
    const r = spawnSync(
      "docker",
      ["-H", `unix://${this.socket}`, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"],
      {
        input: tar.stdout,
        encoding: "utf8",
      },
    );
    if (r.status !== 0) throw new Error(`${this.name}: docker import: ${r.stderr}`);
  }

  /** Starts the daemon in the node's namespaces; resolves when it answers /_ping (20 s at most). */
  async start(args: string[] = []): Promise<void> {
    if (alive(this.daemon)) throw new Error(`${this.name}: the daemon runs already`);
    await this.boot();
    this.lastArgs = args;
    const daemon = spawn(
      "nsenter",
      [
        `--target=${this.holder!.pid}`,
        "--net",
        "--mount",
        "--uts",
        `--wd=${process.cwd()}`,
        "--",
        ...(this.kind === "berth"
          ? [process.execPath, ...this.nodeArgs, DAEMON, "--root", this.root, "--exec-root", this.runRoot]
          : [
              "dockerd",
              "--data-root",
              this.root,
              "--exec-root",
              this.runRoot,
              "--pidfile",
              join(this.runRoot, "docker.pid"),
            ]),
        "-H",
        `unix://${this.socket}`,
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.daemon = daemon;
    daemon.stdout!.on("data", (d) => (this.log += d));
    daemon.stderr!.on("data", (d) => (this.log += d));
    // The socket of a crashed daemon stays behind: wait for an answer, not for the file.
    await until(
      "the daemon's answer",
      async () => !alive(daemon) || (await pings(this.socket)),
      20_000,
    ).catch((err: Error) => {
      throw new Error(`${this.name}: ${err.message}: ${this.log}`);
    });
    if (!alive(daemon)) throw new Error(`${this.name}: the daemon exited: ${this.log}`);
  }

  /** SIGTERM, and waits for the daemon's exit (SIGKILL after 20 s). */
  async stop(): Promise<void> {
    const daemon = this.daemon;
    if (!alive(daemon)) return;
    daemon.kill("SIGTERM");
    const timer = setTimeout(() => daemon.kill("SIGKILL"), 20_000);
    await exited(daemon);
    clearTimeout(timer);
  }

  /**
   * Kills the daemon the hard way (what live restore must survive); its containers stay. A
   * dockerd goes with the containerd it started, the two being docker's daemon (the
   * containerd-shims, the containers' monitors, stay): a dockerd started again right after its
   * kill alone timed out dialling the containerd left behind (\`failed to start containerd\`).
   */
  async crash(): Promise<void> {
    const daemon = this.daemon;
    if (!alive(daemon)) return;
    const containerd =
      this.kind === "dockerd"
        ? hostProcesses().filter((p) => p.ppid === daemon.pid && p.comm === "containerd")
        : [];
    daemon.kill("SIGKILL");
    for (const p of containerd)
      try {
        process.kill(p.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    await exited(daemon);
  }

  /**
   * The host dies: its daemon, the containers' monitors and the containers' processes killed
   * at once (SIGKILL, by pid), as a power cut would end them. Its namespaces and mounts stay,
   * as a disk's contents do, for the daemon started again.
   */
  async powerOff(): Promise<void> {
    const containers = this.docker(["ps", "-q"])
      .stdout.split("\n")
      .filter(Boolean)
      .map((id) => Number(this.docker(["inspect", "-f", "{{.State.Pid}}", id]).stdout.trim()))
      .filter((pid) => pid > 0);
    const daemon = this.daemon;
    for (const pid of [...this.inside(), ...containers])
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    if (alive(daemon)) await exited(daemon);
  }

  /**
   * The daemon and every helper it started in the node's namespaces (its containers' monitors,
   * its etcd member) killed at once by SIGKILL; the containers' own processes, in namespaces of
   * their own, are left running without their monitors for the daemon started again to find.
   */
  async crashWithMonitors(): Promise<void> {
    const daemon = this.daemon;
    for (const pid of this.inside())
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    if (alive(daemon)) await exited(daemon);
  }

  /** The etcd member the daemon runs (a manager's): its child process named etcd. */
  etcd(): HostProcess | undefined {
    const pid = this.pid;
    return pid === undefined ? undefined : hostProcesses().find((p) => p.ppid === pid && p.comm === "etcd");
  }

  /**
   * Gives the daemon a root of `size` (tmpfs's -o size, e.g. "96m") in the node's mount namespace
   * only, holding what the root had (busybox imported): a disk the test may fill without filling
   * the host's. Called once booted, before the daemon starts; the tmpfs ends with the namespace.
   */
  confineRoot(size: string): void {
    if (alive(this.daemon)) throw new Error(`${this.name}: confineRoot before the daemon starts`);
    const stage = `${this.root}.disk`;
    mkdirSync(stage, { recursive: true });
    must(
      this.exec([
        "sh",
        "-c",
        'mount -t tmpfs -o "size=$3,mode=0711" tmpfs "$2" && cp -a "$1/." "$2/" && mount --move "$2" "$1"',
        "sh",
        this.root,
        stage,
        size,
      ]),
      `${this.name}: a ${size} root`,
    );
    rmdirSync(stage);
    this.confined = true;
  }

  /**
   * Fills the confined root (confineRoot) to its last byte, and again when called again (what
   * the daemon freed meanwhile is taken too); emptyDisk() frees it.
   */
  fillDisk(): void {
    if (!this.confined) throw new Error(`${this.name}: only a confined root is filled (not the host's disk)`);
    // cat stops at ENOSPC (its exit status says so): the disk is then full.
    this.exec(["sh", "-c", 'cat /dev/zero >> "$1"', "sh", join(this.root, DISK_FILLER)]);
    must(this.exec(["test", "-s", join(this.root, DISK_FILLER)]), `${this.name}: filling its disk`);
  }

  emptyDisk(): void {
    must(this.exec(["rm", "-f", join(this.root, DISK_FILLER)]), `${this.name}: emptying its disk`);
  }

  /** The docker CLI pointed at this node's daemon. */
  docker(args: string[], options: CliOptions = {}): Result {
    return dockerAt(this.socket, join(this.root, "docker-config"), args, options);
  }

  /** docker() without blocking the event loop. */
  dockerAsync(args: string[], options: { timeout?: number } = {}): Promise<Result> {
    return dockerAtAsync(this.socket, join(this.root, "docker-config"), args, options);
  }

  /** The berth CLI pointed at this node's daemon. */
  berth(args: string[], options: CliOptions = {}): Result {
    return berthAt(this.socket, args, options);
  }

  /** One raw API call to this node's daemon. */
  api(
    method: string,
    path: string,
    body?: Buffer | string,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    return apiAt(this.socket, method, path, body, headers);
  }

  /** Runs a command in the node's network and mount namespaces (`ip link`, `nft list ruleset`...). */
  exec(cmd: string[], options: CliOptions = {}): Result {
    const pid = this.holderPid;
    if (!pid) throw new Error(`${this.name}: not booted`);
    return run("nsenter", [`--target=${pid}`, "--net", "--mount", "--uts", "--", ...cmd], options);
  }

  /** Takes the node off the LAN (its port on lan0 down: eth0 loses its carrier). */
  cutLink(): void {
    this.lan.setPort(this.index, false);
  }

  healLink(): void {
    this.lan.setPort(this.index, true);
  }

  /** Processes in the node's network or mount namespace, but for the holder. */
  private inside(): number[] {
    const ns = this.ns;
    if (!ns) return [];
    const found: number[] = [];
    for (const entry of readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === this.holder?.pid) continue;
      try {
        if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) continue;
        if (readlinkSync(`/proc/${pid}/ns/mnt`) === ns.mnt || readlinkSync(`/proc/${pid}/ns/net`) === ns.net)
          found.push(pid);
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  /** Ids of the containers the daemon stored (its root's containers/ directory). */
  private storedIds(): string[] {
    try {
      return readdirSync(join(this.root, "containers")).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      return [];
    }
  }

  /**
   * Removes every container (starting the daemon for that if it is down), stops the daemon and
   * ends the node's namespaces: whatever is left running in them, or in its containers' cgroups,
   * is killed (by pid) and listed in `leftovers`, with the containers' cgroups removed here.
   * Fails if a process would not die or a cgroup would not go.
   */
  async shutdown(): Promise<void> {
    if (!this.holder) return;
    const ids = new Set(this.storedIds());
    if (!alive(this.daemon) && alive(this.holder)) await this.start(this.lastArgs).catch(() => {});
    if (alive(this.daemon)) {
      const listed = this.docker(["ps", "-aq", "--no-trunc"]).stdout.split("\n").filter(Boolean);
      for (const id of listed) ids.add(id);
      if (listed.length) this.docker(["rm", "-f", "-v", ...listed]);
    }
    await this.stop();
    // The daemon's helpers end with it: a moment for them before anything counts as left over.
    await until("the node's processes to end", () => this.inside().length === 0, 3_000).catch(() => {});
    const killed = new Set<number>();
    const kill = (pid: number, what: string) => {
      if (killed.has(pid)) return;
      try {
        const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        process.kill(pid, "SIGKILL");
        killed.add(pid);
        this.leftovers.push(`${this.name}: pid ${pid} (${comm}) ${what}`);
      } catch {
        // gone meanwhile
      }
    };
    for (const pid of this.inside()) kill(pid, "in the node's namespaces");
    // Containers the daemon could not remove: their processes are in their cgroups (frozen
    // ones die once thawed).
    const cgroups = containerCgroups(ids);
    for (const path of cgroups) {
      if (path.startsWith("/sys/fs/cgroup/freezer/"))
        try {
          writeFileSync(join(path, "freezer.state"), "THAWED");
        } catch {}
      for (const pid of cgroupProcs(path)) kill(pid, `of container ${basename(path).slice(0, 12)}`);
    }
    const holder = this.holder;
    if (alive(holder)) {
      holder.kill("SIGKILL");
      await exited(holder);
    }
    const remaining = () => [...this.inside(), ...cgroups.flatMap(cgroupProcs)];
    await until("the killed processes to end", () => remaining().length === 0, 5_000).catch(() => {});
    const problems = remaining().map((pid) => `${this.name}: pid ${pid} would not die`);
    for (const path of cgroups) {
      try {
        rmdirSync(path);
        this.leftovers.push(`${this.name}: cgroup ${path}`);
      } catch (err) {
        problems.push(`${this.name}: cgroup ${path}: ${(err as Error).message}`);
      }
      // The berth/ parent that daemons share, if no other daemon uses it now.
      const parent = dirname(path);
      if (basename(parent) === "berth" || (this.kind === "dockerd" && basename(parent) === "docker"))
        try {
          rmdirSync(parent);
        } catch {}
    }
    if (problems.length) throw new Error(problems.join("\n"));
  }
}

/** The pids in a cgroup (none if it is gone). */
function cgroupProcs(path: string): number[] {
  try {
    return readFileSync(join(path, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The cgroups named by these container ids under the host's cgroup hierarchies. */
function containerCgroups(ids: Set<string>): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    let subdirs: string[];
    try {
      subdirs = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const name of subdirs) {
      const path = join(dir, name);
      if (ids.has(name)) found.push(path);
      else if (depth > 1) walk(path, depth - 1);
    }
  };
  if (ids.size) walk("/sys/fs/cgroup", 7);
  return found;
}

/** Unmounts (lazily) every mount point under `dir` in this process's mount namespace. */
function unmountUnder(dir: string): void {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const p of points) run("umount", ["-l", p]);
}

export type DaemonKind = "berth" | "dockerd";

/** A LAN of n nodes, each a Berth daemon (or a dockerd) of its own. */
export class TestCluster {
  readonly lan: TestLan;
  readonly nodes: ClusterNode[] = [];
  /** What cleanup() found left behind, and removed: processes in the nodes' namespaces, cgroups. */
  get leftovers(): string[] {
    return this.nodes.flatMap((n) => n.leftovers);
  }
  private readonly rootBase = mkdtempSync("/var/tmp/berth-test-cluster-");
  private readonly runBase = mkdtempSync("/run/berth-test-cluster-");

  /**
   * `daemon`: Berth's (the default), or dockerd, for side-by-side benchmarks; `nodeArgs`: Node's
   * own options for every Berth daemon (e.g. --cpu-prof, which NODE_OPTIONS refuses).
   */
  constructor(
    readonly size: number,
    options: { daemon?: DaemonKind; nodeArgs?: string[] } = {},
  ) {
    this.lan = new TestLan(size);
    for (let i = 1; i <= size; i++)
      this.nodes.push(
        new ClusterNode(
          this.lan,
          i,
          this.rootBase,
          this.runBase,
          options.daemon ?? "berth",
          options.nodeArgs,
        ),
      );
  }

  /** Node i (from 1), as the LAN numbers it. */
  node(i: number): ClusterNode {
    const n = this.nodes[i - 1];
    if (!n) throw new Error(`no node ${i} in a cluster of ${this.size}`);
    return n;
  }

  /**
   * Makes the LAN, imports busybox into every node and starts every daemon (in parallel), with
   * these extra daemon arguments (the same for all, or per node); `beforeStart` runs on each node
   * booted and with its image, before its daemon starts.
   */
  async start(
    extraArgs: string[] | ((node: ClusterNode) => string[]) = [],
    beforeStart: (node: ClusterNode) => void = () => {},
  ): Promise<void> {
    this.lan.create();
    await Promise.all(
      this.nodes.map(async (node) => {
        await node.boot();
        if (node.kind === "berth") await node.importBusybox();
        beforeStart(node);
        await node.start(typeof extraArgs === "function" ? extraArgs(node) : extraArgs);
        if (node.kind === "dockerd") await node.importBusybox();
      }),
    );
  }

  /**
   * Makes the running daemons a swarm: node 1 initialises it (advertising its LAN address: a
   * dockerd node has docker0 too), the next `managers - 1` nodes join as managers, the others as
   * workers.
   */
  formSwarm(managers = 1): void {
    const first = this.node(1);
    must(first.docker(["swarm", "init", "--advertise-addr", first.address]), `${first.name}: swarm init`);
    const token = (role: string) =>
      must(
        first.docker(["swarm", "join-token", "-q", role]),
        `${first.name}: join-token ${role}`,
      ).stdout.trim();
    const tokens = { manager: token("manager"), worker: token("worker") };
    for (const n of this.nodes.slice(1)) {
      const role = n.index <= managers ? "manager" : "worker";
      must(
        n.docker(["swarm", "join", "--token", tokens[role], `${first.address}:2377`]),
        `${n.name}: swarm join as a ${role}`,
      );
    }
  }

  /**
   * Removes every node's containers, stops the daemons, kills whatever is left in the nodes'
   * namespaces (by pid), removes the namespaces and the state directories. Fails if anything
   * could not be removed.
   */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const results = await Promise.allSettled(this.nodes.map((n) => n.shutdown()));
    for (const r of results) if (r.status === "rejected") problems.push(String(r.reason));
    try {
      this.lan.remove();
    } catch (err) {
      problems.push((err as Error).message);
    }
    for (const dir of [this.rootBase, this.runBase]) {
      unmountUnder(dir);
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        problems.push(`${dir}: ${(err as Error).message}`);
      }
    }
    if (problems.length) throw new Error(`cluster cleanup: ${problems.join("\n")}`);
  }
}
