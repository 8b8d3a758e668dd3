import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultSpec } from "../../../src/oci/default-spec.js";
import type { Spec } from "../../../src/oci/runtime-spec.js";
import { MS } from "../../../src/runtime/linux.js";
import { parseMountOptions } from "../../../src/runtime/mount-options.js";
import { planNamespaces } from "../../../src/runtime/namespaces.js";
import type { PlanOp } from "../../../src/runtime/native/plan.js";
import { type HostView, rootfsOps } from "../../../src/runtime/rootfs.js";

const host: HostView = {
  kind: (p) => (p.endsWith(".conf") ? "file" : p.startsWith("/missing") ? undefined : "dir"),
  mountPointOf: () => "/var",
};

function ops(mutate: (s: Spec) => void = () => {}): PlanOp[] {
  const spec = defaultSpec();
  mutate(spec);
  return rootfsOps({
    spec,
    rootfs: "/b/rootfs",
    bundle: "/b",
    namespaces: planNamespaces(spec.linux?.namespaces),
    cgroupMounts: [
      { name: "memory", hostPath: "/sys/fs/cgroup/memory/berth/x", aliases: [] },
      { name: "cpu,cpuacct", hostPath: "/sys/fs/cgroup/cpu,cpuacct/berth/x", aliases: ["cpu", "cpuacct"] },
    ],
    host,
  });
}

const names = (list: PlanOp[]) => list.map((o) => o.op);

test("the root is made a slave, bound onto itself and pivoted into, before masks and read-only paths", () => {
  const list = ops();
  assert.deepEqual(list.slice(0, 3), [
    { op: "propagation", target: "/", flags: MS.SLAVE | MS.REC, inRoot: false },
    {
      op: "mountHost",
      source: "/b/rootfs",
      target: "/b/rootfs",
      fstype: "",
      flags: MS.BIND | MS.REC,
      data: "",
    },
    { op: "setRoot", path: "/b/rootfs" },
  ]);
  const n = names(list);
  const pivot = n.indexOf("pivotRoot");
  assert.ok(pivot > 3);
  assert.ok(n.indexOf("mask") > pivot && n.indexOf("readonly") > pivot);
  assert.ok(n.lastIndexOf("mount") < pivot, "every configured mount happens before pivot_root");
  // root.readonly comes last, after masks (which mount on the root)
  assert.deepEqual(list.at(-2), { op: "remount", target: "/", flags: MS.RDONLY });
  assert.deepEqual(list.at(-1), { op: "sethostname", name: "berth" });
});

test("devices are made with mknod, or bound from the host in a user namespace", () => {
  const plain = ops().filter((o) => o.op === "mknod");
  assert.equal(plain.length, 6);
  assert.deepEqual(plain[0], { op: "mknod", path: "/dev/null", mode: 0o020666, dev: 0x103n, uid: 0, gid: 0 });
  const userns = ops((s) => {
    s.linux!.namespaces!.push({ type: "user" });
  });
  assert.equal(userns.filter((o) => o.op === "mknod").length, 0);
  assert.ok(
    userns.some(
      (o) => o.op === "mount" && o.source === "/dev/null" && o.kind === "file" && o.flags === MS.BIND,
    ),
  );
});

test("linux.devices adds to and overrides the default devices", () => {
  const list = ops((s) => {
    s.linux!.devices = [
      { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o600, uid: 1, gid: 2 },
      { path: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o600 },
    ];
  });
  const fuse = list.find((o) => o.op === "mknod" && o.path === "/dev/fuse");
  assert.deepEqual(fuse, {
    op: "mknod",
    path: "/dev/fuse",
    mode: 0o020600,
    dev: (10n << 8n) | 229n,
    uid: 1,
    gid: 2,
  });
  assert.equal(list.filter((o) => o.op === "mknod" && o.path === "/dev/null").length, 1);
  assert.throws(
    () =>
      ops((s) => {
        s.linux!.devices = [{ path: "/dev/x", type: "q", major: 1, minor: 1 }];
      }),
    /unknown device type "q"/,
  );
});

test("a read-only bind mount is a bind then a remount; a file source gets a file target", () => {
  const list = ops((s) => {
    s.mounts!.push({ destination: "/etc/app.conf", source: "app.conf", options: ["bind", "ro", "nosuid"] });
  });
  const i = list.findIndex((o) => o.op === "mount" && o.target === "/etc/app.conf");
  assert.deepEqual(list[i], {
    op: "mount",
    source: "/b/app.conf",
    target: "/etc/app.conf",
    fstype: "",
    flags: MS.BIND,
    data: "",
    kind: "file",
  });
  assert.deepEqual(list[i + 1], { op: "remount", target: "/etc/app.conf", flags: MS.RDONLY | MS.NOSUID });
});

test("the cgroup mount becomes a tmpfs with one bind per hierarchy and links for co-mounted ones", () => {
  const list = ops();
  const cg = list.filter(
    (o) => "target" in o && typeof o.target === "string" && o.target.startsWith("/sys/fs/cgroup"),
  );
  assert.equal(cg[0]!.op, "mount");
  assert.ok(
    cg.some(
      (o) =>
        o.op === "mount" &&
        o.source === "/sys/fs/cgroup/cpu,cpuacct/berth/x" &&
        o.target === "/sys/fs/cgroup/cpu,cpuacct",
    ),
  );
  assert.ok(
    list.some((o) => o.op === "symlink" && o.target === "cpu,cpuacct" && o.path === "/sys/fs/cgroup/cpu"),
  );
});

