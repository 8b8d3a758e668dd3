/**
 * `npm run bench overlay`: overlay networks on three nodes (the cluster test fixture), Berth
 * against docker swarm's overlay on the same namespace nodes, driven with the docker CLI:
 *   - TCP throughput from a container on node1 to one on node2 over an attachable overlay (an
 *     HTTP download of BENCH_OVERLAY_MB megabytes of zeros, busybox httpd to nc, timed inside the
 *     client), and the same between two containers on one node's bridge;
 *   - time from a container's start on node3 until node1 reaches its overlay address;
 *   - connections per second through a service's VIP, against the tasks' own addresses (Berth
 *     only: docker's VIPs need IPVS, which this kernel lacks).
 */
import { type ClusterNode, type DaemonKind, TestCluster } from "../test/helpers/cluster.js";
import { ok } from "../test/helpers/daemon.js";
import { sleep } from "../test/helpers/wait.js";

interface Figures {
  overlayMBps: number;
  bridgeMBps: number;
  reachableMs: number;
  vipConnPerS?: number;
  directConnPerS?: number;
}

const MB = Number(process.env["BENCH_OVERLAY_MB"] ?? 256);
const CONNECTIONS = 200;
const HTTPD = (mb: number) =>
  `mkdir -p /www && echo ok > /www/index.html && dd if=/dev/zero of=/www/big bs=1M count=${mb} 2>/dev/null && exec httpd -f -p 80 -h /www`;

