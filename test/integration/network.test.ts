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
const fetchOnce = (where: string[], host: string, port: number) =>
  spawnSync(where[0]!, [...where.slice(1), "nc", "-w", "3", host, String(port)], {
    input: "",
    encoding: "utf8",
    timeout: 15_000,
  }).stdout;
/** The servers below restart nc between connections: a refused connect is retried, a few times. */
function retried(once: () => string, tries = 10): string {
  for (let i = 1; ; i++) {
    const out = once();
    if (out || i >= tries) return out;
    spawnSync("sleep", ["0.1"]);
  }
}
const fetch = (where: string[], host: string, port: number, tries = 10) =>
  retried(() => fetchOnce(where, host, port), tries);
const SERVER = ["busybox", "sh", "-c", "while true; do echo hello from $(hostname) | nc -l -p 8080; done"];
const NODE = ["-v", `${process.execPath}:/usr/bin/node:ro`, "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"];
const UDP_ECHO =
  "const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => s.send('echo: ' + m, r.port, r.address)); s.bind(9999)";
const UDP_ASK =
  "const s = require('dgram').createSocket('udp4'); s.on('message', (m) => { console.log(String(m)); process.exit(0) }); s.send('over-udp', 9999, 'udp-svc'); setTimeout(() => process.exit(1), 5000)";

test("containers started at once by a fresh daemon all start: one of them makes the bridge", async () => {
  assert.ok(!existsSync("/sys/class/net/berth0"), "no bridge before the first container");
  const runs = await Promise.all(
    Array.from(
      { length: 6 },
      (_, i) =>
        new Promise<number>((resolve) =>
          spawn(
            "docker",
            ["-H", `unix://${d.socket}`, "run", "-d", "--name", `at-once-${i}`, "busybox", "sleep", "60"],
            {
              stdio: "ignore",
            },
          ).once("exit", (code) => resolve(code ?? -1)),
        ),
    ),
  );
  assert.deepEqual(runs, [0, 0, 0, 0, 0, 0]);
  ok(d.docker(["rm", "-f", ...runs.map((_, i) => `at-once-${i}`)]));
});

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
    retried(() =>
      ok(d.docker(["exec", "net-client", "sh", "-c", `nc -w 3 ${HOST_SIDE} 18080 </dev/null`])).stdout.trim(),
    ),
    `hello from ${hostname}`,
  );
  assert.equal(ok(d.docker(["port", "net-web"])).stdout, "8080/tcp -> 0.0.0.0:18080\n");
  assert.match(
    ok(d.docker(["ps", "--format", "{{.Names}} {{.Ports}}"])).stdout,
    /net-web 0\.0\.0\.0:18080->8080\/tcp/,
  );
  ok(d.docker(["rm", "-f", "net-web", "net-client"]));
  assert.equal(fetch(["busybox"], "127.0.0.1", 18080, 1), "", "nothing answers once the container is gone");
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
  // Links go in the background after rm (deleting them waits for the kernel).
  await until("the links' teardown", () => !/vb[0-9a-f]{12}/.test(sh("ip -o link show")), 5000);
  assert.doesNotMatch(sh("ip netns list"), /berth-[0-9a-f]{12}/);
});

test("after kill -9 of the daemon, a running container keeps its network; one that exited meanwhile is released at start", async () => {
  ok(d.docker(["run", "-d", "--name", "net-live", "-p", "18282:8080", ...SERVER]));
  ok(d.docker(["run", "-d", "--name", "net-gone", "busybox", "sleep", "1"]));
  const veth = new RegExp(`${inspect("net-gone", "{{.NetworkSettings.EndpointID}}")}[@:]`);
  await until("the server", () => fetch(["busybox"], "127.0.0.1", 18282).includes("hello"), 10_000);
  await d.crash();
  assert.ok(
    fetch(["busybox"], "127.0.0.1", 18282).includes("hello"),
    "still published while the daemon is away",
  );
  await new Promise((r) => setTimeout(r, 1500));
  assert.match(sh("ip -o link show"), veth, "nobody has released it yet");
  await d.start();
  assert.doesNotMatch(sh("ip -o link show"), veth, "released at start, before the daemon answers");
  assert.ok(fetch(["busybox"], "127.0.0.1", 18282).includes("hello"));
  ok(d.docker(["rm", "-f", "net-live", "net-gone"]));
  await until("the links' teardown", () => !/vb[0-9a-f]{12}/.test(sh("ip -o link show")), 5000);
});

