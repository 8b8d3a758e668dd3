import assert from "node:assert/strict";
import { test } from "node:test";
import { createCA } from "../../../src/cluster/ca.js";
import {
  canonicalJson,
  roleIntact,
  sealRole,
  sealService,
  serviceIntact,
  signTask,
  taskSigned,
} from "../../../src/cluster/integrity.js";
import { seal, unseal } from "../../../src/cluster/sealing.js";
import type { NodeRecord, ServiceRecord } from "../../../src/cluster/types.js";
import { assignedTask } from "../../helpers/tasks.js";

const ca = createCA();
const other = createCA();

const task = assignedTask("n3");

test("canonical JSON does not depend on the order keys were written in", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: "x" } }),
    canonicalJson({ a: { c: "x", d: [2, { e: 0, f: 1 }] }, b: 1 }),
  );
  assert.equal(canonicalJson({ a: undefined, b: null }), '{"b":null}');
});

test("a task signed by the leader checks; changed in what it runs, where, or signed by another CA, it does not", () => {
  const signed = signTask(ca.key, task);
  assert.ok(taskSigned(ca.cert, signed));
  // What the agent updates (status, state) leaves it valid.
  assert.ok(
    taskSigned(ca.cert, { ...signed, Status: { ...signed.Status, State: "running" }, Version: { Index: 9 } }),
  );
  assert.ok(!taskSigned(ca.cert, { ...signed, Spec: { ContainerSpec: { Image: "evil" } } }));
  assert.ok(!taskSigned(ca.cert, { ...signed, NodeID: "n2" }));
  assert.ok(!taskSigned(ca.cert, { ...signed, ID: "t2" }));
  assert.ok(!taskSigned(ca.cert, task), "unsigned");
  assert.ok(!taskSigned(ca.cert, signTask(other.key, task)), "another CA's");
  assert.ok(!taskSigned(ca.cert, { ...signed, Signature: "garbage" }));
  // The CA's key is kept between checks: a node that joined another swarm checks against that
  // one's, and back (a leftover key would let the old CA's tasks run).
  assert.ok(!taskSigned(other.cert, signed));
  assert.ok(taskSigned(other.cert, signTask(other.key, task)));
  assert.ok(taskSigned(ca.cert, signed));
  assert.ok(!taskSigned("not a certificate", signed));
});

test("a signature that checked once is not taken for another task, another CA, or a bad certificate", () => {
  const signed = signTask(ca.key, task);
  assert.ok(taskSigned(ca.cert, signed));
  assert.ok(taskSigned(ca.cert, signed), "checked again: remembered");
  // The same signature over other bytes, or under another certificate, is checked in full.
  assert.ok(!taskSigned(ca.cert, { ...signed, NodeID: "n4" }));
  assert.ok(!taskSigned(ca.cert, { ...signed, Spec: { ContainerSpec: { Image: "evil" } } }));
  assert.ok(!taskSigned(other.cert, signed));
  assert.ok(!taskSigned("not a certificate", signed));
  assert.ok(taskSigned(ca.cert, signed), "the key of the last CA is parsed again");
  // Keys of two CAs used in turn: each signs and checks with its own.
  for (let i = 0; i < 3; i++) {
    assert.ok(taskSigned(other.cert, signTask(other.key, { ...task, ID: `o${i}` })));
    assert.ok(taskSigned(ca.cert, signTask(ca.key, { ...task, ID: `c${i}` })));
    assert.ok(!taskSigned(ca.cert, signTask(other.key, { ...task, ID: `x${i}` })));
  }
  assert.throws(() => signTask("not a key", task));
});

test("a service's and a node role's MACs: made with the CA key, broken by any change of what they cover", () => {
  const service = {
    ID: "s1",
    Spec: { Name: "web" },
    SpecVersion: 2,
    Endpoint: {},
  } as unknown as ServiceRecord;
  const sealed = sealService(ca.key, service);
  assert.ok(serviceIntact(ca.key, sealed));
  assert.ok(
    serviceIntact(ca.key, { ...sealed, UpdateStatus: { State: "completed", StartedAt: "", Message: "" } }),
  );
  assert.ok(!serviceIntact(ca.key, { ...sealed, Spec: { ...sealed.Spec, Name: "evil" } }));
  assert.ok(!serviceIntact(ca.key, { ...sealed, SpecVersion: 3 }));
  assert.ok(!serviceIntact(other.key, sealed));
  assert.ok(serviceIntact(other.key, sealService(other.key, service)), "another CA's key, in turn");
  assert.ok(serviceIntact(ca.key, sealed));
  assert.ok(!serviceIntact(ca.key, service));
  const node = {
    ID: "n2",
    Spec: { Role: "worker", Labels: {}, Availability: "active" },
  } as unknown as NodeRecord;
  const worker = sealRole(ca.key, node);
  assert.ok(roleIntact(ca.key, worker));
  assert.ok(!roleIntact(ca.key, { ...worker, Spec: { ...worker.Spec, Role: "manager" } }), "self-promotion");
});

test("a sealed value bound to its record opens there only", () => {
  const sealed = seal(ca.key, "jewels", undefined, "secret/a");
  assert.equal(unseal(ca.key, sealed, undefined, "secret/a"), "jewels");
  assert.throws(() => unseal(ca.key, sealed, undefined, "config/b"), /does not open/);
  assert.throws(() => unseal(ca.key, sealed), /does not open/);
});
