/**
 * Overlay networks across three nodes (test/helpers/cluster.ts): VXLAN between the nodes'
 * namespaces, names and VIPs from the embedded DNS, connections to a VIP balanced over the
 * service's tasks on other nodes, two overlays kept apart, a dead node's endpoints gone, and
 * nothing left on any node once the networks are removed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { writeNodeRootfs } from "../helpers/node-rootfs.js";
import { until } from "../helpers/wait.js";

const cluster = new TestCluster(3);
const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];

const running = (node: ClusterNode, service: string) =>
  node
    .docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`])
    .stdout.split("\n")
    .filter(Boolean).length;

/** Runs a shell command in the probe container on node1. */
const probe = (script: string) => n1.docker(["exec", "probe", "sh", "-c", script], { timeout: 30_000 });

/** One HTTP request from the probe: the answering task's host name. */
const fetchFrom = (host: string) =>
  probe(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} 80 | tail -n 1`).stdout.trim();

const overlayNamespaces = (n: ClusterNode) =>
  ok(n.exec(["ip", "netns", "list"]))
    .stdout.split("\n")
    .filter((l) => l.startsWith("berth-ov-"));

before(async () => {
  await cluster.start();
  ok(n1.docker(["swarm", "init"]));
  const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  for (const n of [n2, n3]) ok(n.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
});

after(async () => {
  // A daemon that died says why (its last words, in CI's output).
  for (const n of cluster.nodes)
    if (n.pid === undefined) process.stderr.write(`# ${n.name}'s daemon exited:\n${n.log.slice(-3000)}\n`);
  for (const n of cluster.nodes) n.docker(["rm", "-f", "probe", "other", "udpprobe"]);
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

test("an overlay network: created on a manager with a VXLAN id and a subnet from the pool; bad input refused", () => {
  ok(n1.docker(["network", "create", "-d", "overlay", "--attachable", "front"]));
  const inspect = JSON.parse(ok(n1.docker(["network", "inspect", "front"])).stdout)[0];
  assert.equal(inspect.Scope, "swarm");
  assert.equal(inspect.Driver, "overlay");
  assert.equal(inspect.Attachable, true);
  assert.match(inspect.IPAM.Config[0].Subnet, /^10\.0\.\d+\.0\/24$/);
  assert.match(inspect.Options["com.docker.network.driver.overlay.vxlanid_list"], /^\d+$/);
  assert.match(
    ok(n1.docker(["network", "ls", "--filter", "driver=overlay"])).stdout,
    /front +overlay +swarm/,
  );
  // Bad input: said, and nothing made.
  assert.match(
    n1.docker(["network", "create", "-d", "overlay", "front"]).stderr,
    /network with name front already exists/,
  );
  assert.match(
    n1.docker(["network", "create", "-d", "overlay", "--subnet", inspect.IPAM.Config[0].Subnet, "clash"])
      .stderr,
    /overlaps/,
  );
  assert.match(n2.docker(["network", "create", "-d", "overlay", "fromworker"]).stderr, /not a swarm manager/);
  assert.doesNotMatch(ok(n1.docker(["network", "ls"])).stdout, /clash|fromworker/);
});

test("a service on the overlay: its name is a VIP balanced over its tasks on the other nodes; tasks.NAME lists them", async () => {
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
      "front",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sh",
      "-c",
      "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www",
    ]),
  );
  await until("a task on each node", () => cluster.nodes.every((n) => running(n, "web") === 1), 30_000);
  // An attachable container on the manager's node: it reaches the tasks over VXLAN.
  ok(n1.docker(["run", "-d", "--name", "probe", "--network", "front", "busybox", "sleep", "1000"]));
  const vip = JSON.parse(
    ok(n1.docker(["service", "inspect", "web"])).stdout,
  )[0].Endpoint.VirtualIPs[0].Addr.split("/")[0];
  await until("the service's name to give its VIP", () => probe("nslookup web").stdout.includes(vip));
  await until(
    "tasks.web to give the three tasks",
    () => (probe("nslookup tasks.web").stdout.match(/Address: 10\.0\./g) ?? []).length === 3,
  );
  const seen = new Map<string, number>();
  await until("all three tasks to answer through the VIP", () => {
    const who = fetchFrom("web");
    if (who) seen.set(who, (seen.get(who) ?? 0) + 1);
    return seen.size === 3;
  });
  for (let i = 0; i < 30; i++) {
    const who = fetchFrom("web");
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  assert.equal(seen.size, 3, `answers: ${JSON.stringify([...seen])}`);
  // A task reached by its own address, across nodes.
  const taskIp = /Address: (10\.0\.\d+\.\d+)/.exec(probe("nslookup tasks.web").stdout)![1]!;
  assert.notEqual(fetchFrom(taskIp), "");
});

