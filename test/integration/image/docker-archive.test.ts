import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadDockerArchive, saveDockerArchive } from "../../../src/image/docker-archive.js";
import { importBusybox } from "../../../src/image/import.js";
import { withMounted } from "../../../src/snapshot/mount.js";
import { startDockerd, type TestDockerd } from "../../helpers/dockerd.js";
import { openStore, type TestStore } from "../../helpers/images.js";
import { file, tarBuffer } from "../../helpers/tar.js";

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(c);
  return Buffer.concat(parts);
}

let store: TestStore;
before(async () => {
  store = await openStore();
  await importBusybox(store.service, "busybox:latest");
});
after(() => store?.remove());

test("an archive Berth saves loads back into another store with the same image ID and tags", async () => {
  const archive = await collect(saveDockerArchive(store.service, ["busybox:latest"]));
  const other = await openStore();
  try {
    const events: string[] = [];
    const [loaded] = await loadDockerArchive(other.service, [archive], (e) => events.push(e.status));
    assert.equal(loaded!.id, store.service.resolve("busybox").id);
    assert.ok(events.includes("Loaded image: busybox:latest"), events.join(", "));
    await withMounted(await other.service.prepareRootfs("c", "busybox"), async (root) => {
      assert.deepEqual(readFileSync(join(root, "bin/busybox")), readFileSync("/bin/busybox"));
    });
    await other.service.snapshotter.remove("c");
  } finally {
    other.remove();
  }
});

test("an archive whose manifest points outside it is refused", async () => {
  const manifest = Buffer.from(
    JSON.stringify([{ Config: "../../../etc/passwd", RepoTags: ["x:1"], Layers: [] }]),
  );
  const archive = await tarBuffer([file("manifest.json", manifest.toString())]);
  await assert.rejects(loadDockerArchive(store.service, [archive]), /climbs out/);
  const missing = await tarBuffer([
    file("manifest.json", JSON.stringify([{ Config: "nope.json", RepoTags: [], Layers: [] }])),
  ]);
  await assert.rejects(
    loadDockerArchive(store.service, [missing]),
    /nope.json is listed in manifest.json but missing/,
  );
  await assert.rejects(
    loadDockerArchive(store.service, [await tarBuffer([file("x", "y")])]),
    /not a docker image archive/,
  );
});

describe("with docker", () => {
  let dockerd: TestDockerd | undefined;
  before(async () => {
    dockerd = await startDockerd();
  });
  after(async () => {
    await dockerd?.stop();
  });

  test("docker loads what Berth saves, and Berth loads what docker saves", async (t) => {
    if (!dockerd) {
      t.skip("dockerd is not installed or does not start on this host");
      return;
    }
    const image = store.service.resolve("busybox");
    const archive = await collect(saveDockerArchive(store.service, ["busybox:latest"]));
    await dockerd.docker(["load"], archive);
    const inspect = JSON.parse((await dockerd.docker(["image", "inspect", "busybox:latest"])).toString())[0];
    assert.equal(inspect.Id, image.id);
    assert.deepEqual(
      inspect.RootFS.Layers,
      image.layers.map((l) => l.diffId),
    );
    await dockerd.docker(["tag", "busybox:latest", "from-docker:1"]);
    const saved = await dockerd.docker(["save", "from-docker:1"]);
    const other = await openStore();
    try {
      const [loaded] = await loadDockerArchive(other.service, [saved]);
      assert.equal(loaded!.id, image.id);
      assert.equal(other.service.resolve("from-docker:1").id, image.id);
    } finally {
      other.remove();
    }
  });
});
