/**
 * Managed plugins with the real docker CLI against `berth serve`: a volume plugin (node and a
 * small docker.volumedriver/1.0 server, test/helpers/volume-plugin.ts) created from a directory,
 * listed, set, enabled; its volumes shared by containers and visible under its propagated
 * mount; pushed to a local registry, removed and installed back; stopped and started with the
 * daemon. Then bad input, one kind per test: each refused with a clear error, nothing changed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { startRegistry, type TestRegistry } from "../helpers/registry.js";
import { dir, file, symlink, tarBuffer } from "../helpers/tar.js";
import { PLUGIN_SOCKET, writeVolumePlugin } from "../helpers/volume-plugin.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
const work = mkdtempSync("/var/tmp/berth-plugin-test-");
const pluginDir = join(work, "vd");
let registry: TestRegistry;
/** The plugin's name: its registry's, so that it can be pushed as it is. */
let NAME = "";
let FULL = "";
const NONE = ["--network", "none"];

const docker = (args: string[]) => d.docker(args, { timeout: 120_000 });

function failed(r: { status: number; stderr: string }, pattern: RegExp): void {
  assert.notEqual(r.status, 0, "the command should have failed");
  assert.match(r.stderr, pattern);
}

/** The actions of the `plugin` events the daemon has seen since it started. */
const pluginEvents = () =>
  ok(
    docker([
      "events",
      "--since",
      "0",
      "--until",
      String(Math.ceil(Date.now() / 1000) + 1),
      "--filter",
      "type=plugin",
      "--format",
      "{{.Action}}",
    ]),
  ).stdout.split("\n");

const pluginId = () => ok(docker(["plugin", "inspect", "-f", "{{.Id}}", NAME])).stdout.trim();
const propagated = () => join(d.root, "plugins", pluginId(), "propagated-mount");
const pluginProcesses = () => {
  try {
    return execFileSync("pgrep", ["-f", "^/node /server.js"], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
  } catch {
    return [];
  }
};
const mountsUnder = (path: string) =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(path));

/** What the plugin store holds, to check that a refused request changed nothing. */
function storeState(): string {
  const plugins = join(d.root, "plugins");
  const list = (p: string) => (existsSync(p) ? readdirSync(p).sort() : []);
  return JSON.stringify({
    ids: list(plugins),
    tmp: list(join(plugins, "tmp")),
    blobs: list(join(plugins, "storage", "blobs", "sha256")),
    ls: ok(docker(["plugin", "ls", "-q", "--no-trunc"])).stdout,
  });
}

before(async () => {
  await d.importBusybox();
  await d.start();
  registry = await startRegistry();
  NAME = `${registry.host}/berth-test/vd`;
  FULL = `${NAME}:latest`;
  writeVolumePlugin(pluginDir);
});

after(async () => {
  for (const name of ok(docker(["plugin", "ls", "-q"]))
    .stdout.split("\n")
    .filter(Boolean))
    docker(["plugin", "rm", "-f", name]);
  for (const v of ok(docker(["volume", "ls", "-q"]))
    .stdout.split("\n")
    .filter(Boolean))
    docker(["volume", "rm", "-f", v]);
  await registry?.stop();
  await d.cleanup();
  rmSync(work, { recursive: true, force: true });
});

test("a plugin is created from a directory, and listed and inspected as docker shows it", () => {
  assert.equal(ok(docker(["plugin", "create", NAME, pluginDir])).stdout, `${NAME}\n`);
  const ls = ok(docker(["plugin", "ls"])).stdout.split("\n");
  assert.match(ls[0]!, /^ID\s+NAME\s+DESCRIPTION\s+ENABLED$/);
  assert.match(
    ls[1]!,
    new RegExp(`^[0-9a-f]{12}\\s+${FULL.replace(/[.:/]/g, "\\$&")}\\s+Berth's test volume plugin\\s+false$`),
  );
  const berthLs = ok(d.berth(["plugin", "ls"]), "berth").stdout;
  assert.equal(berthLs, ok(docker(["plugin", "ls"])).stdout, "berth's columns are docker's");
  const shown = JSON.parse(ok(docker(["plugin", "inspect", NAME])).stdout)[0];
  assert.deepEqual(JSON.parse(ok(d.berth(["plugin", "inspect", NAME]), "berth").stdout)[0], shown);
  assert.equal(shown.Name, FULL);
  assert.equal(shown.Enabled, false);
  assert.equal(shown.PluginReference, FULL);
  assert.deepEqual(shown.Config.Entrypoint, ["/node", "/server.js"]);
  assert.deepEqual(shown.Config.Interface.Types, ["docker.volumedriver/1.0"]);
  assert.deepEqual(shown.Settings.Env, ["SILENT=0"]);
  assert.match(shown.Config.rootfs.diff_ids[0], /^sha256:[0-9a-f]{64}$/);
  assert.equal(
    ok(docker(["plugin", "ls", "-q", "--filter", "capability=volumedriver"])).stdout.trim(),
    pluginId().slice(0, 12),
  );
  assert.equal(ok(docker(["plugin", "ls", "-q", "--filter", "enabled=true"])).stdout, "");
  assert.equal(
    ok(docker(["plugin", "inspect", "-f", "{{.Name}}", pluginId().slice(0, 8)])).stdout,
    `${FULL}\n`,
  );
});

