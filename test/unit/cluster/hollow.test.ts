import assert from "node:assert/strict";
import { test } from "node:test";
import { HollowRuntime } from "../../../src/cluster/hollow.js";
import { hollowOptions } from "../../../src/cluster/hollow-options.js";
import type { ServiceRecord, TaskRecord } from "../../../src/cluster/types.js";

const TOKEN = `SWMTKN-1-${"a".repeat(50)}-${"b".repeat(25)}`;
const good = ["--manager", "10.0.0.1:2377", "--token", TOKEN];
const log = () => {};

test("hollow nodes' options: defaults, --help", () => {
  const o = hollowOptions(good, log)!;
  assert.equal(o.count, 1);
  assert.equal(o.addr, "127.0.0.1");
  assert.equal(o.prefix, "hollow");
  assert.equal(hollowOptions(["--help"], log), undefined);
  assert.equal(hollowOptions([...good, "--nodes", "1000"], log)!.count, 1000);
});

test("hollow nodes' options: bad input is refused with what is wrong", () => {
  const bad: Array<[string[], RegExp]> = [
    [["--token", TOKEN], /--manager HOST:PORT is required/],
    [["--manager", "10.0.0.1:2377"], /--token is required/],
    [[...good, "--nodes", "0"], /--nodes: a whole number from 1 to 10000/],
    [[...good, "--nodes", "-3"], /--nodes: a whole number/],
    [[...good, "--nodes", "2.5"], /--nodes: a whole number/],
    [[...good, "--nodes", "10001"], /--nodes: a whole number/],
    [[...good, "--nodes", "1e3"], /--nodes: a whole number/],
    [["--manager", "10.0.0.1:99999", "--token", TOKEN], /invalid port/],
    [["--manager", "10.0.0.1:2377", "--token", "SWMTKN-1-nope"], /invalid join token/],
    [[...good, "--prefix", "../etc"], /--prefix/],
    [[...good, "--prefix", "a b"], /--prefix/],
    [[...good, "--addr", "host; rm -rf /"], /--addr: an IP address/],
    [[...good, "extra"], /take no arguments/],
    [[...good, "--bogus", "1"], /unknown flag: --bogus/],
  ];
  for (const [argv, message] of bad) assert.throws(() => hollowOptions(argv, log), message, argv.join(" "));
});

test("the hollow runtime: a task's container runs until stopped, and goes when removed", async () => {
  const rt = new HollowRuntime();
  const task = { ID: "t1", Slot: 3, NodeID: "n1" } as TaskRecord;
  const service = { Spec: { Name: "web" } } as ServiceRecord;
  const c = await rt.run(task, service);
  assert.equal(c.name, "web.3.t1");
  assert.equal(c.running, true);
  assert.equal(rt.containers().get("t1")?.running, true);
  const stopped = await rt.stop(c);
  assert.equal(stopped.running, false);
  assert.equal(rt.containers().get("t1")?.running, false);
  await rt.remove(c);
  assert.equal(rt.containers().size, 0);
});
