/**
 * `berth stack` on a two-node swarm (test/helpers/cluster.ts): a compose v3 application of three
 * services (web, api, db with a secret) deployed with Berth's own CLI, its services talking by
 * name across the nodes; a changed file updates only the service that changed; a bad file
 * changes nothing; --prune removes what the file no longer has; `stack rm` leaves no service,
 * network, secret, overlay namespace or VXLAN device behind.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const cluster = new TestCluster(2);
const [n1, n2] = [cluster.node(1), cluster.node(2)];
const berth = (args: string[]) => n1.berth(args, { timeout: 120_000 });

/** The application; `webVersion` goes into web's environment (a change of web's spec only). */
const STACK = (webVersion: string, withApi = true) => `
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]
    environment:
      WEB_VERSION: "${webVersion}"
    stop_grace_period: 1s
    ports: ["80"]
    deploy:
      replicas: 2
      placement:
        max_replicas_per_node: 1
${
  withApi
    ? `  api:
    image: busybox
    command: sleep 1000
    stop_grace_period: 1s
`
    : ""
}  db:
    image: busybox
    command: ["sh", "-c", "exec sleep 1000"]
    stop_grace_period: 1s
    secrets:
      - source: db_pass
        mode: 0400
    deploy:
      placement:
        constraints: [node.hostname == node2]
secrets:
  db_pass:
    file: ./db_pass.txt
`;

const file = join(n1.root, "stack.yml");

interface Inspected {
  ID: string;
  Version: { Index: number };
  UpdatedAt: string;
}
const inspect = (name: string) =>
  (JSON.parse(ok(berth(["service", "inspect", name])).stdout) as Inspected[])[0]!;

/** The port the managers chose for web's published port 80. */
let webPort = 0;
/** The body of web's page (its task's host name) through the routing mesh at node n. */
const webAnswer = (n: ClusterNode) =>
  cluster.lan
    .httpGet(n.address, webPort)
    .split(/\r?\n\r?\n/)[1]
    ?.trim() ?? "";

