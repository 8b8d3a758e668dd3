/**
 * The second compatibility pass: what clients no one here wrote (docker-py's suite, the docker
 * CLI) expect of the API, each behaviour checked as such a client sees it, through raw requests
 * or the docker CLI: no swarm answers, kill, exec starts and failures, the classic builder's
 * stream and options, legacy links, endpoint settings, archives of stopped containers' volumes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { BERTH, DaemonFixture, ok } from "../helpers/daemon.js";
import { file, tarBuffer } from "../helpers/tar.js";

const d = new DaemonFixture();
before(async () => {
  await d.importBusybox();
  await d.start();
});
after(() => d.cleanup());

const docker = (args: string[], input?: string) => d.docker(args, input === undefined ? {} : { input });
const NONE = ["--network", "none"];
const json = (body: unknown) => JSON.stringify(body);
const JSON_HEADERS = { "Content-Type": "application/json" };

async function call(method: string, path: string, body?: unknown) {
  const r = await d.api(method, `/v1.41${path}`, body === undefined ? undefined : json(body), JSON_HEADERS);
  const text = r.body.toString();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: r.status, body: parsed as Record<string, unknown> & { message?: string }, raw: r.body };
}

test("without a swarm, swarm endpoints answer dockerd's 503s, and info says inactive", async () => {
  const notManager = /^This node is not a swarm manager\. Use "docker swarm init"/;
  for (const path of [
    "/swarm",
    "/nodes",
    "/services",
    "/tasks",
    "/secrets",
    "/configs",
    "/swarm/unlockkey",
  ]) {
    const r = await call("GET", path);
    assert.equal(r.status, 503, path);
    assert.match(r.body.message!, notManager, path);
  }
  const leave = await call("POST", "/swarm/leave?force=1");
  assert.deepEqual([leave.status, leave.body.message], [503, "This node is not part of a swarm"]);
  assert.equal((await call("POST", "/services/x/update")).status, 400, "the version is checked first");
  assert.equal((await call("GET", "/services/x/logs")).status, 500, "a stream must be chosen first");
  const info = await call("GET", "/info");
  assert.equal((info.body["Swarm"] as { LocalNodeState: string }).LocalNodeState, "inactive");
  assert.match(docker(["node", "ls"]).stderr, /This node is not a swarm manager/);
});

test("kill returns once the container is seen to have exited", async () => {
  ok(docker(["run", "-d", "--name", "killed", ...NONE, "busybox", "sleep", "600"]));
  assert.equal((await call("POST", "/containers/killed/kill")).status, 204);
  const state = (await call("GET", "/containers/killed/json")).body["State"] as {
    Status: string;
    ExitCode: number;
  };
  assert.deepEqual([state.Status, state.ExitCode], ["exited", 137]);
  assert.equal((await call("DELETE", "/containers/killed")).status, 204, "rm without -f right after");
});

test("attach with logs and without stream: what the container printed, then the end, even after it exited", async () => {
  ok(docker(["run", "--name", "printed", ...NONE, "busybox", "sh", "-c", "echo out; echo err >&2"]));
  const both = await call("POST", "/containers/printed/attach?logs=1&stream=0&stdout=1&stderr=1");
  assert.equal(both.status, 200);
  // Multiplexed frames: stream 1 then 2, each with its length.
  assert.deepEqual(
    [both.raw[0], both.raw.subarray(8, 12).toString(), both.raw[12], both.raw.subarray(20).toString()],
    [1, "out\n", 2, "err\n"],
  );
  const onlyErr = await call("POST", "/containers/printed/attach?logs=1&stream=0&stderr=1");
  assert.equal(onlyErr.raw.subarray(8).toString(), "err\n");
  // Neither logs nor stream: nothing, at once.
  assert.equal((await call("POST", "/containers/printed/attach?stdout=1")).raw.length, 0);
  ok(docker(["rm", "printed"]));
});

/** Creates an exec in `container` and starts it attached (no upgrade): status and raw output. */
async function execRaw(container: string, create: object, start: object) {
  const made = await call("POST", `/containers/${container}/exec`, create);
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const id = made.body["Id"] as string;
  const started = await call("POST", `/exec/${id}/start`, start);
  const inspect = (await call("GET", `/exec/${id}/json`)).body;
  return { status: started.status, raw: started.raw, inspect };
}