test("set changes what the config marks settable; any other field is refused and nothing changes", () => {
  ok(docker(["plugin", "set", NAME, "SILENT=0"]));
  failed(docker(["plugin", "set", NAME, "SILENT.source=/x"]), /"SILENT\.source" is not settable/);
  failed(
    docker(["plugin", "set", NAME, "SILENT=1", "DEBUG=1"]),
    /setting "DEBUG" not found in the plugin configuration/,
  );
  assert.equal(
    ok(docker(["plugin", "inspect", "-f", "{{json .Settings.Env}}", NAME])).stdout,
    '["SILENT=0"]\n',
  );
});

test("enable runs the plugin and its socket appears on the host; enabling twice is a conflict", async () => {
  assert.equal(ok(docker(["plugin", "enable", NAME])).stdout, `${NAME}\n`);
  assert.equal(ok(docker(["plugin", "inspect", "-f", "{{.Enabled}}", NAME])).stdout, "true\n");
  assert.ok(
    existsSync(join(d.runRoot, "plugins", pluginId(), PLUGIN_SOCKET)),
    "the socket is in <exec-root>/plugins/<id>/",
  );
  assert.equal(pluginProcesses().length, 1);
  failed(
    docker(["plugin", "enable", NAME]),
    new RegExp(`plugin already enabled: plugin ${FULL.replace(/[.]/g, "\\.")} is enabled`),
  );
  assert.equal((await d.api("POST", `/plugins/${FULL}/enable?timeout=0`)).status, 409);
  assert.equal(pluginProcesses().length, 1, "a second enable starts nothing");
});

test("a volume of the plugin keeps what one container wrote for the next, under its propagated mount", () => {
  assert.equal(ok(docker(["volume", "create", "-d", NAME, "shared"])).stdout, "shared\n");
  const volume = JSON.parse(ok(docker(["volume", "inspect", "shared"])).stdout)[0];
  assert.equal(volume.Driver, FULL);
  assert.equal(volume.Mountpoint, join(propagated(), "volumes", "shared"));
  assert.deepEqual(volume.Status, { served: "by node" });
  ok(
    docker([
      "run",
      "--rm",
      ...NONE,
      "-v",
      "shared:/data",
      "busybox",
      "sh",
      "-c",
      "echo from-one > /data/file",
    ]),
  );
  const read = ok(
    docker([
      "run",
      "--rm",
      ...NONE,
      "--mount",
      `type=volume,src=shared,dst=/data,volume-driver=${NAME}`,
      "busybox",
      "cat",
      "/data/file",
    ]),
  );
  assert.equal(read.stdout, "from-one\n");
  assert.equal(readFileSync(join(propagated(), "volumes", "shared", "file"), "utf8"), "from-one\n");
  // --volume-driver makes a new named volume with the plugin.
  ok(
    docker(["run", "--rm", ...NONE, "--volume-driver", NAME, "-v", "second:/d", "busybox", "touch", "/d/x"]),
  );
  assert.equal(ok(docker(["volume", "inspect", "-f", "{{.Driver}}", "second"])).stdout, `${FULL}\n`);
  assert.ok(existsSync(join(propagated(), "volumes", "second", "x")));
  // Every Mount had its id, and the same id came back in one Unmount.
  const calls = readFileSync(join(propagated(), "calls.log"), "utf8").trim().split("\n");
  const mounts = calls.filter((c) => c.startsWith("Mount ")).map((c) => c.slice("Mount ".length));
  const unmounts = calls.filter((c) => c.startsWith("Unmount ")).map((c) => c.slice("Unmount ".length));
  assert.equal(mounts.length, 3);
  assert.deepEqual([...unmounts].sort(), [...mounts].sort());
  assert.equal(new Set(mounts).size, 3, "an id per container use");
  assert.deepEqual(mountsUnder(join(d.runRoot, "volumes")), [], "no bind stays after the containers");
  const listed = ok(docker(["volume", "ls", "--filter", `driver=${FULL}`, "-q"]))
    .stdout.split("\n")
    .filter(Boolean);
  assert.deepEqual(listed.sort(), ["second", "shared"]);
});