test("bad mounts, sysctls and namespaces are refused with the field named", () => {
  assert.throws(
    () => ops((s) => s.mounts!.push({ destination: "rel", type: "tmpfs" })),
    /mounts\[7\]\.destination: must be an absolute path/,
  );
  assert.throws(
    () => ops((s) => s.mounts!.push({ destination: "/x", source: "/missing", options: ["bind"] })),
    /mounts\[7\]\.source: \/missing does not exist/,
  );
  assert.throws(
    () => ops((s) => s.mounts!.push({ destination: "/x", options: ["idmap"] })),
    /"idmap" is not supported/,
  );
  assert.throws(
    () =>
      ops((s) => {
        s.linux!.sysctl = { "vm.swappiness": "1" };
      }),
    /not namespaced/,
  );
  assert.throws(
    () =>
      ops((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "network");
        s.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
      }),
    /needs the container to have its own network namespace/,
  );
  assert.throws(
    () =>
      ops((s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "uts");
      }),
    /hostname/,
  );
  assert.throws(
    () =>
      ops((s) => {
        s.linux!.namespaces = [{ type: "pid" }];
      }),
    /maskedPaths, linux\.readonlyPaths: need a mount namespace/,
  );
  assert.throws(() => planNamespaces([{ type: "pid" }, { type: "pid" }]), /given twice/);
  assert.throws(() => planNamespaces([{ type: "bogus" as "pid" }]), /unknown namespace type "bogus"/);
});

test("sysctls are written under /proc/sys after pivot_root", () => {
  const list = ops((s) => {
    s.linux!.sysctl = { "net.ipv4.ip_forward": "1", "kernel.shmmax": "1000" };
  });
  const n = names(list);
  const w = list.filter((o) => o.op === "writeFile");
  assert.deepEqual(w, [
    { op: "writeFile", path: "/proc/sys/net/ipv4/ip_forward", content: "1" },
    { op: "writeFile", path: "/proc/sys/kernel/shmmax", content: "1000" },
  ]);
  assert.ok(n.indexOf("writeFile") > n.indexOf("pivotRoot"));
  assert.ok(n.indexOf("writeFile") < n.indexOf("readonly"), "before /proc/sys becomes read-only");
});

test("shared root propagation makes the rootfs's parent mount private so that pivot_root works", () => {
  const list = ops((s) => {
    s.linux!.rootfsPropagation = "rshared";
  });
  assert.deepEqual(list[1], { op: "propagation", target: "/var", flags: MS.PRIVATE, inRoot: false });
  assert.ok(list.some((o) => o.op === "propagation" && o.inRoot && o.flags === (MS.SHARED | MS.REC)));
});

test("hooks: createRuntime pauses set-up before pivot_root, createContainer runs in it", () => {
  const list = ops((s) => {
    s.hooks = { createRuntime: [{ path: "/bin/true" }], createContainer: [{ path: "/bin/false" }] };
  });
  const n = names(list);
  assert.ok(n.indexOf("sync") < n.indexOf("hook") && n.indexOf("hook") < n.indexOf("pivotRoot"));
});

test("mount options: flags, clears, propagation and data", () => {
  const p = parseMountOptions(["rbind", "ro", "rw", "nodev", "rslave", "mode=755", "size=1k"]);
  assert.equal(p.flags, MS.BIND | MS.REC | MS.NODEV);
  assert.deepEqual(p.propagation, [MS.SLAVE | MS.REC]);
  assert.equal(p.data, "mode=755,size=1k");
  assert.ok(p.bind && p.recursive);
});

test("without a mount namespace the root is chroot'ed and the host's propagation is left alone", () => {
  const list = ops((s) => {
    s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "mount");
    delete s.linux!.maskedPaths;
    delete s.linux!.readonlyPaths;
    s.root!.readonly = false;
  });
  assert.deepEqual(list[0], { op: "setRoot", path: "/b/rootfs" });
  assert.ok(!list.some((o) => o.op === "propagation" || o.op === "pivotRoot" || o.op === "mountHost"));
  assert.ok(list.some((o) => o.op === "chroot"));
});

test("the engine's root file system mount replaces the bind of root.path", () => {
  const spec = defaultSpec();
  const list = rootfsOps({
    spec,
    rootfs: "/run/berth/rootfs",
    bundle: "/b",
    namespaces: planNamespaces(spec.linux?.namespaces),
    cgroupMounts: [],
    host,
    rootfsMount: {
      type: "overlay",
      source: "overlay",
      options: ["lowerdir=l/A:l/B", "upperdir=/u", "workdir=/w"],
      cwd: "/snap",
    },
    ensureDirectories: ["/work/dir"],
  });
  assert.deepEqual(list.slice(1, 6), [
    { op: "chdir", path: "/snap" },
    {
      op: "mountHost",
      source: "overlay",
      target: "/run/berth/rootfs",
      fstype: "overlay",
      flags: 0,
      data: "lowerdir=l/A:l/B,upperdir=/u,workdir=/w",
    },
    { op: "chdir", path: "/" },
    { op: "setRoot", path: "/run/berth/rootfs" },
    { op: "mkdir", path: "/work/dir", mode: 0o755 },
  ]);
});