test("user networks: names and aliases resolve over TCP and UDP, --ip is honoured, other networks are unreachable", async () => {
  ok(d.docker(["network", "create", "--subnet", "10.93.7.0/24", "front"]));
  ok(d.docker(["network", "create", "back"]));
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "svc",
      "--network",
      "front",
      "--ip",
      "10.93.7.50",
      "--network-alias",
      "api",
      ...SERVER,
    ]),
  );
  // busybox's nc has no UDP here: the host's node, mounted read-only, speaks it on both ends.
  ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "udp-svc",
      "--network",
      "front",
      ...NODE,
      "busybox",
      "node",
      "-e",
      UDP_ECHO,
    ]),
  );
  ok(d.docker(["run", "-d", "--name", "cli", "--network", "front", ...NODE, "busybox", "sleep", "300"]));
  ok(d.docker(["run", "-d", "--name", "outsider", "--network", "back", "busybox", "sleep", "300"]));
  assert.equal(inspect("svc", "{{.NetworkSettings.Networks.front.IPAddress}}"), "10.93.7.50");
  const get = (from: string, host: string) =>
    retried(() => d.docker(["exec", from, "sh", "-c", `nc -w 3 ${host} 8080 </dev/null`]).stdout.trim(), 5);
  const hello = `hello from ${inspect("svc", "{{.Config.Hostname}}")}`;
  await until("svc by name", () => get("cli", "svc") === hello, 10_000);
  assert.equal(get("cli", "api"), hello, "the alias resolves");
  assert.equal(ok(d.docker(["exec", "cli", "node", "-e", UDP_ASK])).stdout, "echo: over-udp\n");
  // Another network: neither the name nor the address is reachable.
  assert.equal(d.docker(["exec", "outsider", "sh", "-c", "nc -w 2 svc 8080 </dev/null"]).stdout, "");
  assert.equal(d.docker(["exec", "outsider", "sh", "-c", "nc -w 2 10.93.7.50 8080 </dev/null"]).stdout, "");
  // connect brings it in, by name too; disconnect takes it out.
  ok(d.docker(["network", "connect", "front", "outsider"]));
  await until("connected", () => get("outsider", "svc").startsWith("hello from"), 10_000);
  const inspected = JSON.parse(ok(d.docker(["network", "inspect", "front"])).stdout) as {
    Containers: Record<string, { Name: string }>;
  }[];
  assert.deepEqual(
    Object.values(inspected[0]!.Containers)
      .map((c) => c.Name)
      .sort(),
    ["cli", "outsider", "svc", "udp-svc"],
  );
  ok(d.docker(["network", "disconnect", "front", "outsider"]));
  assert.equal(d.docker(["exec", "outsider", "sh", "-c", "nc -w 2 10.93.7.50 8080 </dev/null"]).stdout, "");
  const rm = d.docker(["network", "rm", "front"]);
  assert.notEqual(rm.status, 0);
  assert.match(rm.stderr, /has active endpoints/);
  ok(d.docker(["rm", "-f", "svc", "udp-svc", "cli", "outsider"]));
  ok(d.docker(["network", "rm", "front", "back"]));
});

