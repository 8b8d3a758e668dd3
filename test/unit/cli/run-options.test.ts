import assert from "node:assert/strict";
import { test } from "node:test";
import { parseArgs } from "../../../src/cli/args.js";
import {
  createBody,
  parseMount,
  parsePublish,
  parseUlimit,
  RUN_OPTIONS,
} from "../../../src/cli/berth/run-options.js";

const body = (argv: string[]) => {
  const { options, args } = parseArgs(argv, RUN_OPTIONS);
  return createBody(options, args[0]!, args.slice(1));
};

test("run flags become docker's create body", () => {
  const b = body([
    "-d",
    "--name",
    "web",
    "-e",
    "A=1",
    "-w",
    "/srv",
    "-u",
    "1000",
    "--memory",
    "256m",
    "--memory-swap",
    "-1",
    "--cpus",
    "1.5",
    "--pids-limit",
    "50",
    "--restart",
    "on-failure:3",
    "-l",
    "tier=front",
    "-l",
    "solo",
    "--cap-drop",
    "NET_RAW",
    "--read-only",
    "--tmpfs",
    "/run:size=1m",
    "--health-cmd",
    "true",
    "--health-interval",
    "1m30s",
    "--stop-timeout",
    "5",
    "busybox",
    "sleep",
    "9",
  ]);
  assert.equal(b.Image, "busybox");
  assert.deepEqual(b.Cmd, ["sleep", "9"]);
  assert.deepEqual(b.Env, ["A=1"]);
  assert.equal(b.WorkingDir, "/srv");
  assert.equal(b.User, "1000");
  assert.deepEqual(b.Labels, { tier: "front", solo: "" });
  assert.equal(b.AttachStdout, false, "detached: nothing attached");
  assert.equal(b.StopTimeout, 5);
  assert.deepEqual(b.Healthcheck, { Test: ["CMD-SHELL", "true"], Interval: 90e9 });
  const hc = b.HostConfig!;
  assert.equal(hc.Memory, 256 * 1024 * 1024);
  assert.equal(hc.MemorySwap, -1);
  assert.equal(hc.NanoCpus, 1.5e9);
  assert.equal(hc.PidsLimit, 50);
  assert.deepEqual(hc.RestartPolicy, { Name: "on-failure", MaximumRetryCount: 3 });
  assert.deepEqual(hc.CapDrop, ["NET_RAW"]);
  assert.equal(hc.ReadonlyRootfs, true);
  assert.deepEqual(hc.Tmpfs, { "/run": "size=1m" });
});

test("-it attaches stdin and allocates a tty; --network NAME with --ip and --network-alias", () => {
  const b = body(["-it", "--network", "app", "--ip", "10.93.0.9", "--network-alias", "db", "busybox"]);
  assert.equal(b.Tty, true);
  assert.equal(b.OpenStdin, true);
  assert.equal(b.AttachStdin, true);
  assert.equal(b.HostConfig!.NetworkMode, "app");
  assert.deepEqual(b.NetworkingConfig, {
    EndpointsConfig: { app: { IPAMConfig: { IPv4Address: "10.93.0.9" }, Aliases: ["db"] } },
  });
  assert.throws(() => body(["--ip", "10.0.0.2", "busybox"]), /need a user-defined network/);
});

test("published ports: host address, ranges, protocols; bad ones refused", () => {
  const { exposed, bindings } = parsePublish(["127.0.0.1:8080:80", "9000-9001:7000-7001/udp", "53"]);
  assert.deepEqual(Object.keys(exposed).sort(), ["53/tcp", "7000/udp", "7001/udp", "80/tcp"]);
  assert.deepEqual(bindings["80/tcp"], [{ HostIp: "127.0.0.1", HostPort: "8080" }]);
  assert.deepEqual(bindings["7001/udp"], [{ HostIp: "", HostPort: "9001" }]);
  assert.deepEqual(bindings["53/tcp"], [{ HostIp: "", HostPort: "" }]);
  assert.throws(() => parsePublish(["80/icmp"]), /invalid proto/);
  assert.throws(() => parsePublish(["70000:80"]), /invalid port format/);
  assert.throws(() => parsePublish(["1-3:1-2"]), /invalid ranges/);
});

test("--mount and --ulimit parse as docker does, with docker's errors", () => {
  assert.deepEqual(parseMount("type=bind,source=/a,target=/b,readonly"), {
    Type: "bind",
    Source: "/a",
    Target: "/b",
    ReadOnly: true,
  });
  assert.deepEqual(parseMount("type=tmpfs,dst=/t,tmpfs-size=1m").TmpfsOptions, { SizeBytes: 1024 * 1024 });
  assert.throws(() => parseMount("type=nfs,target=/x"), /unknown mount type "nfs"/);
  assert.throws(() => parseMount("type=bind,source=/a"), /target is required/);
  assert.throws(() => parseMount("type=bind,colour=red,target=/x"), /unexpected key 'colour'/);
  assert.deepEqual(parseUlimit("nofile=512:1024"), { Name: "nofile", Soft: 512, Hard: 1024 });
  assert.throws(() => parseUlimit("nofile=9:1"), /soft limit 9 is above hard limit 1/);
  assert.throws(() => parseUlimit("nofile"), /NAME=SOFT\[:HARD\]/);
});

test("bad values for resource flags are refused with the flag named", () => {
  assert.throws(() => body(["--memory", "lots", "busybox"]), /invalid memory: 'lots'/);
  assert.throws(() => body(["--memory-swap", "1g", "busybox"]), /always set the Memory limit/);
  assert.throws(() => body(["--restart", "sometimes", "busybox"]), /invalid restart policy format/);
  assert.throws(
    () => body(["--restart", "always:3", "busybox"]),
    /maximum retry count can only be used with 'on-failure'/,
  );
  assert.throws(() => body(["--pids-limit", "many", "busybox"]), /--pids-limit/);
  assert.throws(() => body(["--sysctl", "novalue", "busybox"]), /expected KEY=VALUE/);
  assert.throws(() => body(["-d", "-a", "stdout", "busybox"]), /Conflicting options: -a and -d/);
  assert.throws(() => body(["--log-driver", "syslog", "busybox"]), /no log driver named 'syslog'/);
});
