/** dockerode (the npm Docker client) against Berth: the basic container and image calls. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { DaemonFixture } from "../helpers/daemon.js";

const d = new DaemonFixture();
let docker: Docker;
before(async () => {
  await d.importBusybox();
  await d.start();
  docker = new Docker({ socketPath: d.socket });
});
after(() => d.cleanup());

test("ping and version", async () => {
  assert.equal(String(await docker.ping()), "OK");
  const v = await docker.version();
  assert.match(v.ApiVersion, /^1\.\d+$/);
});

test("containers: create, start, wait, logs, inspect, list, remove", async () => {
  const c = await docker.createContainer({
    Image: "busybox",
    Cmd: ["sh", "-c", "echo out; echo err >&2; exit 7"],
    name: "from-dockerode",
    HostConfig: { NetworkMode: "none" },
  });
  await c.start();
  const result = (await c.wait()) as { StatusCode: number };
  assert.equal(result.StatusCode, 7);
  const logs = (await c.logs({ stdout: true, stderr: true })) as Buffer;
  // Multiplexed frames: stream byte, three zeros, a big-endian length, the data.
  const frames: [number, string][] = [];
  for (let at = 0; at < logs.length; ) {
    const size = logs.readUInt32BE(at + 4);
    frames.push([logs[at]!, logs.subarray(at + 8, at + 8 + size).toString()]);
    at += 8 + size;
  }
  assert.deepEqual(frames, [
    [1, "out\n"],
    [2, "err\n"],
  ]);
  const info = await c.inspect();
  assert.equal(info.State.ExitCode, 7);
  assert.equal(info.Name, "/from-dockerode");
  const list = await docker.listContainers({ all: true, filters: { name: ["from-dockerode"] } });
  assert.deepEqual(
    list.map((x) => x.Names),
    [["/from-dockerode"]],
  );
  await c.remove();
  await assert.rejects(c.inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
});

test("images: list, inspect, tag, remove", async () => {
  const images = await docker.listImages();
  assert.ok(images.some((i) => i.RepoTags?.includes("busybox:latest")));
  const image = docker.getImage("busybox");
  const info = await image.inspect();
  assert.match(info.Id, /^sha256:/);
  await image.tag({ repo: "from-dockerode", tag: "1" });
  assert.ok((await docker.listImages()).some((i) => i.RepoTags?.includes("from-dockerode:1")));
  await docker.getImage("from-dockerode:1").remove();
  assert.ok(!(await docker.listImages()).some((i) => i.RepoTags?.includes("from-dockerode:1")));
});