/** `count` requests through one name, in one exec: the answering tasks' host names, in order. */
const answers = (host: string, count: number) =>
  probe(
    `for i in $(seq ${count}); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} 80 | tail -n 1); echo "[$r]"; done`,
  )
    .stdout.split("\n")
    .filter((l) => l.startsWith("["))
    .map((l) => l.slice(1, -1).trim());

test("300 connections through the VIP go to the three tasks in turn; a killed task stops receiving at once", async () => {
  const by = new Map<string, number>();
  for (const who of answers("web", 300)) by.set(who, (by.get(who) ?? 0) + 1);
  assert.equal(by.size, 3, JSON.stringify([...by]));
  for (const [who, n] of by) assert.ok(n >= 80 && n <= 120, `${who} answered ${n} of 300`);
  // A task killed on node2: the others answer every connection, none is lost to it.
  const id = ok(n2.docker(["ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"])).stdout.trim();
  const killed = ok(n2.docker(["inspect", "-f", "{{.Config.Hostname}}", id])).stdout.trim();
  const killedIp = ok(
    n2.docker(["inspect", "-f", '{{(index .NetworkSettings.Networks "front").IPAddress}}', id]),
  ).stdout.trim();
  // The probe's VIP rules, in its own namespace: the killed task's address leaves them.
  const probeNetns = `berth-${ok(n1.docker(["inspect", "-f", "{{.Id}}", "probe"]))
    .stdout.trim()
    .slice(0, 12)}`;
  const rules = () =>
    n1.exec(["ip", "netns", "exec", probeNetns, "nft", "list", "table", "ip", "berth_vip"]).stdout;
  assert.match(rules(), new RegExp(killedIp.replaceAll(".", "\\.")));
  const t0 = Date.now();
  ok(n2.docker(["kill", id]));
  await until("the killed task out of the VIP's rules", () => !rules().includes(killedIp), 5000);
  process.stderr.write(
    `# a killed task out of the VIP's rotation ${Date.now() - t0} ms after kill returned\n`,
  );
  const after = answers("web", 30);
  assert.ok(
    after.every((w) => w !== "" && w !== killed),
    JSON.stringify(after),
  );
  await until("the service whole again", () => cluster.nodes.every((n) => running(n, "web") === 1), 30_000);
});

const UDP_ECHO = `require("node:dgram").createSocket("udp4").on("message", function (m, r) { this.send(require("node:os").hostname(), r.port, r.address); }).bind(9999);`;
/** argv: HOST (a name or an address): one datagram to HOST:9999, the answer printed ("" after 2 s). */
const UDP_ASK = `const s = require("node:dgram").createSocket("udp4"); const t = setTimeout(() => { console.log(""); process.exit(0); }, 2000); s.on("message", (m) => { console.log(String(m)); clearTimeout(t); process.exit(0); }); s.send("hi", 9999, process.argv[2]);`;
const LOOKUP = `require("node:dns").lookup(process.argv[2], { all: true }, (e, a) => console.log((a ?? []).map((x) => x.address).join(" ")));`;

