import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultHostConfig, validateHostConfig } from "../../../src/engine/container-create.js";
import { containerSpec } from "../../../src/engine/container-spec.js";
import type { ContainerRecord } from "../../../src/engine/docker-types.js";
import {
  formatMapArgument,
  type HostAccounts,
  hostId,
  mappingsFor,
  nextFreeRange,
  parseRemapSetting,
  parseSubordinateIds,
  resolveRemap,
} from "../../../src/engine/userns-remap.js";
import { UsernsViews } from "../../../src/engine/userns-views.js";
import { InvalidArgument } from "../../../src/errors.js";

const accounts: HostAccounts = {
  passwd:
    "root:x:0:0:root:/root:/bin/bash\nberthremap:x:999:995::/home/berthremap:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n",
  group: "root:x:0:\nberthremap:x:995:\nalice:x:1000:\nstaff:x:50:\n",
  subuid: "# ranges\nalice:300000:1000\nberthremap:100000:65536\n\n1000:200000:500\n",
  subgid: "berthremap:100000:65536\nstaff:400000:65536\n",
};

test("subordinate id files: comments and blank lines skipped, a bad line named", () => {
  assert.deepEqual(parseSubordinateIds("# c\n\nbob:1:2\n", "/etc/subuid"), [
    { owner: "bob", start: 1, count: 2 },
  ]);
  assert.throws(
    () => parseSubordinateIds("bob:1:2\nbob:x:2\n", "/etc/subuid"),
    /\/etc\/subuid, line 2: expected owner:start:count, got "bob:x:2"/,
  );
});

test("an owner's ranges, by name or id, are laid end to end from container id 0 in host order", () => {
  const ranges = parseSubordinateIds(accounts.subuid, "/etc/subuid");
  assert.deepEqual(mappingsFor(ranges, ["alice", "1000"]), [
    { containerID: 0, hostID: 200000, size: 500 },
    { containerID: 500, hostID: 300000, size: 1000 },
  ]);
  assert.deepEqual(mappingsFor(ranges, ["nobody"]), []);
});

test("the default user's new range starts above every range of both files", () => {
  assert.equal(nextFreeRange([]), 100000);
  assert.equal(
    nextFreeRange([
      { owner: "a", start: 100000, count: 65536 },
      { owner: "b", start: 300000, count: 10 },
    ]),
    300010,
  );
});

test("--userns-remap settings: default, user, user:group; malformed ones refused", () => {
  assert.deepEqual(parseRemapSetting("default"), { user: "default" });
  assert.deepEqual(parseRemapSetting("alice:staff"), { user: "alice", group: "staff" });
  for (const bad of ["", "a:b:c", "a b", ":g"])
    assert.throws(() => parseRemapSetting(bad), /expected default, USER or USER:GROUP/);
});

test("resolving a remap: the default user, a named group, numeric ids, and missing pieces", () => {
  const d = resolveRemap("default", accounts);
  assert.equal(d.user, "berthremap");
  assert.equal(d.group, "berthremap");
  assert.deepEqual(d.uid, [{ containerID: 0, hostID: 100000, size: 65536 }]);
  const named = resolveRemap("1000:staff", accounts);
  assert.equal(named.user, "alice");
  assert.deepEqual(named.gid, [{ containerID: 0, hostID: 400000, size: 65536 }]);
  assert.throws(() => resolveRemap("bob", accounts), /no user "bob" in \/etc\/passwd/);
  assert.throws(() => resolveRemap("alice:wheel", accounts), /no group "wheel" in \/etc\/group/);
  assert.throws(() => resolveRemap("alice", accounts), /no subordinate ids for "alice" in \/etc\/subgid/);
  assert.throws(() => resolveRemap("root", accounts), /no subordinate ids for "root" in \/etc\/subuid/);
});

test("host ids under a mapping, and the map argument berth-idmap takes", () => {
  const maps = [
    { containerID: 0, hostID: 100000, size: 10 },
    { containerID: 10, hostID: 500000, size: 10 },
  ];
  assert.equal(hostId(maps, 0), 100000);
  assert.equal(hostId(maps, 12), 500002);
  assert.equal(hostId(maps, 20), undefined);
  assert.equal(formatMapArgument(maps), "0 100000 10,10 500000 10");
});

const views = new UsernsViews(
  "/run/berth",
  { snapshots: "/var/lib/berth/snapshots", volumes: "/var/lib/berth/volumes" },
  { uid: [], gid: [] },
);