test("a Mountpoint answer that escapes the plugin's tree is refused: the container does not start", () => {
  ok(docker(["volume", "create", "-d", NAME, "escape-one"]));
  failed(
    docker(["run", "--name", "escaper", ...NONE, "-v", "escape-one:/d", "busybox", "true"]),
    /VolumeDriver\.Mount: the plugin answered the mountpoint "\/data\/\.\.\/\.\.\/etc", which climbs with "\.\."/,
  );
  assert.notEqual(ok(docker(["inspect", "-f", "{{.State.Status}}", "escaper"])).stdout, "running\n");
  const calls = readFileSync(join(propagated(), "calls.log"), "utf8");
  const id = /Mount escape-one (\w+)/.exec(calls)?.[1];
  assert.ok(id && calls.includes(`Unmount escape-one ${id}`), "the refused Mount was mirrored by an Unmount");
  assert.deepEqual(mountsUnder(join(d.runRoot, "volumes")), []);
  ok(docker(["rm", "escaper"]));
  ok(docker(["volume", "rm", "escape-one"]));
});

test("disable and rm refuse a plugin in use or enabled without force; a disabled plugin's volumes say so", async () => {
  failed(docker(["plugin", "disable", NAME]), new RegExp(`plugin ${FULL.replace(/[.]/g, "\\.")} is in use`));
  failed(docker(["plugin", "rm", NAME]), /is in use/);
  ok(docker(["volume", "rm", "second"]));
  ok(docker(["plugin", "disable", "-f", NAME]));
  assert.deepEqual(pluginProcesses(), [], "disable ended the plugin's process");
  assert.deepEqual(mountsUnder(join(d.root, "plugins")), [], "and its propagated mount");
  failed(
    docker(["run", "--rm", ...NONE, "-v", "shared:/d", "busybox", "true"]),
    /error looking up volume plugin .*found but disabled/,
  );
  failed(docker(["volume", "create", "-d", NAME, "third"]), /found but disabled/);
  failed(docker(["plugin", "disable", NAME]), /plugin is already disabled: plugin .* found but disabled/);
  assert.equal((await d.api("POST", `/plugins/${FULL}/disable`)).status, 409);
  ok(docker(["plugin", "enable", NAME]));
  failed(
    docker(["plugin", "set", NAME, "SILENT=1"]),
    /cannot set on an active plugin, disable plugin before setting/,
  );
  ok(docker(["volume", "rm", "shared"]));
  failed(docker(["plugin", "rm", NAME]), new RegExp(`plugin ${FULL.replace(/[.]/g, "\\.")} is enabled`));
  assert.equal((await d.api("DELETE", `/plugins/${FULL}`)).status, 409);
  assert.equal(ok(docker(["plugin", "inspect", "-f", "{{.Enabled}}", NAME])).stdout, "true\n");
  failed(docker(["volume", "create", "-d", "no-such-plugin", "x"]), /plugin "no-such-plugin" not found/);
  assert.equal(
    (
      await d.api("POST", "/volumes/create", JSON.stringify({ Name: "x", Driver: "nope" }), {
        "Content-Type": "application/json",
      })
    ).status,
    404,
  );
});

test("the plugin stops with the daemon and starts again with it", async () => {
  const events = pluginEvents();
  for (const action of ["create", "enable", "disable"])
    assert.ok(events.includes(action), `a ${action} event`);
  await d.stop();
  assert.deepEqual(pluginProcesses(), [], "no plugin process outlives the daemon");
  assert.deepEqual(mountsUnder(join(d.root, "plugins")), []);
  await d.start();
  assert.equal(ok(docker(["plugin", "inspect", "-f", "{{.Enabled}}", NAME])).stdout, "true\n");
  await until("the plugin's socket", () => existsSync(join(d.runRoot, "plugins", pluginId(), PLUGIN_SOCKET)));
  ok(docker(["volume", "create", "-d", NAME, "after-restart"]));
  ok(docker(["run", "--rm", ...NONE, "-v", "after-restart:/d", "busybox", "touch", "/d/ok"]));
  ok(docker(["volume", "rm", "after-restart"]));
});