test("UDP between nodes: a service's name (its VIP, balanced) and tasks.NAME answer datagrams across the overlay", async () => {
  // busybox has no UDP server: an image of the host's node binary does.
  const dir = mkdtempSync(join(tmpdir(), "berth-udp-image-"));
  try {
    writeNodeRootfs(join(dir, "rootfs"));
    writeFileSync(join(dir, "rootfs", "echo.js"), UDP_ECHO);
    writeFileSync(join(dir, "rootfs", "ask.js"), UDP_ASK);
    writeFileSync(join(dir, "rootfs", "lookup.js"), LOOKUP);
    execFileSync("tar", ["-C", join(dir, "rootfs"), "-cf", join(dir, "image.tar"), "."]);
    for (const n of cluster.nodes)
      ok(n.docker(["import", join(dir, "image.tar"), "nodeudp:latest"], { timeout: 120_000 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "echo",
      "--replicas",
      "2",
      "--network",
      "front",
      "--constraint",
      "node.hostname!=node1",
      "--stop-grace-period",
      "1s",
      "nodeudp:latest",
      "/node",
      "/echo.js",
    ]),
  );
  await until(
    "echo on node2 and node3",
    () => running(n2, "echo") === 1 && running(n3, "echo") === 1,
    60_000,
  );
  ok(
    n1.docker([
      "run",
      "-d",
      "--name",
      "udpprobe",
      "--network",
      "front",
      "nodeudp:latest",
      "/node",
      "-e",
      "setInterval(() => {}, 1e9)",
    ]),
  );
  const ask = (host: string) => ok(n1.docker(["exec", "udpprobe", "/node", "/ask.js", host])).stdout.trim();
  const hosts = new Set<string>();
  await until("both tasks to answer through the VIP", () => {
    hosts.add(ask("echo"));
    hosts.delete("");
    return hosts.size === 2;
  });
  const tasks = ok(n1.docker(["exec", "udpprobe", "/node", "/lookup.js", "tasks.echo"]))
    .stdout.trim()
    .split(" ");
  assert.equal(tasks.length, 2, tasks.join(" "));
  const direct = new Set(tasks.map((ip) => ask(ip)));
  assert.deepEqual([...direct].sort(), [...hosts].sort(), "each task answers at its own address");
  n1.docker(["rm", "-f", "udpprobe"]);
  ok(n1.docker(["service", "rm", "echo"]));
});

test("two overlays are kept apart: no name and no route from one to the other", async () => {
  ok(n1.docker(["network", "create", "-d", "overlay", "--attachable", "back"]));
  ok(n2.docker(["run", "-d", "--name", "other", "--network", "back", "busybox", "httpd", "-f", "-p", "80"]));
  const otherIp = ok(
    n2.docker(["inspect", "-f", '{{(index .NetworkSettings.Networks "back").IPAddress}}', "other"]),
  ).stdout.trim();
  assert.match(otherIp, /^10\.0\./);
  assert.doesNotMatch(probe("nslookup other").stdout, new RegExp(otherIp.replaceAll(".", "\\.")));
  assert.notEqual(probe(`nc -w 2 ${otherIp} 80 </dev/null`).status, 0, "no way from front to back");
  // A non-attachable overlay takes only tasks.
  ok(n1.docker(["network", "create", "-d", "overlay", "tasksonly"]));
  assert.match(
    n1.docker(["run", "--rm", "--network", "tasksonly", "busybox", "true"]).stderr,
    /not manually attachable/,
  );
  ok(n1.docker(["network", "rm", "tasksonly"]));
});

test("a node cut off: its endpoints vanish from the others within a lease, and its task is replaced", async () => {
  n3.cutLink();
  try {
    await until(
      "node3's endpoints gone from node1's view",
      () => {
        const peers = JSON.parse(ok(n1.docker(["network", "inspect", "front"])).stdout)[0].Peers ?? [];
        return !peers.some((p: { IP: string }) => p.IP === n3.address);
      },
      20_000,
    );
    await until(
      "three tasks answer again",
      () => {
        const who = new Set<string>();
        for (let i = 0; i < 12; i++) who.add(fetchFrom("web"));
        who.delete("");
        return who.size === 3;
      },
      30_000,
    );
  } finally {
    n3.healLink();
  }
});

test("a port published in host mode answers on the node that runs the task, from another node", async () => {
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "pub",
      "--network",
      "front",
      "--publish",
      "published=18080,target=80,mode=host",
      "--constraint",
      "node.hostname==node2",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sh",
      "-c",
      "mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www",
    ]),
  );
  await until("pub running on node2", () => running(n2, "pub") === 1, 30_000);
  const fetchScript = `fetch("http://${n2.address}:18080/").then(async (r) => { console.log(await r.text()); }, (e) => { console.error(e.message); process.exit(1); })`;
  await until("node2:18080 to answer node1", () =>
    n1.exec([process.execPath, "-e", fetchScript]).stdout.includes("published"),
  );
  ok(n1.docker(["service", "rm", "pub"]));
});

/**
 * An HTTP/1.0 GET from the LAN's own namespace (a client that is no node), over a plain socket
 * (busybox httpd's CGI answers bare newlines): the IPv4 address the body ends with (httpd shows
 * it IPv4-mapped: "[::ffff:10.0.0.1]"), or "" when refused.
 */
function fromLan(host: string, port: number, path: string): string {
  return /(\d+\.\d+\.\d+\.\d+)\]?\s*$/.exec(cluster.lan.httpGet(host, port, path))?.[1] ?? "";
}

test("the routing mesh: an ingress port answers on every node; a task on the node that took the connection sees the client's own address", async () => {
  const cgi =
    "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www";
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "mesh",
      "--replicas",
      "2",
      "--publish",
      "18090:80",
      "--constraint",
      "node.hostname!=node3",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sh",
      "-c",
      cgi,
    ]),
  );
  await until(
    "a task on node1 and on node2",
    () => running(n1, "mesh") === 1 && running(n2, "mesh") === 1,
    30_000,
  );
  const ask = (n: ClusterNode) => fromLan(n.address, 18090, "/cgi-bin/ip");
  for (const n of cluster.nodes)
    await until(`${n.name}:18090 to answer`, () => /^\d+\./.test(ask(n)), 20_000);
  // node3 runs no task: it hands every connection to another node, as itself.
  for (let i = 0; i < 4; i++) assert.equal(ask(n3), n3.address);
  // node1 runs one: the connections it serves itself show the client's own address.
  const seen = new Set<string>();
  for (let i = 0; i < 6; i++) seen.add(ask(n1));
  assert.ok(seen.has(cluster.lan.gateway), `answers: ${[...seen].join(", ")}`);
  ok(n1.docker(["service", "rm", "mesh"]));
  await until("the port closed everywhere", () => cluster.nodes.every((n) => ask(n) === ""), 20_000);
});

