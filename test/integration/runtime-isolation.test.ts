import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ok, RuntimeFixture } from "../helpers/runtime.js";

const rt = new RuntimeFixture();
after(() => rt.cleanup());

test("the container's process is PID 1 and sees none of the host's processes", () => {
  const r = ok(rt.run(["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"]));
  const [pid, count] = r.stdout.trim().split("\n");
  assert.equal(pid, "1");
  // sh itself, and ls and grep of the pipeline
  assert.ok(Number(count) <= 3, `saw ${count} processes`);
});

test("the container has its own hostname", () => {
  const r = ok(
    rt.run(["hostname"], (s) => {
      s.hostname = "inside-box";
    }),
  );
  assert.equal(r.stdout.trim(), "inside-box");
});

test("a new network namespace holds only the loopback interface, and it is up", () => {
  const r = ok(rt.run(["sh", "-c", "ls /sys/class/net; cat /sys/class/net/lo/flags"]));
  const [iface, flags] = r.stdout.trim().split("\n");
  assert.equal(iface, "lo");
  assert.equal(Number(flags) & 1, 1, "IFF_UP");
});

test("a mount made inside the container is invisible outside", () => {
  const bundle = rt.bundle(
    [
      "sh",
      "-c",
      "mount -t tmpfs scratch /tmp && touch /tmp/made-inside && grep -c scratch /proc/self/mountinfo",
    ],
    (s) => {
      for (const set of ["bounding", "effective", "permitted"] as const)
        s.process!.capabilities![set]!.push("CAP_SYS_ADMIN");
    },
  );
  const r = ok(rt.cli(["run", "--bundle", bundle, rt.id()]));
  assert.equal(r.stdout.trim(), "1");
  assert.equal(existsSync(join(bundle, "rootfs/tmp/made-inside")), false);
  assert.ok(!readFileSync("/proc/self/mountinfo", "utf8").includes(bundle));
});

test("uid 0 inside a user namespace is an unprivileged uid outside", () => {
  const r = ok(
    rt.run(["sh", "-c", "id -u; cat /proc/self/uid_map; grep '^Uid' /proc/self/status"], (s) => {
      s.linux!.namespaces!.push({ type: "user" });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    }),
  );
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines[0], "0");
  assert.match(lines[1]!, /^\s*0\s+200000\s+65536$/);
});

test("a user namespace process is a host uid from outside", async () => {
  const id = rt.id();
  const bundle = rt.bundle(["sleep", "30"], (s) => {
    s.linux!.namespaces!.push({ type: "user" });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  });
  ok(rt.cli(["create", "--bundle", bundle, id]));
  ok(rt.cli(["start", id]));
  const pid = JSON.parse(ok(rt.cli(["state", id])).stdout).pid as number;
  const uid = readFileSync(`/proc/${pid}/status`, "utf8").match(/^Uid:\s+(\d+)/m)?.[1];
  assert.equal(uid, "200000");
  ok(rt.cli(["delete", "--force", id]));
});

test("masked paths read as empty and read-only paths refuse writes", () => {
  // a masked file that this kernel has (not every kernel has /proc/kcore)
  const file = ["/proc/timer_list", "/proc/keys", "/proc/kcore"].find((p) => existsSync(p))!;
  const r = ok(
    rt.run([
      "sh",
      "-c",
      `wc -c < ${file}; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/printk 2>/dev/null && echo wrote || echo refused`,
    ]),
  );
  assert.deepEqual(r.stdout.trim().split("\n"), ["0", "0", "refused"]);
});

test("a read-only root refuses writes", () => {
  const r = rt.run(["touch", "/newfile"], (s) => {
    s.root!.readonly = true;
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /Read-only file system/);
});

test("a capability left out of the sets is really missing: mknod fails without CAP_MKNOD", () => {
  const without = rt.run(["mknod", "/tmp/null2", "c", "1", "3"]);
  assert.notEqual(without.status, 0);
  assert.match(without.stderr, /Operation not permitted/);
  const withCap = rt.run(["mknod", "/tmp/null2", "c", "1", "3"], (s) => {
    for (const set of ["bounding", "effective", "permitted"] as const)
      s.process!.capabilities![set]!.push("CAP_MKNOD");
  });
  assert.equal(withCap.status, 0, withCap.stderr);
});

test("the device cgroup denies devices the container was not given", () => {
  const r = rt.run(
    ["sh", "-c", "mknod /tmp/loop b 7 0 && head -c 1 /tmp/loop; echo exit=$?; head -c 1 /dev/zero | wc -c"],
    (s) => {
      for (const set of ["bounding", "effective", "permitted"] as const)
        s.process!.capabilities![set]!.push("CAP_MKNOD");
    },
  );
  assert.match(r.stderr, /Operation not permitted/);
  assert.deepEqual(r.stdout.trim().split("\n"), ["exit=1", "1"]);
});

test("linux.devices creates the nodes it lists", () => {
  const r = ok(
    rt.run(["sh", "-c", "ls -l /dev/fuse"], (s) => {
      s.linux!.devices = [
        { path: "/dev/fuse", type: "c", major: 10, minor: 229, fileMode: 0o640, uid: 0, gid: 0 },
      ];
    }),
  );
  assert.match(r.stdout, /^crw-r-----\s+1 root\s+root\s+10,\s+229 .*\/dev\/fuse/);
});

test("namespaced sysctls are set", () => {
  const r = ok(
    rt.run(["cat", "/proc/sys/net/ipv4/ip_forward"], (s) => {
      s.linux!.sysctl = { "net.ipv4.ip_forward": "1" };
    }),
  );
  assert.equal(r.stdout.trim(), "1");
});

test("rlimits apply, and a hard limit above the host's is a clear error when root cannot raise it", () => {
  const r = ok(
    rt.run(["sh", "-c", "ulimit -n; ulimit -Hn"], (s) => {
      s.process!.rlimits = [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }];
    }),
  );
  assert.deepEqual(r.stdout.trim().split("\n"), ["100", "200"]);
  const status = readFileSync("/proc/self/status", "utf8").match(/^CapEff:\s+([0-9a-f]+)/m)![1]!;
  if ((BigInt(`0x${status}`) & (1n << 24n)) === 0n) {
    const hard = readFileSync("/proc/self/limits", "utf8").match(/^Max processes\s+\S+\s+(\d+)/m)?.[1];
    if (hard) {
      const bad = rt.run(["true"], (s) => {
        s.process!.rlimits = [{ type: "RLIMIT_NPROC", soft: 10, hard: Number(hard) + 1 }];
      });
      assert.equal(bad.status, 1);
      assert.match(
        bad.stderr,
        /RLIMIT_NPROC hard limit \d+ is above this host's \d+, and raising it needs CAP_SYS_RESOURCE/,
      );
    }
  }
});

