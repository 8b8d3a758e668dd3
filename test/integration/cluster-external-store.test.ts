/**
 * Swarm mode on an etcd of the user's own (`berth serve --cluster-store etcd://…`): the real etcd
 * runs on the test LAN's gateway, the managers run no member of their own, the state outlives a
 * daemon, a second swarm cannot take the same store, and the last manager's leave empties it.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { exited } from "../helpers/processes.js";
import { until } from "../helpers/wait.js";

const DAEMON = fileURLToPath(new URL("../../src/daemon/run.js", import.meta.url));
const cluster = new TestCluster(3);
const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];
const STORE = `${cluster.lan.gateway}:23790`;
const storeFlag = ["--cluster-store", `etcd://${STORE}`];
let etcd: ChildProcess | undefined;
const etcdDir = mkdtempSync(join(tmpdir(), "berth-external-etcd-"));

/** Runs `node -e SCRIPT` in the LAN's network namespace (where the store listens). */
function onLan(script: string): string {
  const r = spawnSync(
    "nsenter",
    [`--net=/run/netns/${cluster.lan.netns}`, "--", process.execPath, "--input-type=module", "-e", script],
    { encoding: "utf8", timeout: 20_000 },
  );
  if (r.status !== 0) throw new Error(`on the LAN: ${r.stderr}`);
  return r.stdout;
}

/** The number of keys under /berth/ in the store, read through etcd's own JSON gateway. */
function storeKeys(): number {
  const body = JSON.stringify({
    key: Buffer.from("/berth/").toString("base64"),
    range_end: Buffer.from("/berth0").toString("base64"),
    count_only: true,
  });
  const out = onLan(
    `const r = await fetch("http://${STORE}/v3/kv/range", { method: "POST", body: ${JSON.stringify(body)} }); console.log((await r.json()).count ?? 0);`,
  );
  return Number(out.trim());
}

const listensForStore = (n: ClusterNode) => /:2379\b/.test(ok(n.exec(["ss", "-ltn"])).stdout);

before(async () => {
  await cluster.start(storeFlag);
  const gw = cluster.lan.gateway;
  etcd = spawn(
    "nsenter",
    [
      `--net=/run/netns/${cluster.lan.netns}`,
      "--",
      "setpriv",
      "--pdeathsig",
      "KILL",
      "--",
      "etcd",
      "--name",
      "external",
      "--data-dir",
      join(etcdDir, "data"),
      "--listen-client-urls",
      `http://${STORE}`,
      "--advertise-client-urls",
      `http://${STORE}`,
      "--listen-peer-urls",
      `http://${gw}:23800`,
      "--initial-advertise-peer-urls",
      `http://${gw}:23800`,
      "--initial-cluster",
      `external=http://${gw}:23800`,
      "--log-level",
      "error",
    ],
    { stdio: "ignore" },
  );
  await until("the external etcd to answer", () => {
    try {
      return storeKeys() === 0;
    } catch {
      return false;
    }
  });
});

after(async () => {
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
  if (etcd && etcd.exitCode === null) {
    etcd.kill("SIGTERM");
    await exited(etcd);
  }
  rmSync(etcdDir, { recursive: true, force: true });
});

test("a bad --cluster-store stops the daemon before it makes anything", () => {
  const root = join(etcdDir, "never-made");
  for (const [args, message] of [
    [["--cluster-store", "consul://h:8500"], /invalid --cluster-store "consul:\/\/h:8500"/],
    [["--cluster-store-opt", "kv.cacertfile=/x"], /--cluster-store-opt needs --cluster-store/],
  ] as const) {
    const r = spawnSync(process.execPath, [DAEMON, "--root", root, "--exec-root", `${root}-run`, ...args], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
  }
  assert.ok(!existsSync(root));
});

test("init keeps the swarm in the given etcd, with no member of its own; a worker joins; services run", async () => {
  ok(n1.docker(["swarm", "init"]));
  assert.ok(storeKeys() > 0, "the swarm's records are in the external store");
  assert.ok(!listensForStore(n1), "no embedded etcd member");
  const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  ok(n2.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "ext",
      "--replicas",
      "4",
      "--stop-grace-period",
      "1s",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  const count = (n: ClusterNode) =>
    ok(n.docker(["ps", "-q", "--filter", "label=com.docker.swarm.service.name=ext"]))
      .stdout.split("\n")
      .filter(Boolean).length;
  await until("2 tasks on each node", () => count(n1) === 2 && count(n2) === 2, 30_000);
});

test("a second swarm cannot take a store that holds one; the swarm outlives its manager's daemon", async () => {
  const second = n3.docker(["swarm", "init"]);
  assert.notEqual(second.status, 0);
  assert.match(second.stderr, /already holds a swarm \(\w+\): join one of its managers instead/);
  assert.match(ok(n3.docker(["info", "--format", "{{.Swarm.LocalNodeState}}"])).stdout, /inactive/);
  await n1.stop();
  await n1.start(storeFlag);
  await until("the manager to be back", () => n1.docker(["service", "ls"]).status === 0);
  assert.match(ok(n1.docker(["service", "ls"])).stdout, /ext +replicated +4\/4/);
});

test("the last manager's leave empties the store, and a new swarm can use it", async () => {
  ok(n2.docker(["swarm", "leave"]));
  ok(n1.docker(["swarm", "leave", "--force"]));
  assert.equal(storeKeys(), 0);
  assert.match(ok(n2.docker(["swarm", "init"])).stdout, /Swarm initialized/);
  assert.ok(storeKeys() > 0);
  ok(n2.docker(["swarm", "leave", "--force"]));
  assert.equal(storeKeys(), 0);
});
