import assert from "node:assert/strict";
import { test } from "node:test";
import { systemdCgroupPath } from "../../../src/runtime/cgroups/index.js";

test("a systemd cgroupsPath becomes the path systemd would give its scope", () => {
  assert.equal(systemdCgroupPath("system.slice:docker:abc", "x"), "/system.slice/docker-abc.scope");
  assert.equal(
    systemdCgroupPath("machine-libpod_pod_1.slice:libpod:abc", "x"),
    "/machine.slice/machine-libpod_pod_1.slice/libpod-abc.scope",
  );
  assert.equal(systemdCgroupPath("-.slice:p:n", "x"), "/p-n.scope");
  assert.equal(systemdCgroupPath(":p:n", "x"), "/system.slice/p-n.scope", "no slice: system.slice");
  assert.equal(
    systemdCgroupPath("user.slice::sub.slice", "x"),
    "/user.slice/sub.slice",
    "a slice as the unit",
  );
  assert.equal(systemdCgroupPath(undefined, "c1"), "/system.slice/berth-runtime-c1.scope");
});

test("a cgroupsPath that is not slice:prefix:name, or names outside the slice, is refused", () => {
  for (const bad of ["/docker/abc", "a:b", "a:b:c:d", "nota-slice:p:n", "a--b.slice:p:n", "-a.slice:p:n"])
    assert.throws(() => systemdCgroupPath(bad, "x"), /linux\.cgroupsPath/, bad);
  for (const climbing of [
    "system.slice:../..:x",
    "system.slice:p:../../x",
    "../system.slice:p:n",
    "system.slice:p:a/b",
  ])
    assert.throws(() => systemdCgroupPath(climbing, "x"), /linux\.cgroupsPath/, climbing);
});
