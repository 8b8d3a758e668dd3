import assert from "node:assert/strict";
import { test } from "node:test";
import type { EtcdClient, KeyValue, WatchEvent } from "../../../src/cluster/etcd.js";
import { StoreMirror } from "../../../src/cluster/mirror.js";
import { NodeTaskFeed } from "../../../src/cluster/node-tasks.js";
import { ClusterStore, parseEntry } from "../../../src/cluster/store.js";
import { until } from "../../helpers/wait.js";

/** An etcd of one prefix: a read gives what is there, a watch gets what `emit` says. */
class FakeEtcd {
  kvs: KeyValue[] = [];
  revision = 10;
  watchers: Array<{
    from: number;
    onEvents: (e: WatchEvent[]) => void;
    onCompacted: (() => void) | undefined;
    stopped: boolean;
  }> = [];
  async list() {
    return { kvs: [...this.kvs], revision: this.revision };
  }
  watch(_prefix: string, from: number, onEvents: (e: WatchEvent[]) => void, onCompacted?: () => void) {
    const w = { from, onEvents, onCompacted, stopped: false };
    this.watchers.push(w);
    return () => {
      w.stopped = true;
    };
  }
  emit(events: WatchEvent[]) {
    for (const w of this.watchers) if (!w.stopped) w.onEvents(events);
  }
}

const kv = (key: string, value: string, rev: number): KeyValue => ({
  key,
  value,
  createRevision: rev,
  modRevision: rev,
  lease: "0",
});

const mirrorOf = (etcd: FakeEtcd) =>
  new StoreMirror<string>(
    etcd as unknown as EtcdClient,
    "/p/",
    (k) => k.value,
    () => {},
  );

test("a mirror takes every event of one revision (a transaction of many puts), then catches up", async () => {
  const etcd = new FakeEtcd();
  etcd.kvs = [kv("/p/a", "1", 5)];
  const mirror = mirrorOf(etcd);
  await mirror.start();
  assert.equal(etcd.watchers[0]!.from, 11, "the watch starts after the revision read");
  assert.deepEqual(mirror.values(), ["1"]);
  let caught = false;
  const waiting = mirror.catchUp(12).then(() => {
    caught = true;
  });
  etcd.emit([
    { type: "PUT", kv: kv("/p/b", "2", 12) },
    { type: "PUT", kv: kv("/p/c", "3", 12) },
    { type: "PUT", kv: kv("/p/d", "4", 12) },
  ]);
  await waiting;
  assert.ok(caught);
  assert.deepEqual(mirror.values().sort(), ["1", "2", "3", "4"]);
  etcd.emit([{ type: "DELETE", kv: kv("/p/a", "", 13) }]);
  assert.deepEqual(mirror.values().sort(), ["2", "3", "4"]);
  assert.equal(mirror.revision, 13);
  mirror.stop();
});

test("a mirror that does not see a revision in time reads the prefix whole", async () => {
  const etcd = new FakeEtcd();
  const mirror = mirrorOf(etcd);
  await mirror.start();
  etcd.kvs = [kv("/p/x", "late", 20)];
  etcd.revision = 20; // written, but its event never comes (a watch resumed past a compaction)
  await mirror.catchUp(20);
  assert.deepEqual(mirror.values(), ["late"]);
  assert.equal(etcd.watchers.filter((w) => !w.stopped).length, 1, "one watch, from the new read");
  assert.equal(etcd.watchers.at(-1)!.from, 21);
  mirror.stop();
});

test("a mirror whose watch was cut short by a compaction reads the prefix whole at once", async () => {
  const etcd = new FakeEtcd();
  const mirror = mirrorOf(etcd);
  await mirror.start();
  etcd.kvs = [kv("/p/y", "missed", 30)];
  etcd.revision = 30;
  etcd.watchers[0]!.onCompacted!();
  await until("the reread", () => mirror.values().length === 1);
  assert.deepEqual(mirror.values(), ["missed"]);
  assert.equal(mirror.revision, 30);
  mirror.stop();
});