test("exec: the start request decides the framing; a process that cannot start says why in the stream", async () => {
  ok(docker(["run", "-d", "--name", "exec-box", ...NONE, "busybox", "sleep", "600"]));
  const framed = await execRaw(
    "exec-box",
    { Cmd: ["sh", "-c", "echo out"], AttachStdout: true, AttachStderr: true, Tty: true },
    { Detach: false, Tty: false },
  );
  assert.equal(framed.raw[0], 1, "a stdout frame, though the exec has a terminal");
  assert.equal(framed.raw.subarray(8).toString(), "out\r\n");
  const missing = await execRaw("exec-box", { Cmd: ["no-such-program"], AttachStdout: true }, { Tty: false });
  assert.equal(missing.status, 200);
  assert.equal(missing.raw[0], 1);
  assert.match(missing.raw.subarray(8).toString(), /no-such-program.*\r\n$/s);
  assert.equal(missing.inspect["ExitCode"], 126);
  const detached = await execRaw("exec-box", { Cmd: ["no-such-program"] }, { Detach: true });
  assert.equal(detached.status, 400);
  assert.equal(detached.inspect["ExitCode"], 126);
  const user = docker(["exec", "-u", "nobody-here", "exec-box", "true"]);
  assert.equal(user.status, 126);
  assert.match(user.stdout + user.stderr, /unable to find user nobody-here/);
  // Go's decoder takes keys in any case: docker-py sends "detachKeys".
  const keys = await call("POST", "/containers/exec-box/exec", { Cmd: ["cat"], detachKeys: "ctrl-x" });
  assert.equal((await call("GET", `/exec/${keys.body["Id"]}/json`)).body["DetachKeys"], "ctrl-x");
  ok(docker(["rm", "-f", "exec-box"]));
});

/** A build through the API of a context of `files`: every line of its stream. */
async function build(files: Record<string, string>, query = "") {
  const tar = await tarBuffer(Object.entries(files).map(([name, content]) => file(name, content)));
  const r = await d.api("POST", `/v1.41/build?rm=1${query}`, tar, { "Content-Type": "application/x-tar" });
  assert.equal(r.status, 200, r.body.toString());
  return r.body
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { stream?: string; aux?: { ID: string }; errorDetail?: { code?: number } });
}

test("build: the classic builder's stream, stderr in red, cache_from, a listed Dockerfile left out", async () => {
  const lines = await build(
    {
      Dockerfile: 'FROM busybox\nRUN sh -c "echo to-err >&2"\nCOPY . /ctx/\n',
      ".dockerignore": "Dockerfile\n.dockerignore\n",
    },
    "&t=streamed:1&nocache=1",
  );
  assert.equal(lines.at(-1)?.stream, "Successfully tagged streamed:1\n");
  assert.match(lines.at(-2)?.stream ?? "", /^Successfully built [0-9a-f]{12}\n$/);
  assert.ok(lines.at(-3)?.aux?.ID, "the image ID comes before the last lines, as dockerd sends it");
  assert.ok(
    lines.some((l) => l.stream === "\x1b[91mto-err\n\x1b[0m"),
    JSON.stringify(lines),
  );
  assert.equal(
    ok(docker(["run", "--rm", ...NONE, "streamed:1", "ls", "-A", "/ctx"])).stdout,
    "",
    "both left out",
  );
  assert.equal(
    ok(docker(["image", "inspect", "-f", "{{json .Config.OnBuild}}", "streamed:1"])).stdout,
    "null\n",
  );

  const steps = "FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n";
  await build({ Dockerfile: steps }, "&t=cached:1");
  const cacheHits = async (from: string[]) =>
    (await build({ Dockerfile: steps }, `&cachefrom=${encodeURIComponent(json(from))}`)).filter((l) =>
      l.stream?.includes("Using cache"),
    ).length;
  assert.equal(await cacheHits(["cached:1"]), 3);
  assert.equal(await cacheHits(["no-such-image"]), 0, "cache_from limits what the cache may give");

  const failed = await build({ Dockerfile: "FROM busybox\nRUN exit 3\n" });
  assert.equal(failed.at(-1)?.errorDetail?.code, 3);
});

