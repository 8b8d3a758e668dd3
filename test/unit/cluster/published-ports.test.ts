/** Ports published without a number: chosen from 30000-32767, never twice, kept, given back. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort, publishPorts, releasePorts } from "../../../src/cluster/published-ports.js";
import type { ClusterStore } from "../../../src/cluster/store.js";
import type { PortConfig, ServiceRecord } from "../../../src/cluster/types.js";

/** The store's port allocation keys, in memory: a key is created once, as etcd's txn does. */
class PortKeys {
  readonly keys = new Map<string, string>();
  readonly services = new Map<string, ServiceRecord>();
  async publishedPorts() {
    await Promise.resolve();
    return new Map(this.keys);
  }
  async takePort(protocol: string, port: number, owner: string) {
    await Promise.resolve();
    const key = `${protocol}/${port}`;
    if (!this.keys.has(key)) this.keys.set(key, owner);
    return this.keys.get(key) === owner;
  }
  async releasePort(protocol: string, port: number, owner: string) {
    const key = `${protocol}/${port}`;
    if (this.keys.get(key) === owner) this.keys.delete(key);
  }
  async get(_kind: string, id: string) {
    return this.services.get(id);
  }
  get store() {
    return this as unknown as ClusterStore;
  }
}

function service(id: string, ports: PortConfig[], endpointPorts?: PortConfig[]): ServiceRecord {
  const s = {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: "",
    UpdatedAt: "",
    Spec: {
      Name: id,
      TaskTemplate: { ContainerSpec: { Image: "b" } },
      Mode: {},
      EndpointSpec: { Ports: ports },
    },
    Endpoint: { Spec: {}, ...(endpointPorts ? { Ports: endpointPorts } : {}) },
  } as unknown as ServiceRecord;
  return s;
}

test("the first free port of 30000-32767 for the protocol", () => {
  assert.equal(freePort("tcp", new Set()), 30000);
  assert.equal(freePort("tcp", new Set(["tcp/30000", "tcp/30001", "udp/30002"])), 30002);
  assert.equal(freePort("udp", new Set(["tcp/30000"])), 30000);
  assert.equal(freePort("tcp", new Set(["tcp/5"]), { first: 5, last: 5 }), undefined);
});

test("a port without a number gets one from 30000, shown as ingress; a given one is held as given", async () => {
  const keys = new PortKeys();
  const ports = await publishPorts(
    keys.store,
    service("a", [{ TargetPort: 80 }, { TargetPort: 53, Protocol: "udp", PublishedPort: 5353 }]),
  );
  assert.deepEqual(ports, [
    { Protocol: "tcp", TargetPort: 80, PublishedPort: 30000, PublishMode: "ingress" },
    { Protocol: "udp", TargetPort: 53, PublishedPort: 5353, PublishMode: "ingress" },
  ]);
  assert.deepEqual(
    [...keys.keys],
    [
      ["udp/5353", "svc:a"],
      ["tcp/30000", "svc:a"],
    ],
  );
});

test("never twice: services asking at once each get their own port", async () => {
  const keys = new PortKeys();
  const all = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      publishPorts(keys.store, service(`s${i}`, [{ TargetPort: 80 }, { TargetPort: 81 }])),
    ),
  );
  const chosen = all.flat().map((p) => p.PublishedPort);
  assert.equal(new Set(chosen).size, 40);
  assert.ok(chosen.every((p) => p! >= 30000 && p! <= 32767));
});

test("an update keeps a chosen port; an unpublished one is given back once the record is written", async () => {
  const keys = new PortKeys();
  const first = await publishPorts(keys.store, service("a", [{ TargetPort: 80 }, { TargetPort: 81 }]));
  const again = await publishPorts(keys.store, service("a", [{ TargetPort: 81 }, { TargetPort: 80 }], first));
  assert.deepEqual(
    again.map((p) => [p.TargetPort, p.PublishedPort]),
    [
      [81, 30001],
      [80, 30000],
    ],
  );
  const fewer = service("a", [{ TargetPort: 81 }], first);
  fewer.Endpoint.Ports = await publishPorts(keys.store, fewer);
  await releasePorts(keys.store, "a", fewer);
  assert.deepEqual([...keys.keys.keys()], ["tcp/30001"]);
  // The port given back is the next one chosen.
  assert.equal((await publishPorts(keys.store, service("b", [{ TargetPort: 80 }])))[0]!.PublishedPort, 30000);
  await releasePorts(keys.store, "a");
  assert.deepEqual([...keys.keys.keys()], ["tcp/30000"]);
});

test("a port another service holds is refused with its name; a chosen port skips it", async () => {
  const keys = new PortKeys();
  keys.services.set("a", service("a", []));
  await publishPorts(keys.store, service("a", [{ TargetPort: 80, PublishedPort: 30000 }]));
  await assert.rejects(
    publishPorts(keys.store, service("b", [{ TargetPort: 80, PublishedPort: 30000 }])),
    /port '30000' is already in use by service 'a' \(a\) as an ingress port/,
  );
  assert.equal((await publishPorts(keys.store, service("b", [{ TargetPort: 80 }])))[0]!.PublishedPort, 30001);
});

test("host-mode ports take no allocation; a full range is a clear error", async () => {
  const keys = new PortKeys();
  const ports = await publishPorts(keys.store, service("h", [{ TargetPort: 80, PublishMode: "host" }]));
  assert.deepEqual(ports, [{ Protocol: "tcp", TargetPort: 80, PublishMode: "host" }]);
  assert.equal(keys.keys.size, 0);
  for (let p = 30000; p <= 32767; p++) keys.keys.set(`tcp/${p}`, "svc:x");
  await assert.rejects(
    publishPorts(keys.store, service("c", [{ TargetPort: 80 }])),
    /no free port to publish/,
  );
});