test("IPv6: a dual-stack network gives both families, names resolve to both, --ip6 is honoured, NAT66 takes containers out", async () => {
  // The remote host gets an IPv6 address too, routed through the host.
  sh(`ip addr add 2001:db8:99::1/64 dev ${REMOTE_HOST_IF} nodad`);
  sh(`ip -n ${REMOTE_NS} addr add 2001:db8:99::2/64 dev eth0 nodad`);
  sh(`ip -n ${REMOTE_NS} route add ::/0 via 2001:db8:99::1`);
  // It answers with the address it sees the connection come from.
  const peer = spawn("ip", [
    "netns",
    "exec",
    REMOTE_NS,
    "python3",
    "-c",
    "import socket\ns = socket.socket(socket.AF_INET6); s.bind(('::', 9600)); s.listen()\nwhile True:\n  c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()",
  ]);
  try {
    ok(d.docker(["network", "create", "--ipv6", "--subnet", "fd00:b1::/64", "six"]));
    const net = JSON.parse(ok(d.docker(["network", "inspect", "six"])).stdout)[0] as {
      EnableIPv6: boolean;
      IPAM: { Config: { Subnet: string; Gateway: string }[] };
    };
    assert.equal(net.EnableIPv6, true);
    assert.deepEqual(
      net.IPAM.Config.map((c) => c.Subnet.includes(":")),
      [false, true],
      "an IPv4 subnet is chosen beside the IPv6 one",
    );
    assert.deepEqual(net.IPAM.Config[1], { Subnet: "fd00:b1::/64", Gateway: "fd00:b1::1" });
    ok(d.docker(["run", "-d", "--name", "s6", "--network", "six", "--ip6", "fd00:b1::50", ...SERVER]));
    ok(d.docker(["run", "-d", "--name", "c6", "--network", "six", "busybox", "sleep", "300"]));
    assert.equal(
      inspect(
        "s6",
        "{{.NetworkSettings.Networks.six.GlobalIPv6Address}} {{.NetworkSettings.Networks.six.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.six.IPv6Gateway}}",
      ),
      "fd00:b1::50 64 fd00:b1::1",
    );
    assert.match(
      inspect("c6", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}"),
      /^fd00:b1::[0-9a-f]+$/,
    );
    const hello = `hello from ${inspect("s6", "{{.Config.Hostname}}")}`;
    const get6 = () =>
      retried(
        () => d.docker(["exec", "c6", "sh", "-c", "nc -w 3 fd00:b1::50 8080 </dev/null"]).stdout.trim(),
        5,
      );
    await until("s6 over IPv6", () => get6() === hello, 10_000);
    // The embedded DNS answers AAAA with the IPv6 address, A with the IPv4 one.
    const aaaa = ok(d.docker(["exec", "c6", "nslookup", "-type=aaaa", "s6"])).stdout;
    assert.match(aaaa, /fd00:b1::50/);
    assert.match(
      ok(d.docker(["exec", "c6", "nslookup", "-type=a", "s6"])).stdout,
      /Address: \d+\.\d+\.\d+\.\d+/,
    );
    // Out to the world over IPv6, masqueraded behind the host's address.
    const seen = retried(
      () => d.docker(["exec", "c6", "sh", "-c", "nc -w 3 2001:db8:99::2 9600 </dev/null"]).stdout.trim(),
      10,
    );
    assert.equal(seen, "2001:db8:99::1");
    const inspected = JSON.parse(ok(d.docker(["network", "inspect", "six"])).stdout)[0] as {
      Containers: Record<string, { Name: string; IPv6Address: string }>;
    };
    assert.equal(
      Object.values(inspected.Containers).find((c) => c.Name === "s6")?.IPv6Address,
      "fd00:b1::50/64",
    );

    // Bad input: each refused with a clear error, and nothing made.
    for (const [args, error] of [
      [
        ["run", "--rm", "--network", "six", "--ip6", "fd00:b2::5", "busybox", "true"],
        /not in the network's subnet/,
      ],
      [
        ["run", "--rm", "--network", "six", "--ip6", "fd00:b1::50", "busybox", "true"],
        /Address already in use/,
      ],
      [
        ["run", "--rm", "--network", "bridge", "--ip6", "fd00:b1::7", "busybox", "true"],
        /IPv6|user defined networks/,
      ],
      [["network", "create", "--ipv6", "--subnet", "fd00:c::/20", "badv6"], /invalid subnet/],
      [["network", "create", "--ipv6", "--subnet", "fd00:b1:0:0:1::/80", "overlap"], /overlaps/],
    ] as const) {
      const r = d.docker([...args]);
      assert.notEqual(r.status, 0, args.join(" "));
      assert.match(r.stderr, error, args.join(" "));
    }
    assert.doesNotMatch(ok(d.docker(["network", "ls", "--format", "{{.Name}}"])).stdout, /badv6|overlap/);
    // An IPv6 subnet without --ipv6 is IPv6 asked for.
    ok(d.docker(["network", "create", "--subnet", "fd00:c::/64", "implied"]));
    assert.equal(
      ok(d.docker(["network", "inspect", "-f", "{{.EnableIPv6}}", "implied"])).stdout.trim(),
      "true",
    );
    ok(d.docker(["network", "rm", "implied"]));
    // The berth CLI: both subnets, each --gateway with the subnet that holds it, --ip6.
    ok(
      d.berth([
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.94.6.0/24",
        "--subnet",
        "fd00:b6::/64",
        "--gateway",
        "fd00:b6::fe",
        "--gateway",
        "10.94.6.254",
        "both",
      ]),
      "berth",
    );
    assert.equal(
      ok(d.berth(["network", "inspect", "-f", "{{json .IPAM.Config}}", "both"]), "berth").stdout.trim(),
      '[{"Subnet":"10.94.6.0/24","Gateway":"10.94.6.254"},{"Subnet":"fd00:b6::/64","Gateway":"fd00:b6::fe"}]',
    );
    assert.equal(
      ok(
        d.berth([
          "run",
          "--rm",
          "--network",
          "both",
          "--ip6",
          "fd00:b6::9",
          "busybox",
          "sh",
          "-c",
          "ip -6 addr show eth0 | grep -o 'fd00:b6::9/64'",
        ]),
        "berth",
      ).stdout,
      "fd00:b6::9/64\n",
    );
    const stray = d.berth([
      "network",
      "create",
      "--subnet",
      "fd00:b7::/64",
      "--gateway",
      "fd00:b8::1",
      "stray",
    ]);
    assert.equal(stray.status, 1);
    assert.match(stray.stderr, /--gateway fd00:b8::1 is in no --subnet given/);
    ok(d.docker(["rm", "-f", "s6", "c6"]));
    ok(d.docker(["network", "rm", "six", "both"]));
  } finally {
    peer.kill();
  }
});

