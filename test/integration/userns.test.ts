/**
 * `berth serve --userns-remap default`, driven by the real docker CLI: container root is an
 * unprivileged range of host ids, files stay stored with the container's ids (layers, upper
 * directories, volumes, builds), host files are out of reach, `--userns=host` opts out, docker's
 * refusals, and the daemon leaves no idmapped mount behind.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DEFAULT_REMAP_USER } from "../../src/engine/userns-remap.js";
import { DaemonFixture, ok } from "../helpers/daemon.js";

const d = new DaemonFixture();
const hadUser = readFileSync("/etc/passwd", "utf8")
  .split("\n")
  .some((l) => l.startsWith(`${DEFAULT_REMAP_USER}:`));
const hadSubidFiles = ["/etc/subuid", "/etc/subgid"].filter((f) => existsSync(f));
let base = 0;

before(async () => {
  await d.importBusybox();
  await d.start(["--userns-remap", "default"]);
  const line = readFileSync("/etc/subuid", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${DEFAULT_REMAP_USER}:`));
  assert.ok(line, "the default remap user got a subordinate range");
  base = Number(line.split(":")[1]);
});
after(async () => {
  await d.cleanup();
  // Leave the host's accounts as they were (userdel drops the subordinate ranges too).
  if (!hadUser) spawnSync("userdel", [DEFAULT_REMAP_USER]);
  for (const f of ["/etc/subuid", "/etc/subgid"])
    if (!hadSubidFiles.includes(f) && readFileSync(f, "utf8").trim() === "") rmSync(f);
});

const mountsUnder = (dir: string) =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(dir));

test("info reports user namespaces; container root is the remapped range on the host", () => {
  assert.match(ok(d.docker(["info", "--format", "{{.SecurityOptions}}"])).stdout, /name=userns/);
  const r = ok(
    d.docker(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map"]),
  );
  const [uid, map] = r.stdout.trim().split("\n");
  assert.equal(uid, "0");
  assert.deepEqual(map!.trim().split(/\s+/), ["0", String(base), "65536"]);

  ok(d.docker(["run", "-d", "--name", "sleeper", "busybox", "sleep", "300"]));
  const pid = ok(d.docker(["inspect", "--format", "{{.State.Pid}}", "sleeper"])).stdout.trim();
  const uids = /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!.split(/\s+/);
  assert.deepEqual(uids, [String(base), String(base), String(base), String(base)]);
  // exec joins the same user namespace
  assert.equal(ok(d.docker(["exec", "-u", "1000", "sleeper", "id", "-u"])).stdout.trim(), "1000");
  // the container's /etc files are its root's to write, as with docker
  ok(d.docker(["exec", "sleeper", "sh", "-c", "echo 10.9.9.9 extra >> /etc/hosts"]));
  ok(d.docker(["rm", "-f", "sleeper"]));
});

test("files are stored with the container's ids: commit, cp and --userns=host see them unshifted", () => {
  ok(
    d.docker([
      "run",
      "--name",
      "writer",
      "--network",
      "none",
      "busybox",
      "sh",
      "-c",
      "stat -c %u:%g /bin/busybox && touch /new && mkdir /owned && chown 1000:1001 /owned",
    ]),
  );
  assert.equal(ok(d.docker(["logs", "writer"])).stdout.trim(), "0:0");
  ok(d.docker(["commit", "writer", "remapped:committed"]));
  const host = ok(
    d.docker([
      "run",
      "--rm",
      "--userns",
      "host",
      "--network",
      "none",
      "remapped:committed",
      "sh",
      "-c",
      "cat /proc/self/uid_map; stat -c %u:%g /new /owned",
    ]),
  ).stdout.trim();
  const [map, ...owners] = host.split("\n");
  assert.deepEqual(map!.trim().split(/\s+/), ["0", "0", "4294967295"]);
  assert.deepEqual(owners, ["0:0", "1000:1001"]);
  const tar = spawnSync("sh", ["-c", "docker cp writer:/owned - | tar -tvf -"], {
    encoding: "utf8",
    env: { ...process.env, DOCKER_HOST: `unix://${d.socket}` },
  });
  assert.equal(tar.status, 0, tar.stderr);
  assert.match(tar.stdout, /^d\S+ 1000\/1001 /);
  ok(d.docker(["rm", "writer"]));
});

test("a named volume is filled and written with the container's ids", () => {
  ok(
    d.docker([
      "run",
      "--rm",
      "--network",
      "none",
      "-v",
      "remapvol:/etc",
      "busybox",
      "sh",
      "-c",
      "touch /etc/made && chown 7:8 /etc/made",
    ]),
  );
  const mountpoint = ok(
    d.docker(["volume", "inspect", "--format", "{{.Mountpoint}}", "remapvol"]),
  ).stdout.trim();
  const made = statSync(join(mountpoint, "made"));
  assert.deepEqual([made.uid, made.gid], [7, 8]);
  // the copy of the image's /etc kept its owners too
  assert.equal(statSync(join(mountpoint, "passwd")).uid, 0);
  ok(d.docker(["volume", "rm", "remapvol"]));
});

test("the host's root-owned files are nobody's in a remapped container, and read-only to it", () => {
  const dir = mkdtempSync("/var/tmp/berth-userns-bind-");
  try {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "secret"), "host\n");
    chmodSync(join(dir, "secret"), 0o644);
    const r = d.docker([
      "run",
      "--rm",
      "--network",
      "none",
      "-v",
      `${dir}:/host`,
      "busybox",
      "sh",
      "-c",
      "stat -c %u /host/secret; cat /host/secret; echo x >> /host/secret",
    ]);
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, "65534\nhost\n");
    assert.match(r.stderr, /Permission denied/);
    assert.equal(readFileSync(join(dir, "secret"), "utf8"), "host\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a container on the default bridge runs remapped", () => {
  const r = ok(
    d.docker(["run", "--rm", "busybox", "sh", "-c", "cat /proc/self/uid_map; ip -o -4 addr show eth0"]),
  );
  assert.match(r.stdout, new RegExp(`^\\s*0\\s+${base}\\s+65536$`, "m"));
  assert.match(r.stdout, /inet \d+\.\d+\.\d+\.\d+\//);
});

test("a build's RUN steps run remapped and commit the container's ids", () => {
  const ctx = mkdtempSync("/var/tmp/berth-userns-build-");
  try {
    writeFileSync(
      join(ctx, "Dockerfile"),
      "FROM busybox\nRUN cat /proc/self/uid_map > /map && touch /x && chown 5:6 /x\n",
    );
    ok(d.docker(["build", "-q", "-t", "remapped:built", ctx]));
    const out = ok(
      d.docker([
        "run",
        "--rm",
        "--userns",
        "host",
        "--network",
        "none",
        "remapped:built",
        "sh",
        "-c",
        "cat /map; stat -c %u:%g /x",
      ]),
    ).stdout;
    assert.match(out, new RegExp(`^\\s*0\\s+${base}\\s+65536$`, "m"));
    assert.match(out, /^5:6$/m);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
});

test("docker's refusals: privileged, host network and host pid need --userns=host", () => {
  for (const [flags, message] of [
    [["--privileged"], /privileged mode is incompatible with user namespaces/],
    [["--network", "host"], /cannot share the host's network namespace when user namespaces are enabled/],
    [["--pid", "host"], /cannot share the host PID namespace when user namespaces are enabled/],
  ] as const) {
    const r = d.docker(["run", "--rm", ...flags, "busybox", "true"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
  }
  assert.equal(ok(d.docker(["ps", "-aq"])).stdout.trim(), "");
  ok(d.docker(["run", "--rm", "--userns", "host", "--privileged", "--network", "host", "busybox", "true"]));
});

test("bad --userns-remap values stop the daemon with a message and mount nothing", async () => {
  for (const [value, message] of [
    ["no-such-user-here", /no user "no-such-user-here" in \/etc\/passwd/],
    ["a:b:c", /expected default, USER or USER:GROUP/],
    ["nobody", /no subordinate ids for "nobody" in \/etc\/subuid/],
  ] as const) {
    const bad = new DaemonFixture();
    try {
      await assert.rejects(bad.start(["--userns-remap", value]), message);
      assert.deepEqual(mountsUnder(bad.runRoot), []);
    } finally {
      rmSync(bad.root, { recursive: true, force: true });
      rmSync(bad.runRoot, { recursive: true, force: true });
    }
  }
});

test("stopping the daemon detaches its idmapped views; running containers keep their files", async () => {
  ok(d.docker(["run", "-d", "--name", "survivor", "--network", "none", "busybox", "sleep", "300"]));
  assert.equal(mountsUnder(join(d.runRoot, "userns")).length, 2);
  await d.stop();
  assert.deepEqual(mountsUnder(join(d.runRoot, "userns")), []);
  await d.start(["--userns-remap", "default"]);
  assert.equal(mountsUnder(join(d.runRoot, "userns")).length, 2);
  assert.equal(ok(d.docker(["exec", "survivor", "stat", "-c", "%u", "/bin/busybox"])).stdout.trim(), "0");
  ok(d.docker(["rm", "-f", "survivor"]));
});
