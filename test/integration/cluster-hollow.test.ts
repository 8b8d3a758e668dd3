/**
 * Hollow nodes (src/cluster/hollow.ts): one real manager on a test LAN and a process of hollow
 * workers that join it with its worker token. Their tasks go through the states a real node's do
 * and reach running without any container; a scale-down shuts them down, a removal removes them.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { TestCluster } from "../helpers/cluster.js";
import { ok } from "../helpers/daemon.js";
import { HollowProcess } from "../helpers/hollow.js";
import { until } from "../helpers/wait.js";

const cluster = new TestCluster(1);
const n1 = cluster.node(1);
let hollow: HollowProcess | undefined;

/** `service ps` rows of a service: node, desired state, current state. */
function tasks(
  service: string,
  filter: string[] = [],
): Array<{ node: string; desired: string; state: string }> {
  return ok(
    n1.docker([
      "service",
      "ps",
      ...filter,
      "--format",
      "{{.Node}}|{{.DesiredState}}|{{.CurrentState}}",
      service,
    ]),
  )
    .stdout.split("\n")
    .filter(Boolean)
    .map((l) => {
      const [node = "", desired = "", state = ""] = l.split("|");
      return { node, desired, state };
    });
}

/** How many hollow nodes `node ls` shows in `status` (Ready, Down). */
const hollowNodes = (status: string) =>
  ok(n1.docker(["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]))
    .stdout.split("\n")
    .filter((l) => /^hollow-\d+ /.test(l) && l.endsWith(` ${status}`)).length;

before(async () => {
  await cluster.start();
  ok(n1.docker(["swarm", "init", "--advertise-addr", n1.address]));
});

after(async () => {
  await hollow?.stop();
  n1.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

test("hollow nodes join with a worker token and are listed Ready; a wrong token is refused", async () => {
  const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  await assert.rejects(
    HollowProcess.start(cluster.lan, n1.address, `${token.slice(0, -4)}aaaa`, 1),
    /invalid join token/,
  );
  hollow = await HollowProcess.start(cluster.lan, n1.address, token, 3);
  await until("three hollow nodes Ready", () => hollowNodes("Ready") === 3, 20_000);
});

test("a hollow node's tasks reach running; scaled down they shut down; removed they go; no container is made", async () => {
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--no-resolve-image",
      "--name",
      "hollowed",
      "--replicas",
      "6",
      "--constraint",
      "node.role==worker",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  await until(
    "6 running tasks",
    () =>
      tasks("hollowed", ["--filter", "desired-state=running"]).filter((t) => /^Running/.test(t.state))
        .length === 6,
    20_000,
  );
  const placed = tasks("hollowed", ["--filter", "desired-state=running"]);
  assert.equal(placed.length, 6, "no task made twice");
  const per = new Map<string, number>();
  for (const t of placed) per.set(t.node, (per.get(t.node) ?? 0) + 1);
  assert.deepEqual([...per.keys()].sort(), ["hollow-1", "hollow-2", "hollow-3"]);
  assert.deepEqual([...per.values()], [2, 2, 2]); // spread
  assert.equal(ok(n1.docker(["ps", "-aq"])).stdout.trim(), "", "no container on the manager");

  ok(n1.docker(["service", "scale", "--detach", "hollowed=2"]));
  await until(
    "4 tasks shut down",
    () =>
      tasks("hollowed", ["--filter", "desired-state=shutdown"]).filter((t) => /^Shutdown/.test(t.state))
        .length === 4,
    20_000,
  );
  assert.equal(
    tasks("hollowed", ["--filter", "desired-state=running"]).filter((t) => /^Running/.test(t.state)).length,
    2,
  );

  ok(n1.docker(["service", "rm", "hollowed"]));
  await until(
    "the hollow nodes' tasks removed",
    () =>
      ["hollow-1", "hollow-2", "hollow-3"].every(
        (h) => ok(n1.docker(["node", "ps", "-q", h])).stdout.trim() === "",
      ),
    20_000,
  );
});

test("hollow nodes that stop give their leases back: they are Down at once", async () => {
  await hollow!.stop();
  await until("hollow nodes Down", () => hollowNodes("Down") === 3, 5_000);
});