/** Seconds of busybox's `time` output ("real 0m 1.23s"). */
function seconds(text: string): number {
  const m = /real\s+(?:(\d+)m\s*)?([\d.]+)s/.exec(text);
  if (!m) throw new Error(`no time in: ${text}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
}

/** Runs a shell script in a container and times it there: seconds. */
function timedIn(node: ClusterNode, container: string, script: string): number {
  const r = ok(node.docker(["exec", container, "sh", "-c", `time sh -c '${script}'`], { timeout: 300_000 }));
  return seconds(r.stderr);
}

const ipOf = (node: ClusterNode, container: string, network: string) =>
  ok(
    node.docker(["inspect", "-f", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]),
  ).stdout.trim();

async function waitFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(20);
  }
}

/** MB/s of a download of /big from `server` by the client container. */
function download(node: ClusterNode, client: string, server: string): number {
  const s = timedIn(node, client, `printf "GET /big HTTP/1.0\\r\\n\\r\\n" | nc ${server} 80 > /dev/null`);
  return MB / s;
}

async function measure(kind: DaemonKind): Promise<Figures> {
  const cluster = new TestCluster(3, { daemon: kind });
  const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];
  try {
    await cluster.start();
    ok(n1.docker(["swarm", "init", "--advertise-addr", n1.address]));
    const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
    for (const n of [n2, n3]) ok(n.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
    ok(n1.docker(["network", "create", "-d", "overlay", "--attachable", "ov"]));
    ok(n1.docker(["network", "create", "local"]));

    // Throughput across nodes over the overlay, and on one node's bridge.
    ok(n2.docker(["run", "-d", "--name", "server", "--network", "ov", "busybox", "sh", "-c", HTTPD(MB)]));
    ok(n1.docker(["run", "-d", "--name", "client", "--network", "ov", "busybox", "sleep", "100000"]));
    const server = ipOf(n2, "server", "ov");
    await waitFor(
      "the server",
      () =>
        n1.docker([
          "exec",
          "client",
          "sh",
          "-c",
          `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${server} 80 | grep -q ok`,
        ]).status === 0,
      60_000,
    );
    download(n1, "client", server); // warm
    const overlayMBps = Math.max(download(n1, "client", server), download(n1, "client", server));
    ok(n1.docker(["run", "-d", "--name", "lserver", "--network", "local", "busybox", "sh", "-c", HTTPD(MB)]));
    ok(n1.docker(["run", "-d", "--name", "lclient", "--network", "local", "busybox", "sleep", "100000"]));
    const lserver = ipOf(n1, "lserver", "local");
    await waitFor(
      "the local server",
      () =>
        n1.docker([
          "exec",
          "lclient",
          "sh",
          "-c",
          `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${lserver} 80 | grep -q ok`,
        ]).status === 0,
      60_000,
    );
    download(n1, "lclient", lserver);
    const bridgeMBps = Math.max(download(n1, "lclient", lserver), download(n1, "lclient", lserver));

    // A new endpoint on node3: how soon node1 reaches it.
    ok(n3.docker(["run", "-d", "--name", "late", "--network", "ov", "busybox", "sleep", "100000"]));
    const t0 = Date.now();
    const late = ipOf(n3, "late", "ov");
    await waitFor(
      "the new endpoint",
      () => n1.docker(["exec", "client", "ping", "-c", "1", "-W", "1", late]).status === 0,
      60_000,
    );
    const reachableMs = Date.now() - t0;

    const figures: Figures = { overlayMBps, bridgeMBps, reachableMs };
    if (kind === "berth") {
      ok(
        n1.docker([
          "service",
          "create",
          "--detach",
          "--name",
          "web",
          "--replicas",
          "3",
          "--network",
          "ov",
          "busybox",
          "sh",
          "-c",
          HTTPD(1),
        ]),
      );
      await waitFor(
        "web's tasks",
        () =>
          (n1.docker(["exec", "client", "nslookup", "tasks.web"]).stdout.match(/Address: 10\./g) ?? [])
            .length === 3,
        60_000,
      );
      await waitFor(
        "web's VIP",
        () =>
          n1.docker([
            "exec",
            "client",
            "sh",
            "-c",
            `printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 web 80 | grep -q ok`,
          ]).status === 0,
        60_000,
      );
      const loop = (target: string) =>
        `for i in $(seq ${CONNECTIONS}); do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc ${target} 80 > /dev/null; done`;
      const vip = /Address: (10\.\d+\.\d+\.\d+)/.exec(
        n1.docker(["exec", "client", "nslookup", "web"]).stdout.split("Name:")[1] ?? "",
      )?.[1];
      const task = /Address: (10\.\d+\.\d+\.\d+)/.exec(
        n1.docker(["exec", "client", "nslookup", "tasks.web"]).stdout.split("Name:")[1] ?? "",
      )?.[1];
      if (vip && task) {
        figures.vipConnPerS = CONNECTIONS / timedIn(n1, "client", loop(vip));
        figures.directConnPerS = CONNECTIONS / timedIn(n1, "client", loop(task));
      }
      n1.docker(["service", "rm", "web"]);
    }
    for (const [n, c] of [
      [n1, "client"],
      [n2, "server"],
      [n1, "lserver"],
      [n1, "lclient"],
      [n3, "late"],
    ] as const)
      n.docker(["rm", "-f", c]);
    for (const n of [n3, n2, n1]) n.docker(["swarm", "leave", "--force"]);
    return figures;
  } finally {
    await cluster.cleanup();
  }
}

export async function overlayBench(): Promise<void> {
  process.stdout.write(
    `\n## overlay: 3 nodes on a test LAN, ${MB} MB downloads, ${CONNECTIONS} connections\n`,
  );
  const results = new Map<DaemonKind, Figures>();
  for (const kind of ["dockerd", "berth"] as const) {
    try {
      results.set(kind, await measure(kind));
    } catch (err) {
      process.stdout.write(`${kind}: ${(err as Error).message}\n`);
    }
  }
  const base = results.get("dockerd");
  const ratio = (v: number | undefined, b: number | undefined) => (v && b ? ` (${(v / b).toFixed(2)}×)` : "");
  const rows = [
    [
      "peer",
      "overlay node1→node2",
      "bridge, one node",
      "new endpoint reachable",
      "VIP conn/s",
      "task IP conn/s",
    ],
  ];
  for (const [kind, f] of results)
    rows.push([
      kind === "dockerd" ? "docker swarm (dockerd)" : "berth",
      `${f.overlayMBps.toFixed(0)} MB/s${ratio(f.overlayMBps, base?.overlayMBps)}`,
      `${f.bridgeMBps.toFixed(0)} MB/s${ratio(f.bridgeMBps, base?.bridgeMBps)}`,
      `${f.reachableMs} ms${ratio(f.reachableMs, base?.reachableMs)}`,
      f.vipConnPerS ? `${f.vipConnPerS.toFixed(0)}` : "n/a (no IPVS)",
      f.directConnPerS ? `${f.directConnPerS.toFixed(0)}` : "-",
    ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join("   ")}\n`);
}
