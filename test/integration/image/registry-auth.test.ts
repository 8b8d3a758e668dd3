import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { importBusybox } from "../../../src/image/import.js";
import { RegistryClient } from "../../../src/image/registry/client.js";
import {
  loadCredentials,
  removeCredentials,
  storeCredentials,
} from "../../../src/image/registry/credentials.js";
import { ImageService } from "../../../src/image/service.js";
import { OverlaySnapshotter } from "../../../src/snapshot/overlay.js";
import { layerTar, pushTestImage } from "../../helpers/images.js";
import { startRegistry, type TestRegistry } from "../../helpers/registry.js";

const work = mkdtempSync(join(tmpdir(), "berth-auth-"));
after(() => rmSync(work, { recursive: true, force: true }));
const dockerConfig = join(work, "docker/config.json");

async function service(name: string): Promise<ImageService> {
  return ImageService.open({
    root: join(work, name, "image"),
    snapshotter: await new OverlaySnapshotter(join(work, name, "overlay")).open(),
    registry: { credentials: (host) => loadCredentials(host, dockerConfig) },
  });
}

for (const kind of ["basic", "token"] as const) {
  describe(`a registry with ${kind} auth`, () => {
    let registry: TestRegistry;
    before(async () => {
      registry = await startRegistry({ kind, username: "alice", password: "s3cret" });
    });
    after(async () => {
      await registry?.stop();
      await removeCredentials(registry.host, dockerConfig);
    });

    test("without credentials a pull fails saying to log in", async () => {
      const s = await service(`${kind}-anon`);
      await assert.rejects(s.pull(`${registry.host}/x/y:1`), /401.*berth login|unauthorized|berth login/);
    });

    test("a wrong password is refused at login", async () => {
      const client = new RegistryClient(registry.host);
      await assert.rejects(
        client.checkLogin({ username: "alice", password: "nope" }),
        /wrong username or password|HTTP 401/,
      );
    });

    test("after login (stored in config.json) push and pull work", async () => {
      const client = new RegistryClient(registry.host, { credentials: async () => undefined });
      await client.checkLogin({ username: "alice", password: "s3cret" });
      await storeCredentials(registry.host, { username: "alice", password: "s3cret" }, dockerConfig);
      const stored = JSON.parse(readFileSync(dockerConfig, "utf8"));
      assert.equal(Buffer.from(stored.auths[registry.host].auth, "base64").toString(), "alice:s3cret");
      assert.equal(statSync(dockerConfig).mode & 0o777, 0o600);
      const s = await service(`${kind}-user`);
      await importBusybox(s, `${registry.host}/team/busybox:1`);
      await s.push(`${registry.host}/team/busybox:1`);
      const other = await service(`${kind}-user2`);
      const pulled = await other.pull(`${registry.host}/team/busybox:1`);
      assert.equal(pulled.id, s.resolve(`${registry.host}/team/busybox:1`).id);
      if (kind === "token") {
        const scopes = registry.tokenRequests.flat();
        assert.ok(scopes.includes("repository:team/busybox:pull,push"), scopes.join(" "));
        assert.ok(scopes.includes("repository:team/busybox:pull"));
      }
    });

    test("a blob is mounted across repositories instead of uploaded", async () => {
      const s = await service(`${kind}-user`);
      await s.tag(`${registry.host}/team/busybox:1`, `${registry.host}/other/busybox:1`);
      const events: string[] = [];
      await s.push(`${registry.host}/other/busybox:1`, { onProgress: (e) => events.push(e.status) });
      assert.ok(events.includes("Mounted from team/busybox"), events.join(", "));
    });

    test("chunked uploads work too", async () => {
      const client = new RegistryClient(registry.host, {
        credentials: (h) => loadCredentials(h, dockerConfig),
      });
      const tar = await layerTar({ big: Buffer.alloc(300_000, 7) });
      const pushed = await pushTestImage(client, "team/chunked", "1", [tar]);
      const s = await service(`${kind}-chunks`);
      await s.pull(`${registry.host}/team/chunked:1`);
      await s.tag(`${registry.host}/team/chunked:1`, `${registry.host}/team/rechunked:1`);
      // Fresh repository, no mount source known to this store's other repos for... force upload by chunks:
      await s.push(`${registry.host}/team/rechunked:1`, { chunkSize: 64 * 1024 });
      const again = await client.getManifest("team/rechunked", "1");
      assert.equal(again.digest, pushed.manifest.digest);
    });
  });
}

test("logout removes the stored credentials", async () => {
  await storeCredentials("example.test:5000", { username: "u", password: "p" }, dockerConfig);
  assert.deepEqual(await loadCredentials("example.test:5000", dockerConfig), {
    username: "u",
    password: "p",
  });
  assert.equal(await removeCredentials("example.test:5000", dockerConfig), true);
  assert.equal(await loadCredentials("example.test:5000", dockerConfig), undefined);
  assert.equal(await removeCredentials("example.test:5000", dockerConfig), false);
});