test("build: extra hosts reach RUN steps, a network named by its ID is the steps' network", async () => {
  const hosts = await build(
    { Dockerfile: "FROM busybox\nRUN grep -q 'extra.test' /etc/hosts\n" },
    `&extrahosts=${encodeURIComponent("extra.test:127.0.0.1")}`,
  );
  assert.ok(!hosts.some((l) => l.errorDetail), JSON.stringify(hosts));
  const id = ok(docker(["network", "create", "build-net"])).stdout.trim();
  ok(
    docker([
      "run",
      "-d",
      "--name",
      "build-peer",
      "--network",
      "build-net",
      "--network-alias",
      "peer.test",
      "busybox",
      "sleep",
      "600",
    ]),
  );
  const net = await build({ Dockerfile: "FROM busybox\nRUN ping -c1 peer.test\n" }, `&networkmode=${id}`);
  assert.ok(!net.some((l) => l.errorDetail), JSON.stringify(net));
  ok(docker(["rm", "-f", "build-peer"]));
  ok(docker(["network", "rm", "build-net"]));
});

test("containers: log drivers and runtimes as dockerd takes them, keys in any case", async () => {
  const bad = await call("POST", "/containers/create", {
    Image: "busybox",
    HostConfig: { LogConfig: { Type: "asdf" } },
  });
  assert.deepEqual([bad.status, bad.body.message], [400, "logger: no log driver named 'asdf' is registered"]);
  const made = await call("POST", "/containers/create?name=zeroes", {
    Image: "busybox",
    Cmd: ["true"],
    Runtime: "runc",
    HostConfig: { LogConfig: { Type: "", Config: { "max-file": "3" } }, CPURealtimeRuntime: 500 },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const hc = (await call("GET", "/containers/zeroes/json")).body["HostConfig"] as Record<string, unknown>;
  assert.deepEqual(hc["LogConfig"], { Type: "json-file", Config: { "max-file": "3" } });
  assert.equal(hc["Runtime"], "runc");
  assert.equal(hc["CpuRealtimeRuntime"], 500);
  const unknown = await call("POST", "/containers/create", {
    Image: "busybox",
    HostConfig: { Runtime: "kata" },
  });
  assert.equal(unknown.status, 400);
  ok(docker(["rm", "zeroes"]));
});

test("the archive API reaches a created or exited container's volumes", () => {
  const id = ok(
    docker(["create", "-v", "/vol1", ...NONE, "busybox", "sh", "-c", "cat /vol1/in; echo out > /vol1/out"]),
  ).stdout.trim();
  const put = docker(["cp", "/etc/hostname", `${id}:/vol1/in`]);
  assert.equal(put.status, 0, put.stderr);
  assert.equal(ok(docker(["start", "-a", id])).stdout.trim().length > 0, true);
  assert.match(ok(docker(["cp", `${id}:/vol1/out`, "-"])).stdout, /out\n/);
  ok(docker(["rm", "-v", id]));
});

test("legacy links: environment and hosts on the default bridge, the link's name, rm --link", async () => {
  ok(docker(["run", "-d", "--name", "upstream", "-e", "FOO=1", "--expose", "80", "busybox", "sleep", "600"]));
  const env = ok(
    docker([
      "run",
      "--rm",
      "--name",
      "downstream",
      "--link",
      "upstream:mylink",
      "busybox",
      "sh",
      "-c",
      "env; cat /etc/hosts",
    ]),
  ).stdout;
  for (const want of ["MYLINK_NAME=/downstream/mylink", "MYLINK_ENV_FOO=1", "MYLINK_PORT_80_TCP_PORT=80"])
    assert.match(env, new RegExp(`^${want}$`, "m"));
  assert.match(env, /^\d+\.\d+\.\d+\.\d+\tmylink$/m);
  ok(docker(["create", "--name", "linker", "--link", "upstream:alias1", "busybox", "true"]));
  const linker = (await call("GET", "/containers/linker/json")).body["HostConfig"] as { Links: string[] };
  assert.deepEqual(linker.Links, ["/upstream:/linker/alias1"]);
  // The docker CLI shows such names with --no-trunc only: the API's list has them.
  const names = async () => {
    const list = (await call("GET", "/containers/json")).body as unknown as { Names: string[] }[];
    return list.flatMap((c) => c.Names);
  };
  assert.ok((await names()).includes("/linker/alias1"));
  assert.equal((await call("DELETE", "/containers/linker/alias1?link=1")).status, 204);
  assert.ok(!(await names()).includes("/linker/alias1"));
  ok(docker(["create", "--name", "linker2", "--link", "upstream:alias2", "busybox", "true"]));
  ok(d.berth(["rm", "--link", "linker2/alias2"]), "berth");
  const linker2 = (await call("GET", "/containers/linker2/json")).body["HostConfig"] as { Links: unknown };
  assert.equal(linker2.Links, null, "berth rm --link takes the link away");
  ok(docker(["rm", "-f", "upstream", "linker", "linker2"]));
});

test("networks: endpoint settings shown back, a MAC asked for, reconnect, names with spaces, aux addresses", async () => {
  const net = await call("POST", "/networks/create", {
    Name: "net with space",
    IPAM: { Config: [{ Subnet: "10.77.0.0/24", AuxiliaryAddresses: { reserved: "10.77.0.2" } }] },
  });
  assert.equal(net.status, 201, JSON.stringify(net.body));
  const inspect = (await call("GET", `/networks/${net.body["Id"]}`)).body["IPAM"] as Record<string, unknown>;
  assert.equal(inspect["Options"], null);
  assert.deepEqual((inspect["Config"] as object[])[0], {
    Subnet: "10.77.0.0/24",
    Gateway: "10.77.0.1",
    AuxiliaryAddresses: { reserved: "10.77.0.2" },
  });
  const made = await call("POST", "/containers/create?name=endpoints", {
    Image: "busybox",
    Cmd: ["sleep", "600"],
    MacAddress: "02:42:ac:11:00:0a",
    HostConfig: { NetworkMode: "bridge" },
    NetworkingConfig: {
      EndpointsConfig: {
        bridge: { IPAMConfig: { LinkLocalIPs: ["169.254.8.8"] }, DriverOpts: { "a.b": "on" } },
      },
    },
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  ok(docker(["start", "endpoints"]));
  const settings = (await call("GET", "/containers/endpoints/json")).body["NetworkSettings"] as {
    MacAddress: string;
    Networks: Record<
      string,
      { MacAddress: string; IPAddress: string; IPAMConfig: object; DriverOpts: object }
    >;
  };
  assert.equal(settings.MacAddress, "02:42:ac:11:00:0a");
  assert.deepEqual(settings.Networks["bridge"]!.IPAMConfig, { LinkLocalIPs: ["169.254.8.8"] });
  assert.deepEqual(settings.Networks["bridge"]!.DriverOpts, { "a.b": "on" });
  assert.match(
    ok(docker(["exec", "endpoints", "cat", "/sys/class/net/eth0/address"])).stdout,
    /^02:42:ac:11:00:0a$/m,
  );
  // A container connected, disconnected and connected again.
  const link = {
    Container: "endpoints",
    EndpointConfig: { MacAddress: "02:42:0a:4d:00:63", Links: ["x:y"] },
  };
  assert.equal((await call("POST", `/networks/${net.body["Id"]}/connect`, link)).status, 200);
  assert.equal(
    (await call("POST", `/networks/${net.body["Id"]}/disconnect`, { Container: "endpoints" })).status,
    200,
  );
  assert.equal((await call("POST", `/networks/${net.body["Id"]}/connect`, link)).status, 200);
  const again = (await call("GET", "/containers/endpoints/json")).body["NetworkSettings"] as typeof settings;
  const onNet = again.Networks["net with space"]! as (typeof settings.Networks)[string] & { Links: string[] };
  assert.deepEqual([onNet.MacAddress, onNet.Links], ["02:42:0a:4d:00:63", ["x:y"]]);
  assert.notEqual(onNet.IPAddress, "10.77.0.2", "an auxiliary address is never handed out");
  ok(docker(["rm", "-f", "endpoints"]));
  ok(docker(["network", "rm", "net with space"]));
});

test("a link on a user network is a name its DNS answers for the linking container", () => {
  ok(docker(["network", "create", "links-net"]));
  ok(docker(["run", "-d", "--name", "linked-up", "--network", "links-net", "busybox", "sleep", "600"]));
  const r = ok(
    docker([
      "run",
      "--rm",
      "--network",
      "links-net",
      "--link",
      "linked-up:bar",
      "busybox",
      "nslookup",
      "bar",
    ]),
  );
  assert.match(r.stdout, /Address: 1\d*\.\d+\.\d+\.\d+/);
  ok(docker(["rm", "-f", "linked-up"]));
  ok(docker(["network", "rm", "links-net"]));
});

test("images and volumes: commit of a container that just exited, Parent, a bad load, an unknown driver", async () => {
  const base = ok(docker(["image", "inspect", "-f", "{{.Id}}", "busybox"])).stdout.trim();
  const id = ok(docker(["run", "-d", ...NONE, "busybox", "touch", "/test"])).stdout.trim();
  const committed = await call("POST", `/commit?container=${id}&pause=1`, {});
  assert.equal(committed.status, 201, JSON.stringify(committed.body));
  assert.equal((await call("GET", `/images/${committed.body["Id"]}/json`)).body["Parent"], base);
  ok(docker(["rm", "-f", id]));
  ok(docker(["rmi", committed.body["Id"] as string]));
  const load = await d.api("POST", "/v1.41/images/load?quiet=1", "not an archive", {
    "Content-Type": "application/x-tar",
  });
  assert.equal(load.status, 200);
  assert.match(load.body.toString(), /"errorDetail":\{"message":"not an image archive/);
  const vol = await call("POST", "/volumes/create", { Name: "v", Driver: "invalid.driver" });
  assert.equal(vol.status, 404);
  const prune = ok(
    docker(["run", "--name", "to-prune", ...NONE, "busybox", "sh", "-c", "echo hello > /data.txt"]),
  );
  assert.equal(prune.status, 0);
  const pruned = await call("POST", "/containers/prune");
  assert.ok((pruned.body["ContainersDeleted"] as string[]).length >= 1);
  assert.ok((pruned.body["SpaceReclaimed"] as number) > 0);
});

/**
 * Types into `command` through a real terminal (script(1)): each of `chunks` a second apart,
 * once it is attached. Its exit status and output.
 */
function typeInto(command: string, ...chunks: string[]) {
  const input = `(sleep 2; ${chunks.map((c) => `printf '${c}'; sleep 1`).join("; ")}; sleep 1)`;
  const r = spawnSync("sh", ["-c", `${input} | script -qec ${JSON.stringify(command)} /dev/null`], {
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout };
}

test("run -it detaches at the detach keys, with both CLIs, and the container runs on with its stdin", () => {
  const host = `-H unix://${d.socket}`;
  for (const [name, cli, keys, flag] of [
    ["detach-berth", `${process.execPath} ${BERTH} ${host}`, "\\020\\021", ""],
    ["detach-docker", `docker ${host}`, "\\020\\021", ""],
    ["detach-custom", `${process.execPath} ${BERTH} ${host}`, "\\030x", "--detach-keys ctrl-x,x"],
  ]) {
    const r = typeInto(`${cli} run -it ${flag} --name ${name} ${NONE.join(" ")} busybox sh`, keys!);
    assert.equal(r.status, 0, `${name}: ${r.stdout}`);
    assert.equal(ok(docker(["inspect", "-f", "{{.State.Status}}", name!])).stdout, "running\n", name);
    const again = typeInto(`docker ${host} attach ${name}`, "echo still-here\\n", "\\020\\021");
    assert.match(again.stdout, /\nstill-here\r?\n/, `${name}: its stdin is open for the next attach`);
    ok(docker(["rm", "-f", name!]));
  }
});
