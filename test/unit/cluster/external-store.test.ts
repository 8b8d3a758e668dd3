import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseClusterStore } from "../../../src/cluster/external-store.js";

test("--cluster-store names etcd client URLs: plain or TLS, the default port 2379", () => {
  assert.deepEqual(parseClusterStore("etcd://10.0.0.1:2379,etcd-b,[fd00::1]:12379"), {
    endpoints: ["http://10.0.0.1:2379", "http://etcd-b:2379", "http://[fd00::1]:12379"],
  });
  assert.deepEqual(parseClusterStore("etcds://h1:2379/").endpoints, ["https://h1:2379"]);
});

test("--cluster-store-opt reads the TLS files for an etcds:// store", () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-store-opt-"));
  try {
    for (const f of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, f), `pem of ${f}`);
    const store = parseClusterStore("etcds://h1:2379", [
      `kv.cacertfile=${join(dir, "ca.pem")}`,
      `kv.certfile=${join(dir, "cert.pem")}`,
      `kv.keyfile=${join(dir, "key.pem")}`,
    ]);
    assert.deepEqual(store.tls, { ca: "pem of ca.pem", cert: "pem of cert.pem", key: "pem of key.pem" });
    assert.deepEqual(parseClusterStore("etcds://h1", [`kv.cacertfile=${join(dir, "ca.pem")}`]).tls, {
      ca: "pem of ca.pem",
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad --cluster-store or option is refused with the reason", () => {
  const refused: Array<[string, string[], RegExp]> = [
    ["consul://h:8500", [], /give etcd:\/\/HOST:PORT/],
    ["etcd://", [], /give etcd:\/\/HOST:PORT/],
    ["etcd://h1:2379/prefix", [], /give etcd:\/\/HOST:PORT/],
    ["etcd://h1:99999", [], /invalid --cluster-store host "h1:99999"/],
    ["etcd://h1:2379,,h2", [], /invalid --cluster-store host ""/],
    ["etcd://h1 h2", [], /invalid --cluster-store host/],
    ["etcds://h1", ["kv.path=/x"], /the options are kv\.cacertfile=FILE/],
    ["etcds://h1", ["kv.cacertfile="], /the options are/],
    ["etcd://h1", ["kv.cacertfile=/etc/hostname"], /need an etcds:\/\/ store/],
    ["etcds://h1", ["kv.certfile=/etc/hostname"], /kv\.certfile and kv\.keyfile go together/],
    [
      "etcds://h1",
      ["kv.cacertfile=/nonexistent/ca.pem"],
      /kv\.cacertfile: cannot read \/nonexistent\/ca\.pem/,
    ],
  ];
  for (const [address, options, message] of refused)
    assert.throws(() => parseClusterStore(address, options), message, `${address} ${options.join(" ")}`);
});
