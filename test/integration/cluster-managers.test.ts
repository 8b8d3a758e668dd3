/**
 * Three managers, each an etcd member (test/helpers/cluster.ts nodes): the cluster survives the
 * leader's daemon killed (another leads, the dead node's tasks run elsewhere, its copies stop when
 * it returns), an etcd member killed (nothing lost; the daemon starts its member again), and the
 * leader killed while tasks join an overlay (no address or MAC given twice).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { sleep, until } from "../helpers/wait.js";

const cluster = new TestCluster(3);
const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];

const nodeRows = (via: ClusterNode) =>
  via
    .docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"])
    .stdout.trim()
    .split("\n")
    .map((r) => r.trim())
    .sort();

const running = (node: ClusterNode, service: string) =>
  node
    .docker(["ps", "-q", "--filter", `label=com.docker.swarm.service.name=${service}`])
    .stdout.split("\n")
    .filter(Boolean).length;

const etcdOf = (node: ClusterNode) => node.etcd();

before(async () => {
  await cluster.start();
});

after(async () => {
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

test("two nodes join as managers with the manager token: three etcd members, one leader", async () => {
  ok(n1.docker(["swarm", "init"]));
  const token = ok(n1.docker(["swarm", "join-token", "-q", "manager"])).stdout.trim();
  for (const n of [n2, n3]) {
    const joined = ok(n.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
    assert.match(joined.stdout, /joined a swarm as a manager/);
    assert.ok(etcdOf(n), `${n.name} runs an etcd member`);
  }
  await until(
    "three ready managers",
    () => nodeRows(n3).join(",") === "node1 Ready Leader,node2 Ready Reachable,node3 Ready Reachable",
  );
  // Every manager answers for the cluster, and sees the same state.
  for (const n of cluster.nodes) assert.equal(nodeRows(n).length, 3);
  // The join port of a later manager admits too.
  assert.match(
    ok(n3.docker(["swarm", "join-token", "worker"])).stdout,
    new RegExp(`${n3.address.replaceAll(".", "\\.")}:2377`),
  );
});

test("the leader's daemon killed: another manager leads, its tasks run elsewhere, and its copies stop when it returns", async () => {
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "ha",
      "--replicas",
      "6",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  await until("6 running", () => cluster.nodes.every((n) => running(n, "ha") === 2), 30_000);
  const killed = Date.now();
  await n1.crash();
  assert.equal(etcdOf(n1), undefined, "its etcd member died with it");
  await until(
    "another leader",
    () => /node1 Down/.test(nodeRows(n2).join(",")) && /Leader/.test(nodeRows(n2).join(",")),
    30_000,
  );
  await until("the 6 replicas on the two others", () => running(n2, "ha") + running(n3, "ha") === 6, 30_000);
  process.stderr.write(`# a dead leader's tasks running elsewhere after ${Date.now() - killed} ms\n`);
  await n1.start();
  const copies = n1.docker(["ps", "-aq", "--filter", "label=com.docker.swarm.service.name=ha"]).stdout;
  assert.ok(copies.split("\n").filter(Boolean).length >= 2, "its containers outlived the daemon");
  await until(
    "node1 back, its copies stopped",
    () => /node1 Ready/.test(nodeRows(n2).join(",")) && running(n1, "ha") === 0,
    30_000,
  );
  assert.equal(running(n2, "ha") + running(n3, "ha"), 6);
});

test("an etcd member killed: nothing is lost, the cluster acts, and the daemon starts its member again", async () => {
  const member = etcdOf(n3)!;
  process.kill(member.pid, "SIGKILL");
  ok(n2.docker(["service", "scale", "--detach", "ha=3"]));
  await until("scaled to 3", () => cluster.nodes.reduce((a, n) => a + running(n, "ha"), 0) === 3, 30_000);
  assert.equal(ok(n2.docker(["service", "ls", "--format", "{{.Name}}"])).stdout.trim(), "ha");
  await until("the member started again", () => {
    const again = etcdOf(n3);
    return again !== undefined && again.pid !== member.pid;
  });
  assert.match(readFileSync(`${n3.root}/swarm/etcd.log`, "utf8"), /\S/);
  ok(n3.docker(["service", "rm", "ha"]));
  await until("removed", () => cluster.nodes.every((n) => running(n, "ha") === 0), 30_000);
});

test("autolock: the managers' keys sealed on disk; a restarted manager waits for its unlock key; rotated; turned off", async () => {
  const certs = (n: ClusterNode) => join(n.root, "swarm", "certs");
  const sealed = (n: ClusterNode) =>
    existsSync(join(certs(n), "node.key.locked")) &&
    existsSync(join(certs(n), "ca.key.locked")) &&
    !existsSync(join(certs(n), "node.key")) &&
    !existsSync(join(certs(n), "ca.key"));
  const state = (n: ClusterNode) =>
    ok(n.docker(["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout.trim();
  assert.match(n1.docker(["swarm", "unlock-key", "-q"]).stderr, /no unlock key is set/);
  const on = ok(n1.docker(["swarm", "update", "--autolock=true"]));
  const key = /SWMKEY-1-[A-Za-z0-9+/]{43}/.exec(on.stdout)?.[0];
  assert.ok(key, on.stdout);
  await until("every manager's keys sealed", () => cluster.nodes.every(sealed));

  // A manager that starts again is locked: it says so and does nothing until it gets its key.
  await n3.stop();
  await n3.start();
  assert.equal(state(n3), "locked");
  assert.match(
    n3.docker(["node", "ls"]).stderr,
    /Swarm is encrypted and needs to be unlocked before it can be used/,
  );
  assert.equal(etcdOf(n3), undefined, "a locked manager runs no etcd member");
  const wrong = n3.docker(["swarm", "unlock"], { input: `SWMKEY-1-${"A".repeat(43)}\n` });
  assert.match(wrong.stderr, /swarm could not be unlocked: invalid key provided/);
  assert.match(n3.docker(["swarm", "unlock"], { input: "nonsense\n" }).stderr, /invalid swarm unlock key/);
  assert.equal(state(n3), "locked", "a wrong key changes nothing");
  ok(n3.docker(["swarm", "unlock"], { input: `${key}\n` }));
  assert.equal(state(n3), "active");
  await until("node3 acts as a manager again", () => nodeRows(n3).length === 3);
  assert.match(n1.docker(["swarm", "unlock"], { input: `${key}\n` }).stderr, /swarm is not locked/);

  // A rotated key: the old one opens nothing after the next restart.
  const rotated = ok(n2.docker(["swarm", "unlock-key", "--rotate", "-q"])).stdout.trim();
  assert.notEqual(rotated, key);
  await sleep(3000); // a beat: every manager seals its keys under the new key
  await n3.stop();
  await n3.start();
  assert.match(n3.docker(["swarm", "unlock"], { input: `${key}\n` }).stderr, /invalid key provided/);
  ok(n3.docker(["swarm", "unlock"], { input: `${rotated}\n` }));

  // Autolock off: the keys are clear on disk again, and a restart needs nothing.
  ok(n1.docker(["swarm", "update", "--autolock=false"]));
  await until("every manager's keys clear", () =>
    cluster.nodes.every(
      (n) => existsSync(join(certs(n), "node.key")) && !existsSync(join(certs(n), "node.key.locked")),
    ),
  );
  await n3.stop();
  await n3.start();
  assert.equal(state(n3), "active");
  await until("node3 back", () => nodeRows(n1).join(",").includes("node3 Ready"));
});

test("the leader killed while a service's tasks join an overlay: no address or MAC is given twice", async () => {
  // Waited for: right after the test before, a moment may list no leader yet.
  let found: ClusterNode | undefined;
  await until(
    "a leader listed",
    async () => {
      found = cluster.nodes.find((n) =>
        nodeRows(n2).some((r) => r.startsWith(`${n.name} `) && r.endsWith("Leader")),
      );
      return found !== undefined;
    },
    30_000,
  );
  const leader = found!;
  const via = cluster.nodes.find((n) => n !== leader)!;
  ok(via.docker(["network", "create", "-d", "overlay", "crashnet"]));
  ok(
    via.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "many",
      "--replicas",
      "12",
      "--network",
      "crashnet",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  // Killed while the tasks are being placed and their endpoints taken.
  await sleep(300);
  await leader.crash();
  await until(
    "another leader",
    () =>
      new RegExp(`${leader.name} Down`).test(nodeRows(via).join(",")) &&
      /Leader/.test(nodeRows(via).join(",")),
    30_000,
  );
  const total = () => cluster.nodes.reduce((a, n) => a + running(n, "many"), 0);
  await until("12 running on the others", () => total() - running(leader, "many") === 12, 60_000);
  await leader.start();
  await until("the killed node back, 12 running in all", () => total() === 12, 60_000);
  const seen: Array<{ ip: string; mac: string; node: string }> = [];
  for (const n of cluster.nodes)
    for (const id of n
      .docker(["ps", "-q", "--filter", "label=com.docker.swarm.service.name=many"])
      .stdout.split("\n")
      .filter(Boolean)) {
      const networks = JSON.parse(
        ok(n.docker(["inspect", "--format", "{{json .NetworkSettings.Networks}}", id])).stdout,
      ) as Record<string, { IPAddress: string; MacAddress: string }>;
      const e = networks["crashnet"];
      assert.ok(e, `${id} on ${n.name} is on crashnet: ${Object.keys(networks).join(", ")}`);
      seen.push({ ip: e.IPAddress, mac: e.MacAddress, node: n.name });
    }
  assert.equal(seen.length, 12);
  const vip = (
    JSON.parse(ok(via.docker(["service", "inspect", "many"])).stdout)[0].Endpoint.VirtualIPs as Array<{
      Addr: string;
    }>
  ).map((v) => v.Addr.split("/")[0]);
  const ips = [...seen.map((s) => s.ip), ...vip];
  assert.equal(new Set(ips).size, ips.length, `addresses: ${JSON.stringify(seen)} VIP ${vip}`);
  assert.equal(new Set(seen.map((s) => s.mac)).size, seen.length, `MACs: ${JSON.stringify(seen)}`);
  ok(via.docker(["service", "rm", "many"]));
  await until("many removed", () => total() === 0, 30_000);
  await until("crashnet removed", () => via.docker(["network", "rm", "crashnet"]).status === 0);
});
