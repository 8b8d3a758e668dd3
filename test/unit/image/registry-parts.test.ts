import assert from "node:assert/strict";
import { test } from "node:test";
import { chainIds } from "../../../src/image/chain.js";
import { digestOf } from "../../../src/image/digest.js";
import { MediaType, manifestKind, type Platform, parseManifest } from "../../../src/image/manifest.js";
import { parsePlatform, selectManifest } from "../../../src/image/platform.js";
import { parseChallenges } from "../../../src/image/registry/challenge.js";
import { rechunk } from "../../../src/image/registry/client.js";
import { credentialKey } from "../../../src/image/registry/credentials.js";

test("WWW-Authenticate challenges of Docker Hub, htpasswd and odd quoting are parsed", () => {
  assert.deepEqual(
    parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
    [
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/busybox:pull",
        },
      },
    ],
  );
  assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [
    { scheme: "basic", params: { realm: "Registry Realm" } },
  ]);
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b", error=insufficient_scope, Basic realm=x'), [
    { scheme: "bearer", params: { realm: 'a"b', error: "insufficient_scope" } },
    { scheme: "basic", params: { realm: "x" } },
  ]);
});

const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const entry = (platform: Platform, n: number) => ({
  mediaType: MediaType.OciManifest,
  digest: D(n),
  size: 1,
  platform,
});

test("platform selection picks os/arch and the best variant", () => {
  const list = [
    entry({ os: "linux", architecture: "amd64" }, 1),
    entry({ os: "linux", architecture: "arm", variant: "v6" }, 2),
    entry({ os: "linux", architecture: "arm", variant: "v7" }, 3),
    entry({ os: "linux", architecture: "arm64", variant: "v8" }, 4),
    entry({ os: "windows", architecture: "amd64" }, 5),
  ];
  assert.equal(selectManifest(list, parsePlatform("linux/amd64")).digest, D(1));
  assert.equal(selectManifest(list, parsePlatform("linux/arm/v7")).digest, D(3));
  assert.equal(selectManifest(list, parsePlatform("linux/arm/v8")).digest, D(3), "an armv8 host runs v7");
  assert.equal(selectManifest(list.slice(0, 2), parsePlatform("linux/arm/v7")).digest, D(2));
  assert.equal(selectManifest(list, parsePlatform("linux/aarch64")).digest, D(4));
  assert.equal(
    selectManifest([entry({ os: "linux", architecture: "arm64" }, 6)], parsePlatform("linux/arm64")).digest,
    D(6),
  );
  assert.equal(selectManifest(list, parsePlatform("windows/amd64")).digest, D(5));
  assert.throws(
    () => selectManifest(list, parsePlatform("linux/s390x")),
    /no manifest for platform linux\/s390x .*linux\/amd64/,
  );
  assert.throws(() => parsePlatform("linux"), /expected os\/arch/);
});

test("manifests of unknown kinds are refused, OCI ones without mediaType are recognised", () => {
  const m = {
    schemaVersion: 2,
    config: { mediaType: MediaType.OciConfig, digest: D(1), size: 2 },
    layers: [],
  };
  assert.equal(manifestKind(Buffer.from(JSON.stringify(m))), "manifest");
  assert.equal(manifestKind(Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [] }))), "index");
  assert.throws(
    () => manifestKind(Buffer.from("{}"), "application/vnd.x+json"),
    /unsupported manifest media type/,
  );
  assert.throws(() => manifestKind(Buffer.from(JSON.stringify({ schemaVersion: 1 }))), /schema 1/);
  assert.throws(
    () =>
      parseManifest(
        Buffer.from(
          JSON.stringify({
            ...m,
            config: { ...m.config, mediaType: "application/vnd.cncf.helm.config.v1+json" },
          }),
        ),
      ),
    /not a container image/,
  );
  assert.throws(
    () =>
      parseManifest(
        Buffer.from(
          JSON.stringify({
            ...m,
            layers: [{ mediaType: MediaType.OciLayer, digest: "sha256:short", size: 1 }],
          }),
        ),
      ),
    /not sha256/,
  );
});

test("chain IDs follow the image spec", () => {
  const a = D(1);
  const b = D(2);
  assert.deepEqual(chainIds([a, b]), [a, digestOf(`${a} ${b}`)]);
});

test("Docker Hub credentials live under its historical key", () => {
  assert.equal(credentialKey("docker.io"), "https://index.docker.io/v1/");
  assert.equal(credentialKey("localhost:5000"), "localhost:5000");
});

test("uploads are regrouped into chunks of the asked size", async () => {
  const out: number[] = [];
  for await (const c of rechunk(
    (async function* () {
      yield Buffer.alloc(5);
      yield Buffer.alloc(7);
      yield Buffer.alloc(1);
    })(),
    4,
  ))
    out.push(c.length);
  assert.deepEqual(out, [4, 4, 4, 1]);
});