test("after a daemon crash the plugin it left is ended and started afresh; a container keeps its volume", async () => {
  ok(docker(["volume", "create", "-d", NAME, "through-crash"]));
  ok(
    docker([
      "run",
      "-d",
      "--name",
      "survivor",
      ...NONE,
      "-v",
      "through-crash:/d",
      "busybox",
      "sh",
      "-c",
      "echo before > /d/f; exec sleep 600",
    ]),
  );
  const before = pluginProcesses();
  assert.equal(before.length, 1);
  await d.crash();
  assert.deepEqual(pluginProcesses(), before, "the plugin ran on without the daemon");
  await d.start();
  await until("the plugin's socket", () => existsSync(join(d.runRoot, "plugins", pluginId(), PLUGIN_SOCKET)));
  const after = pluginProcesses();
  assert.equal(after.length, 1, "one plugin process");
  assert.notDeepEqual(after, before, "the one the crash left was ended, a new one started");
  assert.equal(ok(docker(["exec", "survivor", "cat", "/d/f"])).stdout, "before\n");
  ok(docker(["rm", "-f", "survivor"]));
  const calls = readFileSync(join(propagated(), "calls.log"), "utf8");
  const id = /Mount through-crash (\w+)/.exec(calls)?.[1];
  assert.ok(
    id && calls.includes(`Unmount through-crash ${id}`),
    "the Mount from before the crash was mirrored after it",
  );
  assert.deepEqual(mountsUnder(join(d.runRoot, "volumes")), []);
  ok(docker(["volume", "rm", "through-crash"]));
});

test("push to a registry, rm, and install back with --grant-all-permissions", () => {
  const pushed = ok(docker(["plugin", "push", NAME])).stdout;
  assert.match(pushed, /latest: digest: sha256:[0-9a-f]{64} size: \d+/);
  const id = pluginId();
  ok(docker(["plugin", "rm", "-f", NAME]));
  assert.equal(ok(docker(["plugin", "ls", "-q"])).stdout, "");
  assert.ok(!existsSync(join(d.root, "plugins", id)), "rm took the plugin's directory");
  const installed = ok(docker(["plugin", "install", "--grant-all-permissions", NAME]));
  assert.match(installed.stdout, new RegExp(`Installed plugin ${NAME.replace(/[.]/g, "\\.")}`));
  const shown = JSON.parse(ok(docker(["plugin", "inspect", NAME])).stdout)[0];
  assert.equal(shown.Enabled, true);
  assert.equal(shown.PluginReference, FULL);
  assert.notEqual(shown.Id, id);
  ok(docker(["volume", "create", "-d", NAME, "installed"]));
  ok(docker(["run", "--rm", ...NONE, "-v", "installed:/d", "busybox", "sh", "-c", "echo back > /d/f"]));
  assert.equal(readFileSync(join(propagated(), "volumes", "installed", "f"), "utf8"), "back\n");
  ok(docker(["volume", "rm", "installed"]));
  const events = pluginEvents();
  for (const action of ["remove", "install", "enable"])
    assert.ok(events.includes(action), `a ${action} event`);
  // A grant that is not what the plugin asks for is refused.
  const wrong = JSON.stringify([{ Name: "network", Description: "", Value: ["host"] }]);
  return d
    .api("POST", `/plugins/pull?remote=${encodeURIComponent(NAME)}&name=other`, wrong, {
      "Content-Type": "application/json",
    })
    .then((r) => {
      assert.equal(r.status, 400);
      assert.match(r.body.toString(), /incorrect privileges/);
      assert.doesNotMatch(ok(docker(["plugin", "ls"])).stdout, /other/);
    });
});

test("enable of a plugin whose socket never appears fails after its timeout, and leaves nothing running", () => {
  ok(docker(["plugin", "disable", NAME]));
  ok(docker(["plugin", "set", NAME, "SILENT=1"]));
  const r = d.berth(["plugin", "enable", "--timeout", "2", NAME]);
  failed(r, /did not listen on \/run\/docker\/plugins\/vd\.sock within 2s: it was stopped/);
  assert.equal(ok(docker(["plugin", "inspect", "-f", "{{.Enabled}}", NAME])).stdout, "false\n");
  assert.deepEqual(pluginProcesses(), []);
  assert.deepEqual(mountsUnder(join(d.root, "plugins")), []);
  assert.ok(!existsSync(join(d.runRoot, "plugins", pluginId())), "its socket directory went too");
  ok(docker(["plugin", "set", NAME, "SILENT=0"]));
});

