/**
 * The default bridge network, for real: a container's own namespace and address, outbound NAT
 * to a "remote host" (a network namespace the test makes), published ports answering on
 * 127.0.0.1, on the host's other address and from that remote host, hairpin from another
 * container, -P, a port already taken, and nothing left behind (links, namespaces, rules).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
const REMOTE_NS = `berth-test-remote-${process.pid}`;
const REMOTE_HOST_IF = `bt-r${process.pid % 100000}`;
const HOST_SIDE = "198.51.100.1";
const REMOTE = "198.51.100.2";

const sh = (cmd: string) => execFileSync("sh", ["-c", cmd], { encoding: "utf8" });

before(async () => {
  await d.importBusybox();
  await d.start();
  // A "remote host": a namespace joined to the host by a veth, routed, on a subnet of its own.
  sh(`ip netns add ${REMOTE_NS}`);
  sh(`ip link add ${REMOTE_HOST_IF} type veth peer name eth0 netns ${REMOTE_NS}`);
  sh(`ip addr add ${HOST_SIDE}/24 dev ${REMOTE_HOST_IF} && ip link set ${REMOTE_HOST_IF} up`);
  sh(
    `ip -n ${REMOTE_NS} addr add ${REMOTE}/24 dev eth0 && ip -n ${REMOTE_NS} link set eth0 up && ip -n ${REMOTE_NS} link set lo up`,
  );
  sh(`ip -n ${REMOTE_NS} route add default via ${HOST_SIDE}`);
});

after(async () => {
  spawnSync("ip", ["link", "del", REMOTE_HOST_IF]);
  spawnSync("ip", ["netns", "del", REMOTE_NS]);
  await d.cleanup();
  assert.ok(!existsSync("/sys/class/net/berth0"), "the bridge goes with the daemon's last container");
  assert.doesNotMatch(spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout, /berth/);
});

const inspect = (name: string, format: string) =>
  ok(d.docker(["inspect", "--format", format, name])).stdout.trim();
/** A TCP request with busybox nc from inside a network namespace (or the host). */
const fetch = (where: string[], host: string, port: number) =>
  spawnSync(where[0]!, [...where.slice(1), "nc", "-w", "3", host, String(port)], {
    input: "",
    encoding: "utf8",
    timeout: 15_000,
  }).stdout;
const SERVER = ["busybox", "sh", "-c", "while true; do echo hello from $(hostname) | nc -l -p 8080; done"];

test("a container gets its own address on the bridge and reaches a remote host through NAT", async () => {
  ok(d.docker(["run", "-d", "--name", "net-a", ...SERVER]));
  const ip = inspect("net-a", "{{.NetworkSettings.IPAddress}}");
  assert.match(ip, /^10\.91\.\d+\.\d+$/);
  assert.equal(inspect("net-a", "{{.NetworkSettings.Gateway}}"), "10.91.0.1");
  const links = ok(d.docker(["exec", "net-a", "ip", "-o", "-4", "addr"])).stdout;
  assert.match(links, new RegExp(`eth0\\s+inet ${ip.replace(/\./g, "\\.")}/16`));
  // The remote host sees the host's address, not the container's (masquerade).
  const server = spawn("ip", [
    "netns",
    "exec",
    REMOTE_NS,
    process.execPath,
    "-e",
    "require('net').createServer((s) => s.end(s.remoteAddress + '\\n')).listen(9000, '0.0.0.0', () => console.log('up'))",
  ]);
  try {
    await new Promise((resolve) => server.stdout.once("data", resolve));
    const seen = ok(
      d.docker(["exec", "net-a", "sh", "-c", `nc -w 3 ${REMOTE} 9000 </dev/null`]),
    ).stdout.trim();
    assert.equal(seen, HOST_SIDE);
  } finally {
    server.kill();
  }
  ok(d.docker(["rm", "-f", "net-a"]));
});