const webEnv = () =>
  JSON.parse(
    ok(berth(["service", "inspect", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}", "app_web"]))
      .stdout,
  ) as string[];

/** The node and container of a service's first task. */
function taskOf(service: string): { node: ClusterNode; id: string } | undefined {
  for (const n of cluster.nodes) {
    const id = n
      .docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`])
      .stdout.trim();
    if (id) return { node: n, id: id.split("\n")[0]! };
  }
  return undefined;
}

const overlayNamespaces = (n: ClusterNode) =>
  ok(n.exec(["ip", "netns", "list"]))
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((l) => l.startsWith("berth-ov-"));

const vxlanDevices = (n: ClusterNode, ns: string) =>
  ok(n.exec(["ip", "-n", ns, "-d", "link", "show", "type", "vxlan"]))
    .stdout.split("\n")
    .filter((l) => /^\d+:/.test(l)).length;

before(async () => {
  await cluster.start();
  ok(n1.docker(["swarm", "init"]));
  const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  ok(n2.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
  writeFileSync(join(n1.root, "db_pass.txt"), "stack-s3cret");
});

after(async () => {
  for (const n of cluster.nodes)
    if (n.pid === undefined) process.stderr.write(`# ${n.name}'s daemon exited:\n${n.log.slice(-3000)}\n`);
  berth(["stack", "rm", "app"]);
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

test("berth stack deploy: networks, secret and services made with the stack's labels, running and reaching each other by name", async () => {
  writeFileSync(file, STACK("1"));
  const r = ok(berth(["stack", "deploy", "-c", file, "app"]), "berth stack deploy");
  assert.equal(
    r.stdout,
    "Creating network app_default\nCreating secret app_db_pass\nCreating service app_api\nCreating service app_db\nCreating service app_web\n",
  );
  assert.match(ok(berth(["stack", "ls"])).stdout, /^NAME +SERVICES\napp +3\n$/);
  const services = ok(berth(["stack", "services", "--format", "{{.Name}} {{.Mode}}", "app"])).stdout;
  assert.equal(services, "app_api replicated\napp_db replicated\napp_web replicated\n");
  const labels = JSON.parse(
    ok(berth(["service", "inspect", "--format", "{{json .Spec.Labels}}", "app_web"])).stdout,
  );
  assert.deepEqual(labels, { "com.docker.stack.namespace": "app", "com.docker.stack.image": "busybox" });
  assert.match(
    ok(berth(["network", "ls", "--filter", "label=com.docker.stack.namespace=app"])).stdout,
    /app_default +overlay +swarm/,
  );
  await until(
    "every task running",
    () => {
      const ps = berth([
        "stack",
        "ps",
        "-f",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
        "app",
      ]);
      const states = ps.stdout.split("\n").filter(Boolean);
      return states.length === 4 && states.every((s) => s.startsWith("Running"));
    },
    60_000,
  );
  const api = taskOf("app_api")!;
  await until("api reaches web by its short name", () =>
    /\w/.test(
      api.node.docker([
        "exec",
        api.id,
        "sh",
        "-c",
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web 80 | tail -n 1",
      ]).stdout,
    ),
  );
  // The stack's overlay is a namespace with a VXLAN device on both nodes (what rm must take away).
  for (const n of cluster.nodes) {
    const namespaces = overlayNamespaces(n);
    assert.ok(namespaces.length > 0, `${n.name} has an overlay namespace`);
    assert.ok(
      namespaces.some((ns) => vxlanDevices(n, ns) > 0),
      `${n.name} has a VXLAN device in ${namespaces.join(", ")}`,
    );
  }
  // web publishes 80 without a number: the managers chose one from 30000, which the routing
  // mesh answers on, on every node.
  const ports = JSON.parse(
    ok(berth(["service", "inspect", "--format", "{{json .Endpoint.Ports}}", "app_web"])).stdout,
  ) as Array<{ PublishedPort: number; TargetPort: number; PublishMode: string; Protocol: string }>;
  assert.equal(ports.length, 1);
  webPort = ports[0]!.PublishedPort;
  assert.ok(webPort >= 30000 && webPort <= 32767, `published port ${webPort}`);
  assert.deepEqual(ports[0], {
    Protocol: "tcp",
    TargetPort: 80,
    PublishedPort: webPort,
    PublishMode: "ingress",
  });
  assert.match(ok(berth(["service", "ls"])).stdout, new RegExp(`app_web .*\\*:${webPort}->80/tcp`));
  for (const n of cluster.nodes)
    await until(`${n.name}:${webPort} to answer`, () => /\w/.test(webAnswer(n)), 20_000);
  const db = taskOf("app_db")!;
  assert.equal(db.node.name, "node2");
  assert.equal(ok(db.node.docker(["exec", db.id, "cat", "/run/secrets/db_pass"])).stdout, "stack-s3cret");
  assert.equal(
    ok(db.node.docker(["exec", db.id, "stat", "-c", "%a", "/run/secrets/db_pass"])).stdout.trim(),
    "400",
  );
});

test("a second deploy of a changed file updates only the service that changed; the same file changes nothing", async () => {
  const before = { api: inspect("app_api"), db: inspect("app_db"), web: inspect("app_web") };
  writeFileSync(file, STACK("2"));
  const r = ok(berth(["stack", "deploy", "-c", file, "app"]));
  assert.equal(r.stdout, `Updating service app_web (id: ${before.web.ID})\n`);
  const now = { api: inspect("app_api"), db: inspect("app_db"), web: inspect("app_web") };
  for (const name of ["api", "db"] as const) {
    assert.equal(now[name].Version.Index, before[name].Version.Index, `${name}'s version`);
    assert.equal(now[name].UpdatedAt, before[name].UpdatedAt, `${name}'s UpdatedAt`);
  }
  assert.ok(now.web.Version.Index > before.web.Version.Index);
  assert.deepEqual(webEnv(), ["WEB_VERSION=2"]);
  assert.equal(ok(berth(["stack", "deploy", "-c", file, "app"])).stdout, "");
  assert.equal(inspect("app_web").Version.Index, now.web.Version.Index);
});

test("a bad compose file is refused with the path of the bad field, and nothing is made or changed", () => {
  const bad = join(n1.root, "bad.yml");
  writeFileSync(bad, STACK("3").replace("  db:\n", "  db:\n    networks: [front]\n"));
  const r = berth(["stack", "deploy", "-c", bad, "other"]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /services\.db\.networks names network "front", which is not defined/);
  writeFileSync(bad, STACK("3").replace("replicas: 2", "replicas: two"));
  const r2 = berth(["stack", "deploy", "-c", bad, "app"]);
  assert.match(r2.stderr, /services\.web\.deploy\.replicas must be an integer/);
  writeFileSync(
    bad,
    `${STACK("3").replace("  db:\n", "  db:\n    networks: [ext]\n")}networks:\n  ext: {external: true}\n`,
  );
  const r4 = berth(["stack", "deploy", "-c", bad, "other"]);
  assert.match(r4.stderr, /network "ext" is declared as external, but could not be found/);
  assert.equal(berth(["stack", "services", "other"]).stderr, "Nothing found in stack: other\n");
  assert.doesNotMatch(ok(berth(["secret", "ls"])).stdout, /other_/);
  assert.doesNotMatch(ok(berth(["network", "ls"])).stdout, /other_/);
  assert.deepEqual(webEnv(), ["WEB_VERSION=2"]);
  const r3 = berth(["stack", "deploy", "-c", file, "bad name"]);
  assert.match(r3.stderr, /invalid stack name "bad name"/);
});

test("--prune removes the services the file no longer has", () => {
  writeFileSync(file, STACK("2", false));
  const r = ok(berth(["stack", "deploy", "--prune", "-c", file, "app"]));
  assert.equal(r.stdout, "Removing service app_api\n");
  assert.equal(
    ok(berth(["stack", "services", "-q", "app"]))
      .stdout.trim()
      .split("\n").length,
    2,
  );
});

test("berth stack rm: no service, network, secret, container, overlay namespace or VXLAN device is left", async () => {
  const r = ok(berth(["stack", "rm", "app"]));
  assert.equal(
    r.stdout,
    "Removing service app_db\nRemoving service app_web\nRemoving network app_default\nRemoving secret app_db_pass\n",
  );
  assert.equal(ok(berth(["stack", "ls"])).stdout, "NAME   SERVICES\n");
  assert.equal(ok(berth(["service", "ls", "-q"])).stdout, "");
  assert.equal(ok(berth(["secret", "ls", "-q"])).stdout, "");
  assert.doesNotMatch(ok(berth(["network", "ls"])).stdout, /app_/);
  await until(
    "no container, overlay namespace or VXLAN device on any node",
    () =>
      cluster.nodes.every(
        (n) =>
          n.docker(["ps", "-aq", "--filter", "label=com.docker.stack.namespace=app"]).stdout.trim() === "" &&
          overlayNamespaces(n).length === 0 &&
          ok(n.exec(["ip", "-d", "link", "show", "type", "vxlan"])).stdout.trim() === "",
      ),
    30_000,
  );
  assert.equal(berth(["stack", "rm", "app"]).stderr, "Nothing found in stack: app\n");
  // The chosen port was given back: the mesh no longer answers on it, and it is chosen again.
  await until(
    "the published port closed everywhere",
    () => cluster.nodes.every((n) => webAnswer(n) === ""),
    20_000,
  );
  ok(berth(["service", "create", "--detach", "--name", "again", "-p", "80", "busybox", "sleep", "1000"]));
  assert.equal(
    ok(berth(["service", "inspect", "--format", "{{json .Endpoint.Ports}}", "again"])).stdout.trim(),
    JSON.stringify([{ Protocol: "tcp", TargetPort: 80, PublishedPort: webPort, PublishMode: "ingress" }]),
  );
  ok(berth(["service", "rm", "again"]));
});
