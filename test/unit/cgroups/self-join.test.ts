import assert from "node:assert/strict";
import { test } from "node:test";
import type { Cgroup } from "../../../src/runtime/cgroups/cgroup.js";
import { selfJoinFiles } from "../../../src/runtime/cgroups/index.js";

const v1 = { selfJoinFiles: () => ["/sys/fs/cgroup/pids/berth/c/tasks"] } as unknown as Cgroup;
const v2 = { selfJoinFiles: () => undefined } as unknown as Cgroup;

test("a process moves itself into v1 cgroups unless a pids limit leaves no room for its parent", () => {
  assert.deepEqual(selfJoinFiles(v1, undefined), ["/sys/fs/cgroup/pids/berth/c/tasks"]);
  assert.deepEqual(selfJoinFiles(v1, 0), ["/sys/fs/cgroup/pids/berth/c/tasks"]);
  assert.deepEqual(selfJoinFiles(v1, 2), ["/sys/fs/cgroup/pids/berth/c/tasks"]);
  assert.equal(selfJoinFiles(v1, 1), undefined);
  assert.equal(selfJoinFiles(v2, undefined), undefined);
});
