/**
 * Records a worker cannot forge. Every node holds a certificate that etcd accepts, so a worker
 * can write the store; what it writes must not make another node run its code, nor make it a
 * manager:
 *  - a task is signed by the leader with the CA's key (ECDSA) over what decides what runs where
 *    (its id, service, node, slot and spec); every node's agent checks the signature against the
 *    CA certificate before it starts the task;
 *  - a service carries a MAC (HMAC-SHA256 under a key derived from the CA key, which only
 *    managers hold) over its specs; the leader makes no task from a service whose MAC fails;
 *  - a node's manager role carries a MAC too, set by the manager that promoted or admitted it: a
 *    manager hands the CA key only to a node whose role it can check so.
 * Values are serialised with sorted keys, so that a record read back verifies whatever order
 * its fields took on the way.
 */
import {
  createHmac,
  createPublicKey,
  hkdfSync,
  type KeyObject,
  sign,
  timingSafeEqual,
  verify,
} from "node:crypto";
import type { NodeRecord, ServiceRecord, TaskRecord } from "./types.js";

/** JSON with every object's keys sorted: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

const taskPayload = (t: TaskRecord) =>
  canonicalJson({ ID: t.ID, ServiceID: t.ServiceID, NodeID: t.NodeID, Slot: t.Slot, Spec: t.Spec });

/** The task with the leader's signature over what it runs and where. */
export function signTask(caKey: string, t: TaskRecord): TaskRecord {
  return { ...t, Signature: sign("sha256", Buffer.from(taskPayload(t)), caKey).toString("base64") };
}

/** The CA certificate's key, parsed once: every task a node starts is checked against it. */
let caKeyOf: { cert: string; key: KeyObject } | undefined;
function caPublicKey(caCert: string): KeyObject {
  if (caKeyOf?.cert !== caCert) caKeyOf = { cert: caCert, key: createPublicKey(caCert) };
  return caKeyOf.key;
}

export function taskSigned(caCert: string, t: TaskRecord): boolean {
  if (!t.Signature) return false;
  try {
    return verify(
      "sha256",
      Buffer.from(taskPayload(t)),
      caPublicKey(caCert),
      Buffer.from(t.Signature, "base64"),
    );
  } catch {
    return false;
  }
}

function mac(caKey: string, purpose: string, payload: string): string {
  const key = Buffer.from(hkdfSync("sha256", caKey, "berth-cluster", purpose, 32));
  return createHmac("sha256", key).update(payload).digest("base64");
}

function sameMac(a: string | undefined, b: string): boolean {
  return !!a && a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

const servicePayload = (s: ServiceRecord) =>
  canonicalJson({ ID: s.ID, Spec: s.Spec, PreviousSpec: s.PreviousSpec, SpecVersion: s.SpecVersion });

export function sealService(caKey: string, s: ServiceRecord): ServiceRecord {
  return { ...s, Integrity: mac(caKey, "service specs", servicePayload(s)) };
}

export function serviceIntact(caKey: string, s: ServiceRecord): boolean {
  return sameMac(s.Integrity, mac(caKey, "service specs", servicePayload(s)));
}

const rolePayload = (n: NodeRecord) => canonicalJson({ ID: n.ID, Role: n.Spec.Role });

/** A node record whose role a manager set (admitted or promoted it). */
export function sealRole(caKey: string, n: NodeRecord): NodeRecord {
  return { ...n, RoleSeal: mac(caKey, "node roles", rolePayload(n)) };
}

export function roleIntact(caKey: string, n: NodeRecord): boolean {
  return sameMac(n.RoleSeal, mac(caKey, "node roles", rolePayload(n)));
}
