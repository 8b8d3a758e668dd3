/**
 * The cluster fixture itself (test/helpers/cluster.ts): two daemons, each in a network and mount
 * namespace of its own on a LAN of their own, working as on hosts of their own — containers on
 * the node's bridge, cgroups, each other's LAN address, a partition and its end, a crash and live
 * restore — and nothing left behind.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { after, before, test } from "node:test";
import { type ClusterNode, TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const cluster = new TestCluster(2);
const [n1, n2] = [cluster.node(1), cluster.node(2)];
const hostHadBridge = existsSync("/sys/class/net/berth0");
/** One ping from inside a node (the host has no ping of its own: busybox's). */
const ping = (from: ClusterNode, to: ClusterNode) =>
  from.exec(["busybox", "ping", "-c1", "-W1", to.address]).status === 0;
const namespaces = () =>
  spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);

before(async () => {
  await cluster.start();
});

after(async () => {
  await cluster.cleanup();
  assert.deepEqual(
    namespaces().filter((ns) => /^berth(node|lan)-/.test(ns)),
    [],
    "no berthnode-*/berthlan-* network namespaces",
  );
  assert.deepEqual(cluster.leftovers, [], "nothing was left for cleanup to kill or remove");
  for (const node of cluster.nodes) {
    assert.ok(!existsSync(node.root) && !existsSync(node.runRoot), "the state directories are gone");
  }
  assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), /berth-test-cluster/);
});

test("each daemon is the process spawned, in its node's network and mount namespaces", () => {
  for (const node of cluster.nodes) {
    const pid = node.pid!;
    assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8").trim(), "node", "nsenter execs the daemon");
    assert.equal(readlinkSync(`/proc/${pid}/ns/net`), readlinkSync(`/proc/${node.holderPid}/ns/net`));
    assert.equal(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync(`/proc/${node.holderPid}/ns/mnt`));
    assert.notEqual(readlinkSync(`/proc/${pid}/ns/mnt`), readlinkSync("/proc/self/ns/mnt"));
    assert.match(ok(node.exec(["ip", "-4", "-o", "addr", "show", "eth0"])).stdout, new RegExp(node.address));
    assert.deepEqual(
      ok(node.exec(["ls", "/sys/class/net"]))
        .stdout.split(/\s+/)
        .filter(Boolean)
        .sort(),
      ["eth0", "lo"],
    );
    assert.equal(
      ok(node.exec(["ip", "netns", "list"])).stdout,
      "",
      "the host's named namespaces are not seen",
    );
  }
});

test("containers run on their node's own bridge, in namespaces only the node sees", () => {
  for (const node of cluster.nodes) {
    const id = ok(node.docker(["run", "-d", "busybox", "sleep", "60"])).stdout.trim();
    const out = ok(node.docker(["run", "--rm", "busybox", "ip", "-4", "addr"])).stdout;
    assert.match(out, /inet 10\.91\.\d+\.\d+\/16/, out);
    assert.match(ok(node.exec(["ip", "-4", "-o", "addr", "show", "berth0"])).stdout, /inet 10\.91\.0\.1\/16/);
    assert.match(ok(node.exec(["ls", "/sys/class/net"])).stdout, /berth0/);
    assert.equal(existsSync("/sys/class/net/berth0"), hostHadBridge, "the host's links are not the node's");
    const sandbox = ok(node.docker(["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", id])).stdout.trim();
    assert.match(sandbox, /^\/run\/netns\/berth-/);
    ok(node.exec(["test", "-e", sandbox]), "the container's network namespace, in the node's /run/netns");
    assert.ok(!existsSync(sandbox), "the host does not see the node's network namespaces");
    ok(node.docker(["rm", "-f", id]));
  }
});

test("nodes reach each other on the LAN; a cut link partitions a node until it heals", async () => {
  assert.ok(ping(n1, n2), "node 1 reaches node 2");
  assert.ok(ping(n2, n1), "node 2 reaches node 1");
  n2.cutLink();
  assert.ok(!ping(n1, n2), "partitioned");
  n2.healLink();
  await until("the link to heal", () => ping(n1, n2), 5_000);
});

test("cgroups work inside a node", () => {
  const out = ok(
    n1.docker([
      "run",
      "--rm",
      "--memory",
      "64m",
      "busybox",
      "cat",
      "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]),
  ).stdout;
  assert.equal(out.trim(), "67108864");
});

test("a crashed daemon starts again in its node, its containers still running", async () => {
  const id = ok(n2.docker(["run", "-d", "busybox", "sleep", "60"])).stdout.trim();
  await n2.crash();
  assert.equal(n2.pid, undefined);
  await n2.start();
  assert.equal(ok(n2.docker(["inspect", "-f", "{{.State.Running}}", id])).stdout.trim(), "true");
  ok(n2.docker(["exec", id, "true"]));
  ok(n2.docker(["rm", "-f", id]));
  // The daemon releases a container's network when its monitor reports the exit: soon after rm.
  await until("its network namespace to go", () => ok(n2.exec(["ip", "netns", "list"])).stdout === "", 5_000);
});