test("user, groups, cwd, environment and umask are the config's", () => {
  const r = ok(
    rt.run(["sh", "-c", "id; pwd; echo $GREETING; umask"], (s) => {
      s.process!.user = { uid: 1000, gid: 1001, additionalGids: [5, 7], umask: 0o027 };
      s.process!.cwd = "/tmp";
      s.process!.env!.push("GREETING=hello");
    }),
  );
  const [id, cwd, greeting, umask] = r.stdout.trim().split("\n");
  assert.match(id!, /^uid=1000 gid=1001 groups=5,7$/);
  assert.equal(cwd, "/tmp");
  assert.equal(greeting, "hello");
  assert.equal(umask, "0027");
});

test("a seccomp rule returns its configured errno, and the rest of the profile still allows", () => {
  const r = rt.run(["sh", "-c", "mkdir /tmp/denied; echo status=$?; echo still-running"], (s) => {
    s.linux!.seccomp = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 95 }],
    };
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /Operation not supported/);
  assert.deepEqual(r.stdout.trim().split("\n"), ["status=1", "still-running"]);
});

test("Docker's default seccomp profile denies what Docker denies", async () => {
  const { defaultSeccompProfile } = await import("../../src/oci/seccomp-default.js");
  const r = rt.run(["sh", "-c", "unshare -U true; echo unshare=$?; mkdir /tmp/ok && echo mkdir-ok"], (s) => {
    s.linux!.seccomp = defaultSeccompProfile(s.process!.capabilities!.bounding!);
  });
  assert.deepEqual(r.stdout.trim().split("\n"), ["unshare=1", "mkdir-ok"]);
});

test("namespaces given by path are joined, the mount namespace included", async () => {
  const holder = spawn("unshare", ["--uts", "--ipc", "--net", "--mount", "--fork", "sleep", "60"], {
    stdio: "ignore",
  });
  try {
    // the namespaces belong to unshare's child, the sleep
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 10));
      pid = Number(
        readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, "utf8").trim().split(" ")[0] || 0,
      );
    }
    const types = { uts: "uts", ipc: "ipc", network: "net", mount: "mnt" } as const;
    const r = ok(
      rt.run(["sh", "-c", "for n in uts ipc net mnt; do readlink /proc/self/ns/$n; done"], (s) => {
        s.linux!.namespaces = [
          { type: "pid" },
          ...Object.entries(types).map(([type, proc]) => ({
            type: type as "uts",
            path: `/proc/${pid}/ns/${proc}`,
          })),
        ];
        delete s.hostname;
      }),
    );
    const expected = Object.values(types).map((proc) => readlinkSync(`/proc/${pid}/ns/${proc}`));
    assert.deepEqual(r.stdout.trim().split("\n"), expected);
  } finally {
    holder.kill("SIGKILL");
  }
});

test("a container without a mount namespace is chroot'ed, and delete takes its mounts back", () => {
  const bundle = rt.bundle(
    ["sh", "-c", "ls /proc/self/fd >/dev/null && echo in-chroot; cat /etc/hostname"],
    (s) => {
      s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== "mount" && n.type !== "uts");
      delete s.linux!.maskedPaths;
      delete s.linux!.readonlyPaths;
      delete s.hostname;
    },
  );
  const r = ok(rt.cli(["run", "--bundle", bundle, rt.id()]));
  assert.deepEqual(r.stdout.trim().split("\n"), ["in-chroot", "busybox"]);
  assert.ok(
    !readFileSync("/proc/self/mountinfo", "utf8").includes(join(bundle, "rootfs")),
    "no mount left under the root",
  );
});