test("an internal network has no way out, but its containers reach each other", async () => {
  ok(d.docker(["network", "create", "--internal", "vault"]));
  ok(d.docker(["run", "-d", "--name", "safe", "--network", "vault", ...SERVER]));
  ok(d.docker(["run", "-d", "--name", "guard", "--network", "vault", "busybox", "sleep", "300"]));
  await until(
    "safe by name",
    () => d.docker(["exec", "guard", "sh", "-c", "nc -w 3 safe 8080 </dev/null"]).stdout.includes("hello"),
    10_000,
  );
  assert.doesNotMatch(ok(d.docker(["exec", "guard", "ip", "route"])).stdout, /default/);
  assert.equal(d.docker(["exec", "guard", "sh", "-c", `nc -w 2 ${REMOTE} 9000 </dev/null`]).stdout, "");
  ok(d.docker(["rm", "-f", "safe", "guard"]));
  ok(d.docker(["network", "rm", "vault"]));
});

test("network commands: docker's errors for bad input, ls and prune", () => {
  ok(d.docker(["network", "create", "dup-net"]));
  assert.match(d.docker(["network", "create", "dup-net"]).stderr, /network with name dup-net already exists/);
  assert.match(d.docker(["network", "create", "--subnet", "10.93.300.0/24", "bad"]).stderr, /invalid/);
  assert.match(d.docker(["network", "create", "--subnet", "10.91.5.0/24", "clash"]).stderr, /Pool overlaps/);
  assert.match(d.docker(["network", "rm", "no-such-net"]).stderr, /network no-such-net not found/);
  assert.match(
    d.docker(["run", "--rm", "--network", "no-such-net", "busybox", "true"]).stderr,
    /network no-such-net not found/,
  );
  const names = ok(d.docker(["network", "ls", "--format", "{{.Name}}"]))
    .stdout.split("\n")
    .filter(Boolean)
    .sort();
  assert.deepEqual(names, ["bridge", "dup-net", "host", "none"]);
  assert.match(ok(d.docker(["network", "prune", "-f"])).stdout, /dup-net/);
  assert.match(d.docker(["network", "rm", "bridge"]).stderr, /pre-defined network and cannot be removed/);
});

test("-o mtu sets the MTU of the bridge and the containers' interfaces; short IDs resolve; port ranges publish", async () => {
  ok(d.docker(["network", "create", "-o", "com.docker.network.driver.mtu=1400", "small"]));
  const id = ok(
    d.docker([
      "run",
      "-d",
      "--name",
      "mtu-svc",
      "--network",
      "small",
      "-p",
      "18300-18301:8080-8081",
      ...SERVER,
    ]),
  ).stdout.trim();
  ok(d.docker(["run", "-d", "--name", "mtu-cli", "--network", "small", "busybox", "sleep", "300"]));
  assert.equal(ok(d.docker(["exec", "mtu-cli", "cat", "/sys/class/net/eth0/mtu"])).stdout, "1400\n");
  await until(
    "the short id",
    () =>
      d
        .docker(["exec", "mtu-cli", "sh", "-c", `nc -w 3 ${id.slice(0, 12)} 8080 </dev/null`])
        .stdout.includes("hello"),
    10_000,
  );
  assert.equal(
    ok(d.docker(["port", "mtu-svc"])).stdout,
    "8080/tcp -> 0.0.0.0:18300\n8081/tcp -> 0.0.0.0:18301\n",
  );
  assert.ok(fetch(["busybox"], "127.0.0.1", 18300).includes("hello"));
  ok(d.docker(["rm", "-f", "mtu-svc", "mtu-cli"]));
  ok(d.docker(["network", "rm", "small"]));
});