const CONFIG = JSON.stringify({
  Entrypoint: ["/p"],
  Interface: { Types: ["docker.volumedriver/1.0"], Socket: "p.sock" },
});

async function createRaw(name: string, body: Buffer): Promise<{ status: number; message: string }> {
  const r = await d.api("POST", `/plugins/create?name=${name}`, body, {
    "Content-Type": "application/x-tar",
  });
  return {
    status: r.status,
    message: r.body.length ? (JSON.parse(r.body.toString()) as { message: string }).message : "",
  };
}

async function refusedContext(entries: Parameters<typeof tarBuffer>[0], pattern: RegExp): Promise<void> {
  const before = storeState();
  const r = await createRaw("bad/context", await tarBuffer(entries));
  assert.equal(r.status, 400, r.message);
  assert.match(r.message, pattern);
  assert.equal(storeState(), before, "nothing changed");
}

test("a context with a ../ entry is refused", async () => {
  await refusedContext(
    [file("config.json", CONFIG), dir("rootfs"), file("rootfs/../../escaped", "x")],
    /climbs out of the layer with "\.\."/,
  );
  await refusedContext([file("config.json", CONFIG), dir("rootfs"), file("../escaped", "x")], /climbs out/);
  assert.ok(!existsSync(join(d.root, "escaped")) && !existsSync(join(d.root, "plugins", "escaped")));
});

test("a context whose absolute symlink would lead a later entry out is refused", async () => {
  await refusedContext(
    [
      file("config.json", CONFIG),
      dir("rootfs"),
      symlink("rootfs/etc", "/etc"),
      file("rootfs/etc/berth-pwned", "x"),
    ],
    /goes through the symlink "etc"/,
  );
  assert.ok(!existsSync("/etc/berth-pwned"));
});

test("a context with a device node is refused", async () => {
  await refusedContext(
    [
      file("config.json", CONFIG),
      dir("rootfs"),
      { header: { name: "rootfs/sda", type: "block", mode: 0o600, devmajor: 8, devminor: 0 } },
    ],
    /is a device node/,
  );
});

test("a context without config.json is refused", async () => {
  await refusedContext([dir("rootfs"), file("rootfs/p", "x")], /the plugin context has no config\.json/);
});

test("a config with an unknown interface type is refused", () => {
  const bad = join(work, "bad-type");
  mkdirSync(join(bad, "rootfs"), { recursive: true });
  writeFileSync(
    join(bad, "config.json"),
    JSON.stringify({ Entrypoint: ["/p"], Interface: { Types: ["docker.teleport/1.0"], Socket: "p.sock" } }),
  );
  const before = storeState();
  failed(
    docker(["plugin", "create", "bad/type", bad]),
    /invalid plugin config: Interface\.Types\[0\]: unknown interface type "docker\.teleport\/1\.0"/,
  );
  assert.equal(storeState(), before);
});

test("a config whose socket name is a path is refused", () => {
  const bad = join(work, "bad-socket");
  mkdirSync(join(bad, "rootfs"), { recursive: true });
  writeFileSync(
    join(bad, "config.json"),
    JSON.stringify({
      Entrypoint: ["/p"],
      Interface: { Types: ["docker.volumedriver/1.0"], Socket: "../../berth.sock" },
    }),
  );
  const before = storeState();
  failed(
    docker(["plugin", "create", "bad/socket", bad]),
    /Interface\.Socket: "\.\.\/\.\.\/berth\.sock" must be a file name/,
  );
  assert.equal(storeState(), before);
});

test("a name that is taken, and one that is no reference, are refused", async () => {
  const before = storeState();
  const taken = await createRaw(
    encodeURIComponent(NAME),
    await tarBuffer([file("config.json", CONFIG), dir("rootfs")]),
  );
  assert.equal(taken.status, 409);
  assert.match(taken.message, /already exists/);
  const badName = await createRaw(
    "Not..A/Name",
    await tarBuffer([file("config.json", CONFIG), dir("rootfs")]),
  );
  assert.equal(badName.status, 400);
  assert.equal(storeState(), before);
  const missing = await d.api("GET", "/plugins/no-such/json");
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.body.toString()).message, 'plugin "no-such" not found');
});