test("published ports answer on 127.0.0.1, the host's other address, from a remote host and from another container", async () => {
  ok(d.docker(["run", "-d", "--name", "net-web", "-p", "18080:8080", ...SERVER]));
  const hostname = inspect("net-web", "{{.Config.Hostname}}");
  await until("the server", () => fetch(["busybox"], "127.0.0.1", 18080).includes("hello"), 10_000);
  assert.equal(fetch(["busybox"], "127.0.0.1", 18080).trim(), `hello from ${hostname}`);
  assert.equal(fetch(["busybox"], HOST_SIDE, 18080).trim(), `hello from ${hostname}`);
  assert.equal(
    fetch(["ip", "netns", "exec", REMOTE_NS, "busybox"], HOST_SIDE, 18080).trim(),
    `hello from ${hostname}`,
  );
  ok(d.docker(["run", "-d", "--name", "net-client", "busybox", "sleep", "300"]));
  assert.equal(
    ok(d.docker(["exec", "net-client", "sh", "-c", `nc -w 3 ${HOST_SIDE} 18080 </dev/null`])).stdout.trim(),
    `hello from ${hostname}`,
  );
  assert.equal(ok(d.docker(["port", "net-web"])).stdout, "8080/tcp -> 0.0.0.0:18080\n");
  assert.match(
    ok(d.docker(["ps", "--format", "{{.Names}} {{.Ports}}"])).stdout,
    /net-web 0\.0\.0\.0:18080->8080\/tcp/,
  );
  ok(d.docker(["rm", "-f", "net-web", "net-client"]));
  assert.equal(fetch(["busybox"], "127.0.0.1", 18080), "", "nothing answers once the container is gone");
});

test("-P publishes the exposed ports on free host ports", async () => {
  ok(d.docker(["run", "-d", "--name", "net-all", "--expose", "8080", "-P", ...SERVER]));
  const port = Number(inspect("net-all", '{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}'));
  assert.ok(port > 0);
  await until("the server", () => fetch(["busybox"], "127.0.0.1", port).includes("hello"), 10_000);
  ok(d.docker(["rm", "-f", "net-all"]));
});

test("a host port already taken: a clear error before the container starts, and nothing left", async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(18181, "0.0.0.0", () => r()));
  try {
    const r = d.docker(["run", "-d", "--name", "net-clash", "-p", "18181:80", "busybox", "true"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Bind for 0\.0\.0\.0:18181 failed: port is already allocated/);
    assert.equal(inspect("net-clash", "{{.State.Status}}"), "created");
    ok(d.docker(["rm", "net-clash"]));
  } finally {
    holder.close();
  }
  assert.doesNotMatch(sh("ip -o link show"), /vb[0-9a-f]{12}/);
  assert.doesNotMatch(sh("ip netns list"), /berth-[0-9a-f]{12}/);
});

test("after kill -9 of the daemon, a running container keeps its network; one that exited meanwhile is released at start", async () => {
  ok(d.docker(["run", "-d", "--name", "net-live", "-p", "18282:8080", ...SERVER]));
  const gone = ok(d.docker(["run", "-d", "--name", "net-gone", "busybox", "sleep", "1"])).stdout.trim();
  const veth = new RegExp(`vb${gone.slice(0, 12)}`);
  await until("the server", () => fetch(["busybox"], "127.0.0.1", 18282).includes("hello"), 10_000);
  await d.crash();
  assert.ok(
    fetch(["busybox"], "127.0.0.1", 18282).includes("hello"),
    "still published while the daemon is away",
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert.match(sh("ip -o link show"), veth, "nobody has released it yet");
  await d.start();
  assert.doesNotMatch(sh("ip -o link show"), veth);
  assert.ok(fetch(["busybox"], "127.0.0.1", 18282).includes("hello"));
  ok(d.docker(["rm", "-f", "net-live", "net-gone"]));
  assert.doesNotMatch(sh("ip -o link show"), /vb[0-9a-f]{12}/);
});
