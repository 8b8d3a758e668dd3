import assert from "node:assert/strict";
import { test } from "node:test";
import { familiarString, formatReference, parseReference } from "../../../src/image/reference.js";

const D = `sha256:${"a".repeat(64)}`;

test("short names normalise like docker's: busybox is docker.io/library/busybox:latest", () => {
  const cases: [string, string, string][] = [
    ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["user/app:v1", "docker.io/user/app:v1", "user/app:v1"],
    ["index.docker.io/library/debian:12", "docker.io/library/debian:12", "debian:12"],
    ["localhost:5000/a/b:t", "localhost:5000/a/b:t", "localhost:5000/a/b:t"],
    ["localhost/app", "localhost/app:latest", "localhost/app:latest"],
    ["127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"],
    ["quay.io/org/img@" + D, `quay.io/org/img@${D}`, `quay.io/org/img@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`, `busybox:1.36@${D}`],
    [
      "my-registry.example.com:443/a__b/c.d-e",
      "my-registry.example.com:443/a__b/c.d-e:latest",
      "my-registry.example.com:443/a__b/c.d-e:latest",
    ],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = parseReference(input, { defaultTag: true });
    assert.equal(formatReference(ref), full, input);
    assert.equal(familiarString(ref), familiar, input);
  }
});

test("without defaultTag a bare name keeps no tag", () => {
  assert.equal(formatReference(parseReference("busybox")), "docker.io/library/busybox");
  assert.equal(parseReference(`busybox@${D}`, { defaultTag: true }).tag, undefined);
});

test("bad references are refused with the reason", () => {
  assert.throws(() => parseReference(""), /empty reference/);
  assert.throws(() => parseReference("Busybox"), /must be lowercase/);
  assert.throws(() => parseReference("busybox:"), /bad tag/);
  assert.throws(() => parseReference("busybox:a/b"), /bad registry/);
  assert.throws(() => parseReference("busybox@sha256:abc"), /bad digest|64 lowercase hex/);
  assert.throws(() => parseReference(`busybox@sha256:${"A".repeat(64)}`), /64 lowercase hex/);
  assert.throws(() => parseReference("a//b"), /bad repository name component ""/);
  assert.throws(() => parseReference("-a"), /bad repository name component/);
  assert.throws(() => parseReference(`x/${"a".repeat(300)}`), /longer than 255/);
  assert.throws(() => parseReference("bad_host.com:x/y"), /bad tag|bad registry/);
  assert.throws(() => parseReference(`busybox:${"t".repeat(129)}`), /bad tag/);
});