test("a remapped root reads its layers through the snapshot view, absolute or relative", () => {
  const absolute = views.rootfsMount({
    type: "overlay",
    source: "overlay",
    options: [
      "lowerdir=/var/lib/berth/snapshots/a/fs:/var/lib/berth/snapshots/b/fs",
      "upperdir=/var/lib/berth/snapshots/c/fs",
      "workdir=/var/lib/berth/snapshots/c/work",
      "index=off",
    ],
  });
  assert.deepEqual(absolute.options, [
    "lowerdir=/run/berth/userns/snapshots/a/fs:/run/berth/userns/snapshots/b/fs",
    "upperdir=/run/berth/userns/snapshots/c/fs",
    "workdir=/run/berth/userns/snapshots/c/work",
    "index=off",
  ]);
  const relative = views.rootfsMount({
    type: "overlay",
    source: "overlay",
    options: ["lowerdir=a/fs", "upperdir=c/fs", "workdir=c/work"],
    cwd: "/var/lib/berth/snapshots",
  });
  assert.equal(relative.cwd, "/run/berth/userns/snapshots");
  assert.deepEqual(relative.options, ["lowerdir=a/fs", "upperdir=c/fs", "workdir=c/work"]);
  const bind = views.rootfsMount({
    type: "bind",
    source: "/var/lib/berth/snapshots/c/fs",
    options: ["rbind"],
  });
  assert.equal(bind.source, "/run/berth/userns/snapshots/c/fs");
});

test("volumes are bound from the volume view; host directories and tmpfs are left alone", () => {
  assert.equal(
    views.bindMount({ destination: "/d", type: "bind", source: "/var/lib/berth/volumes/v/_data" }).source,
    "/run/berth/userns/volumes/v/_data",
  );
  assert.equal(
    views.bindMount({ destination: "/h", type: "bind", source: "/var/lib/berth/volumesx" }).source,
    "/var/lib/berth/volumesx",
  );
  assert.equal(views.bindMount({ destination: "/t", type: "tmpfs", source: "tmpfs" }).source, "tmpfs");
});

function record(hostConfig: Parameters<typeof defaultHostConfig>[0] = {}): ContainerRecord {
  return {
    Id: "c".repeat(64),
    Path: "sh",
    Args: [],
    Config: { Hostname: "h", Env: [], Tty: false, WorkingDir: "" },
    HostConfig: defaultHostConfig(hostConfig),
  } as unknown as ContainerRecord;
}

const specInput = (r: ContainerRecord) => ({
  record: r,
  user: { uid: 0, gid: 0, additionalGids: [] },
  rootfs: "/run/berth/rootfs",
  netnsPath: undefined,
  mounts: [],
  cgroupsPath: "berth/c",
  seccomp: () => undefined,
  initBinary: "/x/berth-init",
  hostDevice: () => undefined,
  hostDevices: () => [],
});

test("a remapped container's spec has a user namespace with the daemon's mappings", () => {
  const uid = [{ containerID: 0, hostID: 100000, size: 65536 }];
  const gid = [{ containerID: 0, hostID: 200000, size: 65536 }];
  const spec = containerSpec({ ...specInput(record()), idMaps: { uid, gid } });
  assert.ok(spec.linux!.namespaces!.some((n) => n.type === "user" && !n.path));
  assert.deepEqual(spec.linux!.uidMappings, uid);
  assert.deepEqual(spec.linux!.gidMappings, gid);
  const plain = containerSpec(specInput(record()));
  assert.ok(!plain.linux!.namespaces!.some((n) => n.type === "user"));
  assert.equal(plain.linux!.uidMappings, undefined);
});

test("with remapping, privileged, host network and host pid need --userns=host (docker's errors)", () => {
  const cases: [Parameters<typeof defaultHostConfig>[0], RegExp][] = [
    [{ Privileged: true }, /privileged mode is incompatible with user namespaces/],
    [{ NetworkMode: "host" }, /cannot share the host's network namespace/],
    [{ PidMode: "host" }, /cannot share the host PID namespace/],
  ];
  for (const [hc, message] of cases) {
    const config = defaultHostConfig(hc);
    assert.throws(
      () => validateHostConfig(config, true),
      (e: Error) => e instanceof InvalidArgument && message.test(e.message),
    );
    validateHostConfig(config, false);
    validateHostConfig({ ...config, UsernsMode: "host" }, true);
  }
  assert.throws(
    () => validateHostConfig(defaultHostConfig({ UsernsMode: "private" }), true),
    /invalid USER mode: private/,
  );
});