test("the node task feed wakes only the node whose task changed, and follows a task that moves", async () => {
  const etcd = new FakeEtcd();
  const task = (id: string, node: string, rev: number) =>
    kv(`/berth/tasks/${id}`, JSON.stringify({ ID: id, NodeID: node, Status: { State: "assigned" } }), rev);
  etcd.kvs = [task("t1", "n1", 3)];
  const feed = NodeTaskFeed.following(new ClusterStore(etcd as unknown as EtcdClient));
  const woken: string[] = [];
  const stops = [
    await feed.subscribe("n1", () => woken.push("n1")),
    await feed.subscribe("n2", () => woken.push("n2")),
  ];
  assert.deepEqual(
    (await feed.tasksOf("n1")).map((t) => t.ID),
    ["t1"],
  );
  assert.equal((await feed.tasksOf("n1"))[0]!.Version.Index, 3);
  woken.length = 0;
  etcd.emit([{ type: "PUT", kv: task("t2", "n2", 11) }]);
  assert.deepEqual(woken, ["n2"]);
  woken.length = 0;
  etcd.emit([{ type: "PUT", kv: task("t1", "n2", 12) }]);
  assert.deepEqual(woken.sort(), ["n1", "n2"]);
  assert.deepEqual(await feed.tasksOf("n1"), []);
  assert.deepEqual((await feed.tasksOf("n2")).map((t) => t.ID).sort(), ["t1", "t2"]);
  woken.length = 0;
  etcd.emit([{ type: "DELETE", kv: kv("/berth/tasks/t2", "", 13) }]);
  assert.deepEqual(woken, ["n2"], "a removal wakes the node it was on");
  assert.deepEqual(
    (await feed.tasksOf("n2")).map((t) => t.ID),
    ["t1"],
  );
  for (const stop of stops) stop();
  assert.ok(
    etcd.watchers.every((w) => w.stopped),
    "the last subscriber gone, the watch goes",
  );
});

test("a manager's node task feed reads the leader's copy of the whole store, and leaves it running", async () => {
  const etcd = new FakeEtcd();
  const task = (id: string, node: string, rev: number) =>
    kv(`/berth/tasks/${id}`, JSON.stringify({ ID: id, NodeID: node, Status: { State: "assigned" } }), rev);
  etcd.kvs = [
    task("t1", "n1", 3),
    kv("/berth/services/s1", JSON.stringify({ ID: "s1", SpecVersion: 2, Spec: { Name: "web" } }), 4),
    kv("/berth/nodes/n1", JSON.stringify({ ID: "n1" }), 5),
  ];
  let feed: NodeTaskFeed | undefined;
  const whole = new StoreMirror<unknown>(etcd as unknown as EtcdClient, "/berth/", parseEntry, (e) =>
    feed?.changed(e),
  );
  feed = NodeTaskFeed.over(whole);
  const woken: string[] = [];
  const stop = await feed.subscribe("n1", () => woken.push("n1"));
  assert.deepEqual(
    (await feed.tasksOf("n1")).map((t) => t.ID),
    ["t1"],
    "only tasks are a node's tasks",
  );
  assert.equal(feed.service("s1", 2)?.Spec.Name, "web");
  assert.equal(feed.service("s1", 1), undefined, "another spec version is read from the store");
  woken.length = 0;
  etcd.emit([{ type: "PUT", kv: kv("/berth/nodes/n1", JSON.stringify({ ID: "n1", x: 1 }), 11) }]);
  assert.deepEqual(woken, [], "a change of another kind of key wakes no node");
  etcd.emit([{ type: "PUT", kv: task("t2", "n1", 12) }]);
  assert.deepEqual(woken, ["n1"]);
  assert.deepEqual((await feed.tasksOf("n1")).map((t) => t.ID).sort(), ["t1", "t2"]);
  stop();
  assert.ok(
    etcd.watchers.every((w) => !w.stopped),
    "the copy is its owner's (the leader's): the feed's last subscriber does not stop it",
  );
  whole.stop();
});
