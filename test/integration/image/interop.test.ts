import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { importBusybox } from "../../../src/image/import.js";
import { exportOciLayout, importOciLayout } from "../../../src/image/oci-layout.js";
import { openStore, type TestStore } from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), "berth-interop-"));
let registry: TestRegistry;
let store: TestStore;

before(async () => {
  registry = await startRegistry();
  store = await openStore();
  await importBusybox(store.service, "busybox:latest");
});
after(async () => {
  await registry?.stop();
  store?.remove();
  rmSync(work, { recursive: true, force: true });
});

describe("skopeo and umoci read Berth's OCI layout", () => {
  const layout = join(work, "layout");
  before(async () => {
    await exportOciLayout(store.service, ["busybox:latest"], layout);
  });

  test("skopeo inspect sees the image with Berth's layers and config", async () => {
    const image = store.service.resolve("busybox");
    const { stdout } = await run("skopeo", ["inspect", `oci:${layout}:latest`]);
    const info = JSON.parse(stdout);
    assert.deepEqual(
      info.Layers,
      image.layers.map((l) => l.digest),
    );
    const { stdout: cfg } = await run("skopeo", ["inspect", "--config", `oci:${layout}:latest`]);
    assert.deepEqual(JSON.parse(cfg).config.Cmd, ["sh"]);
  });

  test("skopeo copies it to the registry and Berth pulls the same image back", async () => {
    await run("skopeo", [
      "copy",
      "--dest-tls-verify=false",
      `oci:${layout}:latest`,
      `docker://${registry.host}/skopeo/busybox:1`,
    ]);
    const other = await openStore();
    try {
      const pulled = await other.service.pull(`${registry.host}/skopeo/busybox:1`);
      assert.equal(pulled.id, store.service.resolve("busybox").id);
    } finally {
      other.remove();
    }
  });

  test("umoci unpacks it into a bundle with busybox in its rootfs", async () => {
    const bundle = join(work, "bundle");
    await run("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
    assert.deepEqual(readFileSync(join(bundle, "rootfs/bin/busybox")), readFileSync("/bin/busybox"));
    assert.ok(existsSync(join(bundle, "config.json")));
  });
});

test("Berth imports an OCI layout written by skopeo, and a dir: copy round-trips", async () => {
  await store.service.tag("busybox", `${registry.host}/lib/busybox:2`);
  await store.service.push(`${registry.host}/lib/busybox:2`);
  const layout = join(work, "from-skopeo");
  await run("skopeo", [
    "copy",
    "--src-tls-verify=false",
    `docker://${registry.host}/lib/busybox:2`,
    `oci:${layout}:v2`,
  ]);
  const other = await openStore();
  try {
    const imported = await importOciLayout(other.service, layout, { refName: "v2", name: "from-skopeo:v2" });
    // skopeo rewrites the config as it converts to OCI (so the image ID differs): the layers do not change.
    const original = store.service.resolve("busybox");
    assert.deepEqual(
      imported.layers.map((l) => [l.digest, l.diffId, l.chainId]),
      original.layers.map((l) => [l.digest, l.diffId, l.chainId]),
    );
    assert.deepEqual((await other.service.config(imported)).config?.Cmd, ["sh"]);
    assert.equal(other.service.resolve("from-skopeo:v2").id, imported.id);
    // skopeo's plain directory format from Berth's layout, and back to a layout.
    const dir = join(work, "dir");
    await run("skopeo", ["copy", `oci:${join(work, "layout")}:latest`, `dir:${dir}`]);
    assert.ok(existsSync(join(dir, "manifest.json")));
  } finally {
    other.remove();
  }
});
