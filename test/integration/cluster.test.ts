/**
 * Swarm mode on etcd with the real docker CLI: three daemons, each in network and mount
 * namespaces of its own on a test LAN (test/helpers/cluster.ts). init starts an embedded etcd
 * member on the first; the others join with its tokens; services are placed, scaled, updated,
 * drained and moved off a node that drops off the LAN.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { apiAt, ok } from "../helpers/daemon.js";
import { sleep, until } from "../helpers/wait.js";

const cluster = new TestCluster(3);
const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];

/** The number of running containers of a service on each node, in node order. */
function spread(service: string, nodes = cluster.nodes): number[] {
  return nodes.map(
    (n) =>
      ok(n.docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`]))
        .stdout.split("\n")
        .filter(Boolean).length,
  );
}

const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);

async function converged(
  service: string,
  expected: (counts: number[]) => boolean,
  ms = 30_000,
): Promise<number[]> {
  let last: number[] = [];
  await until(
    `${service} to converge (last: ${last.join("-")})`,
    () => {
      last = spread(service);
      return expected(last);
    },
    ms,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}; counts ${last.join("-")}; ${n1.docker(["service", "ps", service]).stdout}`,
    );
  });
  return last;
}

/** A service made detached; its tasks stop within a second (busybox's sleep ignores SIGTERM). */
function createService(name: string, args: string[]): void {
  ok(n1.docker(["service", "create", "--detach", "--name", name, "--stop-grace-period", "1s", ...args]));
}

/** Removes a service and waits until none of its containers runs on any node. */
async function removeService(name: string): Promise<void> {
  ok(n1.docker(["service", "rm", name]));
  await converged(name, (c) => sum(c) === 0);
}

let workerToken = "";

before(async () => {
  await cluster.start();
});