const STACK = (webReplicas: number) => `version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    stop_grace_period: 1s
    deploy:
      replicas: ${webReplicas}
      update_config: { parallelism: 1, delay: 1s }
    networks: [appnet]
  api:
    image: busybox
    command: ["sleep", "1000"]
    stop_grace_period: 1s
    networks: [appnet]
  db:
    image: busybox
    command: ["sh", "-c", "cat /run/secrets/db_pass; echo; exec sleep 1000"]
    stop_grace_period: 1s
    networks: [appnet]
    secrets: [db_pass]
    deploy:
      placement:
        constraints: [node.hostname == node2]
networks:
  appnet:
    driver: overlay
secrets:
  db_pass:
    file: ./db_pass.txt
`;

test("docker stack: a compose v3 application of three services deployed, reached by short names, updated in place, removed", async () => {
  const dir = n1.root;
  writeFileSync(join(dir, "db_pass.txt"), "stack-s3cret");
  writeFileSync(join(dir, "stack.yml"), STACK(2));
  ok(n1.docker(["stack", "deploy", "-c", join(dir, "stack.yml"), "demo"]));
  assert.match(ok(n1.docker(["stack", "ls"])).stdout, /demo +3/);
  await until(
    "every task running",
    () => {
      const ps = n1.docker([
        "stack",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
        "demo",
      ]);
      const states = ps.stdout.trim().split("\n").filter(Boolean);
      return states.length === 4 && states.every((st) => st.startsWith("Running"));
    },
    30_000,
  );
  const apiTask = () => {
    for (const n of cluster.nodes) {
      const id = n
        .docker(["ps", "-q", "--filter", "label=com.docker.swarm.service.name=demo_api"])
        .stdout.trim();
      if (id) return { node: n, id };
    }
    throw new Error("no api task");
  };
  const { node, id } = apiTask();
  // The api task reaches web by its short name (the stack's alias, the service's VIP).
  await until("web answers api by its short name", () =>
    /\w/.test(
      node.docker([
        "exec",
        id,
        "sh",
        "-c",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80 | tail -n 1",
      ]).stdout,
    ),
  );
  await until("the db task read its secret", () =>
    ok(n1.docker(["service", "logs", "--raw", "demo_db"])).stdout.includes("stack-s3cret"),
  );
  // A second deploy of a changed file: web scaled, api left alone.
  writeFileSync(join(dir, "stack.yml"), STACK(3));
  ok(n1.docker(["stack", "deploy", "-c", join(dir, "stack.yml"), "demo"]));
  await until(
    "three web tasks",
    () => cluster.nodes.reduce((a, n) => a + running(n, "demo_web"), 0) === 3,
    30_000,
  );
  assert.equal(apiTask().id, id, "api's task was not replaced");
  ok(n1.docker(["stack", "rm", "demo"]));
  await until("the stack gone", () =>
    cluster.nodes.every(
      (n) => n.docker(["ps", "-q", "--filter", "label=com.docker.stack.namespace=demo"]).stdout.trim() === "",
    ),
  );
  assert.doesNotMatch(ok(n1.docker(["network", "ls"])).stdout, /demo_appnet/);
  assert.equal(ok(n1.docker(["secret", "ls", "-q"])).stdout.trim(), "");
});

test("removed: the service, the containers and the networks; no overlay namespace is left on any node", async () => {
  ok(n1.docker(["service", "rm", "web"]));
  ok(n1.docker(["rm", "-f", "probe"]));
  ok(n2.docker(["rm", "-f", "other"]));
  await until("web's tasks gone", () => cluster.nodes.every((n) => running(n, "web") === 0), 30_000);
  // Endpoints are withdrawn as the containers' links go (a moment after rm returns).
  for (const name of ["front", "back"])
    await until(`${name} removed`, () => n1.docker(["network", "rm", name]).status === 0);
  assert.doesNotMatch(ok(n1.docker(["network", "ls"])).stdout, /front|back/);
  await until("no overlay namespace on any node", () =>
    cluster.nodes.every((n) => overlayNamespaces(n).length === 0),
  );
});