after(async () => {
  // BERTH_TEST_LOGS=DIR keeps each daemon's log, to read after a failure.
  const logs = process.env.BERTH_TEST_LOGS;
  if (logs) for (const n of cluster.nodes) writeFileSync(join(logs, `${n.name}.log`), n.log);
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

test("init, a join refused with a wrong token, two workers joined; nodes listed as docker lists them", () => {
  const init = ok(n1.docker(["swarm", "init"]));
  assert.match(init.stdout, /docker swarm join --token SWMTKN-1-/);
  assert.match(init.stdout, new RegExp(`${n1.address.replaceAll(".", "\\.")}:2377`));
  workerToken = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  const managerToken = ok(n1.docker(["swarm", "join-token", "-q", "manager"])).stdout.trim();
  assert.notEqual(workerToken, managerToken);

  // The right CA, a wrong secret: the manager refuses, and the node stays out.
  const wrongSecret = workerToken.replace(/-[0-9a-z]{25}$/, `-${"0".repeat(25)}`);
  const refused = n2.docker(["swarm", "join", "--token", wrongSecret, `${n1.address}:2377`]);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /invalid join token/);
  // A token naming another CA: the node does not even send it.
  const otherCA = workerToken.replace(/SWMTKN-1-[0-9a-z]{50}/, `SWMTKN-1-${"1".repeat(50)}`);
  const impostor = n2.docker(["swarm", "join", "--token", otherCA, `${n1.address}:2377`]);
  assert.match(impostor.stderr, /CA that is not the one the join token names/);
  assert.match(ok(n2.docker(["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout, /inactive/);
  // A malformed token is refused before anything is tried.
  assert.match(
    n2.docker(["swarm", "join", "--token", "nonsense", `${n1.address}:2377`]).stderr,
    /invalid join token/,
  );

  for (const n of [n2, n3]) ok(n.docker(["swarm", "join", "--token", workerToken, `${n1.address}:2377`]));
  const rows = ok(
    n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}"]),
  )
    .stdout.trim()
    .split("\n")
    .map((r) => r.trim())
    .sort();
  assert.deepEqual(rows, ["node1 Ready Active Leader", "node2 Ready Active", "node3 Ready Active"]);
  assert.match(
    ok(n2.docker(["info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"])).stdout,
    /active false/,
  );
  // A worker cannot read or change the cluster's state.
  assert.match(
    n2.docker(["node", "ls"]).stderr,
    /This node is not a swarm manager\. Worker nodes can't be used/,
  );
});

test("berth's own commands: node ls, service create (waiting until it converges), ps, scale, update, rollback, rm", async () => {
  const nodes = ok(n1.berth(["node", "ls"])).stdout;
  assert.match(nodes, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION/);
  assert.match(nodes, /\* +node1 +Ready +Active +Leader/);
  const created = ok(
    n1.berth([
      "service",
      "create",
      "--name",
      "own",
      "--replicas",
      "3",
      "--strategy",
      "random",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  assert.match(created.stdout, /converged/);
  assert.equal(sum(spread("own")), 3, "create returned once every task ran");
  assert.match(ok(n1.berth(["service", "ls"])).stdout, /own +replicated +3\/3 +busybox/);
  assert.equal(
    ok(
      n1.berth(["service", "inspect", "own", "--format", '{{index .Spec.Labels "berth.strategy"}}']),
    ).stdout.trim(),
    "random",
  );
  ok(n1.berth(["service", "scale", "own=4"]));
  assert.equal(sum(spread("own")), 4);
  ok(n1.berth(["service", "update", "--env-add", "X=1", "own"]));
  assert.match(ok(n1.berth(["service", "ps", "own"])).stdout, /\\_ own\.1 .*Shutdown/);
  ok(n1.berth(["service", "rollback", "own"]));
  assert.doesNotMatch(
    ok(n1.berth(["service", "inspect", "own", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"]))
      .stdout,
    /X=1/,
  );
  // Bad input: said, and nothing changed.
  assert.match(n1.berth(["service", "create", "--mode", "both", "busybox"]).stderr, /--mode/);
  assert.match(n1.berth(["service", "scale", "own=many"]).stderr, /invalid scale specifier/);
  assert.match(
    n1.berth(["service", "create", "--strategy", "fastest", "busybox"]).stderr,
    /unknown placement strategy "fastest"/,
  );
  assert.match(
    n1.berth(["node", "update", "--availability", "gone", "node2"]).stderr,
    /invalid availability/,
  );
  assert.equal(
    ok(n1.berth(["service", "ls", "-q"]))
      .stdout.trim()
      .split("\n").length,
    1,
  );
  ok(n1.berth(["service", "rm", "own"]));
  await converged("own", (c) => sum(c) === 0);
});

test("6 replicas spread 2-2-2; scale 9 then 2; an update replaces every task, one at a time", async () => {
  createService("web", ["--replicas", "6", "busybox", "sleep", "1000"]);
  assert.deepEqual(await converged("web", (c) => sum(c) === 6), [2, 2, 2]);
  ok(n1.docker(["service", "scale", "--detach", "web=9"]));
  assert.deepEqual(await converged("web", (c) => sum(c) === 9), [3, 3, 3]);
  ok(n1.docker(["service", "scale", "--detach", "web=2"]));
  await converged("web", (c) => sum(c) === 2);
  const before = ok(n1.docker(["service", "ps", "-q", "--filter", "desired-state=running", "web"]))
    .stdout.trim()
    .split("\n");
  ok(n1.docker(["service", "update", "--env-add", "V=2", "web"], { timeout: 60_000 }));
  const afterIds = ok(n1.docker(["service", "ps", "-q", "--filter", "desired-state=running", "web"]))
    .stdout.trim()
    .split("\n");
  assert.equal(afterIds.length, 2);
  assert.ok(
    afterIds.every((id) => !before.includes(id)),
    "every task was replaced",
  );
  // Complete once the new tasks have run for the monitor period (5 s by default).
  await until(
    "the update to complete",
    () =>
      ok(n1.docker(["service", "inspect", "web", "--format", "{{.UpdateStatus.State}}"])).stdout.trim() ===
      "completed",
  );
  const env = ok(
    n1.docker(["service", "inspect", "web", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Env}}"]),
  ).stdout;
  assert.match(env, /V=2/);
  await removeService("web");
});

test("an update whose new tasks fail is paused (the default failure action), or rolled back with --update-failure-action rollback", async () => {
  const state = () =>
    ok(n1.docker(["service", "inspect", "flaky", "--format", "{{.UpdateStatus.State}}"])).stdout.trim();
  const args = () =>
    ok(
      n1.docker([
        "service",
        "inspect",
        "flaky",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Args}}",
      ]),
    ).stdout.trim();
  /** Running containers of the spec before the update, on all nodes. */
  const oldOnes = () =>
    cluster.nodes
      .map((n) =>
        ok(
          n.docker([
            "ps",
            "--filter",
            "label=com.docker.swarm.service.name=flaky",
            "--format",
            "{{.Command}}",
          ]),
        ),
      )
      .reduce((count, r) => count + (r.stdout.match(/sleep 1000/g) ?? []).length, 0);
  // A delay between batches, so that the first failure is seen before a second batch begins.
  const policy = ["--update-monitor", "2s", "--update-delay", "3s"];
  createService("flaky", ["--replicas", "3", ...policy, "busybox", "sleep", "1000"]);
  await converged("flaky", (c) => sum(c) === 3);

  // The new tasks exit at once: the first failure pauses the update, and the CLI says why.
  const paused = n1.docker(["service", "update", "--args", "false", "flaky"], { timeout: 90_000 });
  assert.notEqual(paused.status, 0);
  assert.match(paused.stderr, /update paused due to failure or early termination of task \w+/);
  assert.equal(state(), "paused");
  await sleep(4000);
  assert.equal(oldOnes(), 2, "a paused update replaces no more tasks");

  // Back to what ran; then the same bad update with the rollback action undoes itself.
  ok(n1.docker(["service", "rollback", "flaky"], { timeout: 90_000 }));
  assert.equal(args(), '["sleep","1000"]');
  await until("the rollback to complete", () => state() === "rollback_completed");
  n1.docker(["service", "update", "--update-failure-action", "rollback", "--args", "false", "flaky"], {
    timeout: 90_000,
  });
  await until("the failed update to roll back", () => state() === "rollback_completed", 60_000);
  assert.equal(args(), '["sleep","1000"]');
  assert.equal(sum(await converged("flaky", (c) => sum(c) === 3)), 3);
  await removeService("flaky");
});

test("node promote makes a worker a manager with a store member of its own; demote makes it a worker again; the last manager stays", async () => {
  const listensForStore = (n: typeof n2) => /:2379\b/.test(ok(n.exec(["ss", "-ltn"])).stdout);
  assert.match(
    ok(n1.docker(["node", "promote", "node2"])).stdout,
    /Node node2 promoted to a manager in the swarm\./,
  );
  assert.match(ok(n1.docker(["node", "promote", "node2"])).stdout, /Node \w+ is already a manager\./);
  await until("node2 to act as a manager", () => n2.docker(["node", "ls"]).status === 0, 30_000);
  assert.ok(listensForStore(n2), "node2 runs an etcd member");
  assert.match(
    ok(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.ManagerStatus}}"])).stdout,
    /node2 Reachable/,
  );
  assert.match(ok(n2.docker(["info", "--format", "{{.Swarm.ControlAvailable}}"])).stdout, /true/);
  // The new manager does a manager's work: a service made through it runs.
  ok(
    n2.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "via2",
      "--replicas",
      "3",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  await converged("via2", (c) => sum(c) === 3);
  await removeService("via2");

  assert.match(ok(n1.docker(["node", "demote", "node2"])).stdout, /Manager node2 demoted in the swarm\./);
  await until(
    "node2 to be a worker again",
    () => /This node is not a swarm manager/.test(n2.docker(["node", "ls"]).stderr),
    30_000,
  );
  await until("node2's etcd member to stop", () => !listensForStore(n2));
  assert.match(
    ok(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"])).stdout,
    /node2 Ready *\n/,
  );
  // The last manager cannot go: the cluster's state would be lost.
  const last = n1.docker(["node", "demote", "node1"]);
  assert.notEqual(last.status, 0);
  assert.match(last.stderr, /attempting to demote the last manager of the swarm/);
  // Still a cluster of one manager and two workers that places work.
  createService("after", ["--replicas", "3", "busybox", "sleep", "1000"]);
  assert.deepEqual(await converged("after", (c) => sum(c) === 3), [1, 1, 1]);
  await removeService("after");
});

test("constraints place by node; a constraint with an unknown key is refused and creates nothing", async () => {
  createService("pinned", [
    "--replicas",
    "3",
    "--constraint",
    "node.hostname==node2",
    "busybox",
    "sleep",
    "1000",
  ]);
  assert.deepEqual(await converged("pinned", (c) => sum(c) === 3), [0, 3, 0]);
  ok(n1.docker(["service", "rm", "pinned"]));
  const bad = n1.docker([
    "service",
    "create",
    "--detach",
    "--name",
    "bad",
    "--constraint",
    "node.colour==red",
    "busybox",
    "sleep",
    "1",
  ]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /node\.colour/);
  assert.equal(ok(n1.docker(["service", "ls", "-q", "--filter", "name=bad"])).stdout.trim(), "");
  // Impossible placement: pending, with the reason.
  createService("nowhere", ["--constraint", "node.hostname==node9", "busybox", "sleep", "1"]);
  await until("a pending task with a reason", () =>
    /no suitable node \(scheduling constraints not satisfied on 3 nodes\)/.test(
      n1.docker(["service", "ps", "--no-trunc", "nowhere"]).stdout,
    ),
  );
  ok(n1.docker(["service", "rm", "nowhere"]));
  await converged("pinned", (c) => sum(c) === 0);
});

test("a global service runs one task on each node", async () => {
  createService("everywhere", ["--mode", "global", "busybox", "sleep", "1000"]);
  assert.deepEqual(await converged("everywhere", (c) => sum(c) === 3), [1, 1, 1]);
  await removeService("everywhere");
});

test("service logs gathers every task's lines from the nodes that ran them", async () => {
  createService("talker", [
    "--replicas",
    "3",
    "busybox",
    "sh",
    "-c",
    "echo hello from $(hostname); exec sleep 1000",
  ]);
  assert.deepEqual(await converged("talker", (c) => sum(c) === 3), [1, 1, 1]);
  let out = "";
  await until("three lines", () => {
    out = ok(n1.docker(["service", "logs", "talker"])).stdout;
    return out.trim().split("\n").length === 3;
  });
  for (const node of ["node1", "node2", "node3"])
    assert.match(out, new RegExp(`^talker\\.\\d\\.\\w+@${node} +\\| hello from \\w+$`, "m"));
  const task = ok(n1.docker(["service", "ps", "-q", "talker"]))
    .stdout.trim()
    .split("\n")[0]!;
  assert.match(
    ok(n1.docker(["service", "logs", "--raw", "--no-task-ids", task])).stdout,
    /^hello from \w+\n$/,
  );
  assert.match(n1.docker(["service", "logs", "nonesuch"]).stderr, /no such task or service: nonesuch/);
  const own = ok(n1.berth(["service", "logs", "talker"])).stdout;
  assert.equal(own.trim().split("\n").length, 3);
  assert.match(own, /^talker\.\d\.\w{12}@node2 +\| hello from \w+$/m);
  assert.match(n1.berth(["service", "logs", "nonesuch"]).stderr, /service nonesuch not found/);
  await removeService("talker");
});

/** curl on `node` with one of its own cluster certificates (its node's, or its store's). */
function curlAs(node: ClusterNode, cert: "node" | "store", args: string[]) {
  const certs = `${node.root}/swarm/certs`;
  return node.exec([
    "curl",
    "-s",
    "--cacert",
    `${certs}/ca.pem`,
    "--cert",
    `${certs}/${cert}.pem`,
    "--key",
    `${certs}/node.key`,
    ...args,
  ]);
}
const curlAsWorker = (args: string[]) => curlAs(n2, "node", args);

const SECRET_MD5 = createHash("md5").update("s3cret-value").digest("hex");

test("secrets and configs: sealed in the store, files on a tmpfs in their tasks, only for the node that runs them", async () => {
  ok(n1.docker(["secret", "create", "--label", "app=db", "db_pass", "-"], { input: "s3cret-value" }));
  ok(n1.docker(["config", "create", "app.conf", "-"], { input: "port=8080\n" }));
  assert.match(n1.docker(["secret", "create", "db_pass", "-"], { input: "x" }).stderr, /already exists/);
  assert.match(n1.docker(["secret", "create", "bad/name", "-"], { input: "x" }).stderr, /invalid name/);
  assert.doesNotMatch(
    ok(n1.docker(["secret", "inspect", "db_pass"])).stdout,
    /s3cret|czNjcmV0/,
    "no data shown",
  );
  assert.equal(
    Buffer.from(
      ok(n1.docker(["config", "inspect", "app.conf", "--format", "{{json .Spec.Data}}"]))
        .stdout.trim()
        .slice(1, -1),
      "base64",
    ).toString(),
    "port=8080\n",
  );
  createService("secretive", [
    "--replicas",
    "3",
    "--secret",
    "db_pass",
    "--config",
    "source=app.conf,target=/etc/app.conf,mode=0440",
    "busybox",
    "sh",
    "-c",
    "md5sum < /run/secrets/db_pass; cat /etc/app.conf; grep -c ' /run/secrets/db_pass tmpfs ro' /proc/mounts; exec sleep 1000",
  ]);
  assert.deepEqual(await converged("secretive", (c) => sum(c) === 3), [1, 1, 1]);
  let out = "";
  await until("each task's output", () => {
    out = ok(n1.docker(["service", "logs", "--raw", "secretive"])).stdout;
    return out.split(SECRET_MD5).length === 4;
  });
  assert.equal(out.split("port=8080").length, 4);
  assert.match(out, /^1$/m, "a read-only tmpfs file");
  // Never on a node's disk, nor in the store in clear (the tasks printed only its digest).
  for (const n of cluster.nodes)
    assert.equal(n.exec(["grep", "-rl", "s3cret-value", n.root]).stdout, "", n.name);
  // Another node's certificate gets nothing for a task that is not its own.
  const [task] = ok(n1.docker(["service", "ps", "-q", "--no-trunc", "--filter", "node=node1", "secretive"]))
    .stdout.trim()
    .split("\n");
  const asked = curlAsWorker([`https://${n1.address}:2377/tasks/${task}/files`]);
  assert.match(asked.stdout, /not assigned to node/);
  assert.doesNotMatch(asked.stdout, /s3cret|czNjcmV0/);
  const anonymous = n2.exec(["curl", "-sk", `https://${n1.address}:2377/tasks/${task}/files`]);
  assert.match(anonymous.stdout, /certificate of this cluster is required/);
  assert.match(n1.docker(["secret", "rm", "db_pass"]).stderr, /in use by the following service: secretive/);
  await removeService("secretive");
  await until("every task's tmpfs released", () =>
    cluster.nodes.every((n) => !/swarm-files/.test(n.exec(["cat", "/proc/mounts"]).stdout)),
  );
  ok(n1.docker(["secret", "rm", "db_pass"]));
  ok(n1.docker(["config", "rm", "app.conf"]));
  // The same with berth's own commands.
  ok(n1.berth(["secret", "create", "api_key", "-"], { input: "s3cret-value" }));
  assert.match(ok(n1.berth(["secret", "ls"])).stdout, /^ID +NAME +CREATED +UPDATED\n\w+ +api_key /);
  assert.match(
    n1.berth(["service", "create", "--secret", "source=api_key,bogus=1", "busybox"]).stderr,
    /invalid field key bogus/,
  );
  ok(
    n1.berth([
      "service",
      "create",
      "--name",
      "keyed",
      "--secret",
      "source=api_key,target=key",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sh",
      "-c",
      "md5sum < /run/secrets/key; exec sleep 1000",
    ]),
  );
  await until("the task's output", () =>
    ok(n1.berth(["service", "logs", "keyed"])).stdout.includes(SECRET_MD5),
  );
  await removeService("keyed");
  ok(n1.berth(["secret", "rm", "api_key"]));
  assert.equal(ok(n1.docker(["secret", "ls", "-q"])).stdout.trim(), "");
});

test("a templated config (--template-driver golang) is rendered for each task: its service, node, slot, env and secrets", async () => {
  ok(n1.docker(["secret", "create", "tmpl_pass", "-"], { input: "hunter2" }));
  const template =
    'svc={{.Service.Name}} node={{.Node.Hostname}} slot={{.Task.Slot}} port={{env "PORT"}} pass={{secret "tmpl_pass"}}\n';
  ok(n1.docker(["config", "create", "--template-driver", "golang", "tmpl.conf", "-"], { input: template }));
  assert.equal(
    ok(n1.docker(["config", "inspect", "tmpl.conf", "--format", "{{.Spec.Templating.Name}}"])).stdout.trim(),
    "golang",
  );
  // A template Berth cannot render, or another driver, is refused at create.
  assert.match(
    n1.docker(["config", "create", "--template-driver", "golang", "loop", "-"], {
      input: "{{range .Service.Labels}}x{{end}}",
    }).stderr,
    /\{\{range \.Service\.Labels\}\} is not supported/,
  );
  assert.match(
    n1.docker(["config", "create", "--template-driver", "jinja", "other", "-"], { input: "x" }).stderr,
    /unknown templating driver "jinja"/,
  );
  createService("templated", [
    "--replicas",
    "2",
    "--env",
    "PORT=9000",
    "--secret",
    "tmpl_pass",
    "--config",
    "source=tmpl.conf,target=/etc/tmpl.conf",
    "busybox",
    "sh",
    "-c",
    "cat /etc/tmpl.conf; exec sleep 1000",
  ]);
  await converged("templated", (c) => sum(c) === 2);
  let out = "";
  await until("both tasks' files", () => {
    out = ok(n1.docker(["service", "logs", "--raw", "templated"])).stdout;
    return out.split("svc=").length === 3;
  });
  const lines = out.trim().split("\n");
  for (const line of lines) assert.match(line, /^svc=templated node=node\d slot=\d port=9000 pass=hunter2$/);
  assert.deepEqual(lines.map((l) => /slot=(\d)/.exec(l)![1]).sort(), ["1", "2"]);
  await removeService("templated");
  ok(n1.docker(["config", "rm", "tmpl.conf"]));
  ok(n1.docker(["secret", "rm", "tmpl_pass"]));
});

/**
 * A call of etcd's JSON gateway from `node`, as an attacker there would make it: with its store
 * certificate and its own login (what the daemon uses), or with its node certificate alone.
 */
function storeCall(node: ClusterNode, path: string, body: object, login = true): Record<string, unknown> {
  const certs = `${node.root}/swarm/certs`;
  const curl = (args: string[]) => curlAs(node, login ? "store" : "node", args).stdout;
  const url = (p: string) => `https://${n1.address}:2379/v3/${p}`;
  const headers: string[] = [];
  if (login) {
    const state = JSON.parse(node.exec(["cat", `${node.root}/swarm/state.json`]).stdout) as {
      nodeId: string;
    };
    const password = node.exec(["cat", `${certs}/store.pass`]).stdout;
    const signedIn = JSON.parse(
      curl([url("auth/authenticate"), "-d", JSON.stringify({ name: `node-${state.nodeId}`, password })]) ||
        "{}",
    ) as { token?: string };
    assert.ok(signedIn.token, `node ${node.name} signs in to the store`);
    headers.push("-H", `Authorization: ${signedIn.token}`);
  }
  const out = curl([...headers, url(path), "-d", JSON.stringify(body)]);
  try {
    return JSON.parse(out || "{}") as Record<string, unknown>;
  } catch {
    return { message: out };
  }
}
const b64 = (s: string) => Buffer.from(s).toString("base64");
const prefixRange = (prefix: string) => ({ key: b64(prefix), range_end: b64(`${prefix.slice(0, -1)}0`) });
/** The store as node1, a manager, reads and writes it: a writer that holds no CA key stands for it below. */
const records = (prefix: string) =>
  ((storeCall(n1, "kv/range", prefixRange(prefix)).kvs ?? []) as Array<{ key: string; value: string }>).map(
    (kv) => ({
      key: Buffer.from(kv.key, "base64").toString(),
      value: JSON.parse(Buffer.from(kv.value, "base64").toString()),
    }),
  );
const put = (key: string, value: unknown) =>
  storeCall(n1, "kv/put", { key: b64(key), value: b64(JSON.stringify(value)) });

test("a worker's store login reads the swarm and writes nothing of it; its reports of other nodes' tasks, endpoints and addresses are refused", async () => {
  const denied = /permission denied/;
  // Its node certificate alone opens nothing (the store needs its login).
  assert.match(String(storeCall(n2, "kv/range", prefixRange("/berth/nodes/"), false).message), /CommonName/);
  // Its login reads the swarm's records…
  assert.equal((storeCall(n2, "kv/range", prefixRange("/berth/nodes/")).kvs as unknown[]).length, 3);
  // …and writes none of them, adds no member, reads nothing outside the swarm, manages no user.
  const [me] = records("/berth/nodes/").filter((r) => r.value.Description.Hostname === "node2");
  const asManager = { ...me!.value, Spec: { ...me!.value.Spec, Role: "manager" } };
  for (const [path, body] of [
    ["kv/put", { key: b64(me!.key), value: b64(JSON.stringify(asManager)) }],
    ["kv/put", { key: b64("/berth/tasks/forged000000000000000000a"), value: b64("{}") }],
    ["kv/deleterange", prefixRange("/berth/services/")],
    ["kv/deleterange", prefixRange("/berth/alive/")],
    ["kv/range", prefixRange("/")],
    ["cluster/member/add", { peerURLs: ["https://10.99.0.99:2380"] }],
    ["auth/user/add", { name: "evil", password: "x" }],
    [
      "auth/role/grant",
      { name: `worker-${me!.value.ID}`, perm: { permType: "READWRITE", ...prefixRange("/") } },
    ],
  ] as const)
    assert.match(String(storeCall(n2, path, body).message), denied, `${path} refused`);

  // What it reports through a manager is checked against what is its own.
  createService("honest", ["--constraint", "node.hostname==node3", "busybox", "sleep", "1000"]);
  await converged("honest", (c) => sum(c) === 1);
  const honestId = ok(n1.docker(["service", "inspect", "-f", "{{.ID}}", "honest"])).stdout.trim();
  const [task] = records("/berth/tasks/").filter(
    (r) => r.value.ServiceID === honestId && r.value.Status.State === "running",
  );
  const node3Id = task!.value.NodeID as string;
  const report = (path: string, body: unknown) =>
    curlAsWorker([`https://${n1.address}:2377/reports/${path}`, "-d", JSON.stringify(body)]).stdout;
  const failed = { ...task!.value.Status, State: "failed", Message: "lies" };
  assert.match(
    report("task-status", { ID: task!.value.ID, Version: { Index: 1 }, Status: failed, UpdatedAt: "now" }),
    /is not on node/,
  );
  assert.match(report("address", { networkId: "x", owner: `${node3Id}:c` }), /only for itself/);
  assert.match(report("endpoint", { NetworkID: "x", IP: "10.0.0.9", NodeID: node3Id }), /names node/);
  // A batch of reports: its shape is checked whole; each report alone, so node3's task among
  // node2's own is refused and lets nothing through, while node2's own is written.
  assert.match(
    curlAsWorker([`https://${n1.address}:2377/reports/batch`, "-d", "{not json"]).stdout,
    /a request body is JSON/,
  );
  assert.match(report("batch", { reports: "all" }), /a batch of reports is/);
  const many = Array.from({ length: 129 }, () => ({ path: "/reports/describe", body: {} }));
  assert.match(report("batch", { reports: many }), /at most 128 reports/);
  assert.match(report("batch", { reports: [{ path: "/reports/batch", body: {} }] }), /names no report path/);
  createService("mine", ["--constraint", "node.hostname==node2", "busybox", "sleep", "1000"]);
  await converged("mine", (c) => sum(c) === 1);
  const mineId = ok(n1.docker(["service", "inspect", "-f", "{{.ID}}", "mine"])).stdout.trim();
  const [own] = records("/berth/tasks/").filter(
    (r) => r.value.ServiceID === mineId && r.value.Status.State === "running",
  );
  const ownVersion = Number(
    (storeCall(n1, "kv/range", { key: b64(own!.key) }).kvs as Array<{ mod_revision: string }>)[0]!
      .mod_revision,
  );
  const answers = JSON.parse(
    report("batch", {
      reports: [
        {
          path: "/reports/task-status",
          body: {
            ...own!.value,
            Version: { Index: ownVersion },
            Status: { ...own!.value.Status, Message: "batched" },
          },
        },
        {
          path: "/reports/task-status",
          body: { ID: task!.value.ID, Version: { Index: 1 }, Status: failed, UpdatedAt: "now" },
        },
        { path: "/reports/address", body: { networkId: "x", owner: `${node3Id}:c` } },
      ],
    }),
  ) as { answers: Array<{ answer?: unknown; error?: string; status?: number }> };
  assert.deepEqual(answers.answers[0], { answer: { written: true } }, "its own task's status is written");
  assert.match(String(answers.answers[1]!.error), /is not on node/);
  assert.equal(answers.answers[1]!.status, 403);
  assert.match(String(answers.answers[2]!.error), /only for itself/);
  assert.equal(records("/berth/tasks/").find((r) => r.key === own!.key)?.value.Status.Message, "batched");
  await removeService("mine");
  await sleep(1500);
  assert.deepEqual(
    records("/berth/tasks/")
      .filter((r) => r.value.ServiceID === honestId)
      .map((r) => r.value.Status.State),
    ["running"],
    "the task is as node3 reported it",
  );
  // A store certificate names no node: the peer API does not take it.
  const storeCertCall = curlAs(n2, "store", [`https://${n1.address}:2377/tasks/${task!.value.ID}/files`]);
  assert.match(storeCertCall.stdout, /node certificate of this cluster is required/);
  await removeService("honest");
});

test("records written by a store writer without the CA key (a store of the user's own is open to every node) make no manager, run nothing, open no secret", async () => {
  // 1. node2's record says manager: no manager hands it the CA key.
  const [me] = records("/berth/nodes/").filter((r) => r.value.Description.Hostname === "node2");
  put(me!.key, { ...me!.value, Spec: { ...me!.value.Spec, Role: "manager" } });
  await sleep(4000);
  assert.equal(n2.exec(["test", "-e", `${n2.root}/swarm/certs/ca.key`]).status, 1, "no CA key on node2");
  assert.match(n2.docker(["node", "ls"]).stderr, /not a swarm manager/);
  assert.match(
    ok(n2.docker(["info", "--format", "{{.Swarm.Error}}"])).stdout,
    /manager role was not given by a manager/,
  );
  put(me!.key, me!.value);

  // 2. A task of its own making, for node3: node3 refuses to run it.
  createService("honest", ["--constraint", "node.hostname==node3", "busybox", "sleep", "1000"]);
  await converged("honest", (c) => sum(c) === 1);
  const honestId = ok(n1.docker(["service", "inspect", "-f", "{{.ID}}", "honest"])).stdout.trim();
  const [task] = records("/berth/tasks/").filter(
    (r) => r.value.ServiceID === honestId && r.value.Status.State === "running",
  );
  const forgedId = "forged000000000000000000a";
  put(`/berth/tasks/${forgedId}`, {
    ...task!.value,
    ID: forgedId,
    Spec: {
      ...task!.value.Spec,
      ContainerSpec: { ...task!.value.Spec.ContainerSpec, Args: ["sh", "-c", "echo pwned; sleep 1000"] },
    },
    Status: { ...task!.value.Status, State: "assigned", Message: "" },
  });
  await until("the forged task refused", () =>
    /signature does not check/.test(n1.docker(["service", "ps", "--no-trunc", "honest"]).stdout),
  );
  for (const n of cluster.nodes)
    assert.equal(
      n.docker(["ps", "-aq", "--filter", `label=com.docker.swarm.task.id=${forgedId}`]).stdout.trim(),
      "",
    );

  // 3. A service of its own making: the leader makes no task of it.
  const [svc] = records("/berth/services/");
  put("/berth/services/forgedservice00000000000a", {
    ...svc!.value,
    ID: "forgedservice00000000000a",
    Spec: { ...svc!.value.Spec, Name: "evil" },
  });
  await sleep(2500);
  assert.equal(
    records("/berth/tasks/").filter((r) => r.value.ServiceID === "forgedservice00000000000a").length,
    0,
  );
  storeCall(n1, "kv/deleterange", { key: b64("/berth/services/forgedservice00000000000a") });
  await removeService("honest");

  // 4. A secret's sealed data copied into a config a task of its own mounts: it does not open.
  ok(n1.docker(["secret", "create", "topsecret", "-"], { input: "the-crown-jewels" }));
  ok(n1.docker(["config", "create", "innocent", "-"], { input: "nothing here" }));
  const secretRecord = records("/berth/secrets/").find((r) => r.value.Spec.Name === "topsecret")!;
  const configRecord = records("/berth/configs/").find((r) => r.value.Spec.Name === "innocent")!;
  put(configRecord.key, { ...configRecord.value, Sealed: secretRecord.value.Sealed });
  const inspected = n1.docker(["config", "inspect", "innocent"]);
  assert.notEqual(inspected.status, 0);
  assert.match(inspected.stderr, /does not open/);
  assert.doesNotMatch(inspected.stdout + inspected.stderr, /crown-jewels|Y3Jvd24tamV3ZWxz/);
  const thief = n1.docker([
    "service",
    "create",
    "--detach",
    "--config",
    "innocent",
    "busybox",
    "cat",
    "/innocent",
  ]);
  assert.notEqual(thief.status, 0);
  assert.doesNotMatch(thief.stdout + thief.stderr, /crown-jewels/);
  ok(n1.docker(["config", "rm", "innocent"]));
  ok(n1.docker(["secret", "rm", "topsecret"]));
});

/** The keys under `prefix`, as node1 reads them. */
const keys = (prefix: string) =>
  (
    (storeCall(n1, "kv/range", { ...prefixRange(prefix), keys_only: true }).kvs ?? []) as Array<{
      key: string;
    }>
  ).map((kv) => Buffer.from(kv.key, "base64").toString());

test("a service's name is one service's at a time: a second create, in any case or many at once, is refused; rm frees it; a leader holds the name of a service made before names were held", async () => {
  const conflict = /name conflicts with an existing object: service \w+ already exists/;
  createService("named", ["busybox", "sleep", "1000"]);
  for (const name of ["named", "NAMED"])
    assert.match(n1.docker(["service", "create", "--name", name, "busybox", "sleep", "1"]).stderr, conflict);
  // One that publishes its namesake's port is refused for its name, before its port is sought.
  createService("porter", ["-p", "8089:80", "busybox", "sleep", "1000"]);
  assert.match(
    n1.docker(["service", "create", "--name", "porter", "-p", "8089:80", "busybox", "sleep", "1"]).stderr,
    conflict,
  );
  await removeService("porter");

  // Six creates of one name at once: one service is made.
  const body = JSON.stringify({
    Name: "race",
    TaskTemplate: { ContainerSpec: { Image: "busybox", Command: ["sleep", "1000"] } },
  });
  const answers = await Promise.all(
    Array.from({ length: 6 }, () =>
      apiAt(n1.socket, "POST", "/v1.45/services/create", body, { "content-type": "application/json" }),
    ),
  );
  assert.deepEqual(
    answers.map((a) => a.status).sort(),
    [201, 409, 409, 409, 409, 409],
    answers.map((a) => a.body.toString()).join("\n"),
  );
  assert.equal(records("/berth/services/").filter((r) => r.value.Spec.Name === "race").length, 1);
  await removeService("race");
  assert.ok(
    !keys("/berth/alloc/service-name/").includes("/berth/alloc/service-name/race"),
    "rm gives the name up",
  );
  createService("race", ["busybox", "sleep", "1000"]);
  await removeService("race");
  // A name held for a service that is gone is given up by the next create of it.
  storeCall(n1, "kv/put", {
    key: b64("/berth/alloc/service-name/stale"),
    value: b64("gone000000000000000000000"),
  });
  createService("stale", ["busybox", "sleep", "1000"]);
  await removeService("stale");

  // A service whose name nothing holds, as a Berth before this left it: the next leader holds it.
  storeCall(n1, "kv/deleterange", { key: b64("/berth/alloc/service-name/named") });
  await n1.stop();
  await n1.start();
  await until(
    "the new leader to hold the name",
    () => keys("/berth/alloc/service-name/").includes("/berth/alloc/service-name/named"),
    30_000,
  );
  assert.match(n1.docker(["service", "create", "--name", "named", "busybox", "sleep", "1"]).stderr, conflict);
  await removeService("named");
  assert.deepEqual(keys("/berth/alloc/service-name/"), []);
});

test("jobs run to completion: a replicated job makes exactly its completions, a global job one per node", async () => {
  createService("batch", [
    "--mode",
    "replicated-job",
    "--replicas",
    "4",
    "--max-concurrent",
    "2",
    "busybox",
    "true",
  ]);
  const complete = (name: string) =>
    n1
      .docker(["service", "ps", "--format", "{{.CurrentState}}", name])
      .stdout.split("\n")
      .filter((l) => l.startsWith("Complete")).length;
  await until("4 completions", () => complete("batch") === 4, 30_000);
  await sleep(1500);
  assert.equal(complete("batch"), 4, "no more than asked for");
  createService("sweep", ["--mode", "global-job", "busybox", "true"]);
  await until("one completion per node", () => complete("sweep") === 3, 30_000);
  ok(n1.docker(["service", "rm", "batch", "sweep"]));
});

test("binpack (the berth.strategy label) fills one node by reserved memory before the next", async () => {
  const mem = Number(
    ok(n1.docker(["node", "inspect", "self", "--format", "{{.Description.Resources.MemoryBytes}}"])).stdout,
  );
  // Three tasks fit on a node, a fourth does not.
  const reserve = Math.floor(mem / 3.5);
  createService("packed", [
    "--label",
    "berth.strategy=binpack",
    "--reserve-memory",
    String(reserve),
    "--replicas",
    "4",
    "busybox",
    "sleep",
    "1000",
  ]);
  const counts = await converged("packed", (c) => sum(c) === 4);
  assert.deepEqual([...counts].sort(), [0, 1, 3], `binpack placed ${counts.join("-")}`);
  await removeService("packed");
});

test("drain moves a node's tasks; a node cut off the LAN has its tasks run elsewhere, says the store is out of reach, and its copies stop when it returns", async () => {
  createService("moving", ["--replicas", "6", "busybox", "sleep", "1000"]);
  await converged("moving", (c) => sum(c) === 6);
  ok(n1.docker(["node", "update", "--availability", "drain", "node3"]));
  assert.deepEqual(await converged("moving", (c) => c[2] === 0 && sum(c) === 6), [3, 3, 0]);
  ok(n1.docker(["node", "update", "--availability", "active", "node3"]));

  // node2 drops off: its 3 tasks are started on the other nodes; its own keep running meanwhile.
  const cut = Date.now();
  n2.cutLink();
  await until(
    "node2 to be seen down",
    () => /node2 Down/.test(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]).stdout),
    20_000,
  );
  await converged("moving", (c) => c[0]! + c[2]! === 6, 30_000);
  const replaced = Date.now() - cut;
  process.stderr.write(`# tasks of a cut-off node running elsewhere after ${replaced} ms\n`);
  assert.ok(replaced < 15_000, `replacements took ${replaced} ms`);
  assert.equal(spread("moving")[1], 3, "the cut-off node keeps its containers running");
  // The cut-off node says why it cannot act; a worker never could.
  await until("node2 to report the store out of reach", () =>
    /cluster store .* is unreachable/.test(n2.docker(["info", "--format", "{{.Swarm.Error}}"]).stdout),
  );
  assert.match(n2.docker(["service", "ls"]).stderr, /not a swarm manager/);
  n2.healLink();
  await until(
    "node2's error cleared",
    () => n2.docker(["info", "--format", "{{.Swarm.Error}}"]).stdout.trim() === "",
  );
  // Back: its copies stop, and never more than 6 run once the cluster is whole.
  await converged("moving", (c) => c[1] === 0 && sum(c) === 6, 30_000);
  await removeService("moving");
});

test("a worker's host dies (daemon, monitors and containers killed): its tasks run elsewhere; back, it runs none of them", async () => {
  createService("hard", ["--replicas", "6", "busybox", "sleep", "1000"]);
  assert.deepEqual(await converged("hard", (c) => sum(c) === 6), [2, 2, 2]);
  const killed = Date.now();
  await n3.powerOff();
  await until("the 6 replicas on node1 and node2", () => sum(spread("hard", [n1, n2])) === 6, 30_000);
  process.stderr.write(`# a dead host's tasks running elsewhere after ${Date.now() - killed} ms\n`);
  assert.match(ok(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}}"])).stdout, /node3 Down/);
  await n3.start();
  await until(
    "node3 ready again",
    () => /node3 Ready/.test(ok(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}}"])).stdout),
    30_000,
  );
  await sleep(3000);
  assert.deepEqual(spread("hard"), [3, 3, 0], "never more than asked, nothing of it on node3");
  await removeService("hard");
});

test("a worker leaves: its tasks go, the node is listed down, and node rm removes it", async () => {
  ok(n3.docker(["swarm", "leave"]));
  assert.match(ok(n3.docker(["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout, /inactive/);
  await until("node3 down", () =>
    /node3 Down/.test(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]).stdout),
  );
  const id = ok(n1.docker(["node", "ls", "-q", "--filter", "name=node3"])).stdout.trim();
  ok(n1.docker(["node", "rm", id]));
  assert.doesNotMatch(ok(n1.docker(["node", "ls"])).stdout, /node3/);
  // A manager refuses to leave without --force: it holds the cluster's state.
  assert.match(n1.docker(["swarm", "leave"]).stderr, /--force/);
  // and joins again
  ok(n3.docker(["swarm", "join", "--token", workerToken, `${n1.address}:2377`]));
});
