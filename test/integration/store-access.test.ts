/**
 * The embedded store's role-based access (store-access.ts) on a real etcd member, as a manager
 * starts it: a manager's login does everything, a worker's reads the swarm and writes only its
 * alive key, a demoted node loses the root role at once, a removed node's password opens nothing,
 * and a certificate with a node's name in it, without a login, opens nothing once access control is on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createCA, createKeyAndRequest, signRequest } from "../../src/cluster/ca.js";
import { clientURL, EmbeddedEtcd } from "../../src/cluster/embedded-etcd.js";
import { EtcdClient, type EtcdLogin, EtcdRefused } from "../../src/cluster/etcd.js";
import {
  admitStoreUser,
  enableStoreAccess,
  removeStoreUser,
  setStoreRole,
  storePassword,
} from "../../src/cluster/store-access.js";

const dir = mkdtempSync(join(tmpdir(), "berth-store-access-"));
const ca = createCA();
const { key, csr } = createKeyAndRequest();
const subject = { clusterId: "c0ffee", nodeId: "manager1", role: "manager" as const, ips: ["127.0.0.1"] };
const nodeCert = signRequest(ca, csr, subject);
const storeCert = signRequest(ca, csr, { ...subject, storeClient: true });
const files = { ca: join(dir, "ca.pem"), cert: join(dir, "node.pem"), key: join(dir, "node.key") };
let member: EmbeddedEtcd;
let admin: EtcdLogin;
const clients: EtcdClient[] = [];

/** A client of the member with the store certificate (or the node's) and a login. */
function client(login?: EtcdLogin, cert = storeCert): EtcdClient {
  const c = new EtcdClient([clientURL("127.0.0.1")], { ca: ca.cert, cert, key }, login);
  clients.push(c);
  return c;
}

async function refused(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => err instanceof EtcdRefused && pattern.test(err.message));
}

before(async () => {
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.cert, nodeCert);
  writeFileSync(files.key, key, { mode: 0o600 });
  member = new EmbeddedEtcd({
    name: "manager1",
    addr: "127.0.0.1",
    dataDir: join(dir, "etcd"),
    files,
    log: () => {},
  });
  await member.start();
  admin = await enableStoreAccess(client(), "manager1", ca.key);
});

after(async () => {
  for (const c of clients) c.close();
  await member?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("once on, the store takes no request without a login, even with a node's named certificate", async () => {
  await refused(client().get("/berth/cluster"), /permission denied|user name is empty/);
  // Over gRPC etcd takes a certificate's name as a user name when no token comes: a node's id
  // is no store user (those are node-<id>), so its certificate alone opens nothing.
  await refused(client(undefined, nodeCert).get("/berth/cluster"), /permission denied|user name is empty/);
  await refused(client({ user: admin.user, password: "wrong" }).get("/berth/cluster"), /sign-in/);
});

test("a manager's login writes, grants and adds; a worker's reads the swarm and writes only its alive key", async () => {
  const root = client(admin);
  await root.put("/berth/tasks/t1", "{}");
  const worker = await admitStoreUser(root, "worker1", "worker", ca.key);
  const w = client(worker);
  assert.equal((await w.list("/berth/tasks/")).kvs.length, 1);
  const lease = await w.grantLease(5);
  await w.put("/berth/alive/worker1", "10.0.0.2", lease);
  assert.ok(await w.keepAlive(lease));
  await refused(w.put("/berth/alive/worker2", "x"), /permission denied/);
  await refused(w.put("/berth/tasks/t1", "{}"), /permission denied/);
  await refused(w.delete("/berth/", true), /permission denied/);
  await refused(w.txn([], [{ put: { key: "/berth/nodes/worker1", value: "{}" } }]), /permission denied/);
  await refused(w.get("/elsewhere"), /permission denied/);
  await refused(w.addMember("https://127.0.0.9:2380"), /permission denied/);
  await refused(w.addUser("evil", "x"), /permission denied/);
  await refused(w.grantPermission("worker-worker1", "READWRITE", "/", true), /permission denied/);
  // Its watch sees the swarm's changes.
  const seen: string[] = [];
  // From the revision after the read: a change made before the watch is open is not missed.
  const { revision } = await w.list("/berth/tasks/");
  const stop = w.watch("/berth/tasks/", revision + 1, (events) => seen.push(...events.map((e) => e.kv.key)));
  await root.put("/berth/tasks/t2", "{}");
  for (let i = 0; i < 50 && !seen.includes("/berth/tasks/t2"); i++)
    await new Promise((r) => setTimeout(r, 100));
  stop();
  assert.ok(seen.includes("/berth/tasks/t2"), "the worker's watch saw the new task");
});

test("promote gives the root role, demote takes it back at once; a node admitted again keeps its password", async () => {
  const root = client(admin);
  const first = await admitStoreUser(root, "node2", "worker", ca.key);
  const asWorker = client(first);
  await refused(asWorker.put("/berth/tasks/x", "{}"), /permission denied/);
  await setStoreRole(root, "node2", "manager");
  // The role changed under the open token: it signs in again and may now write.
  await asWorker.put("/berth/tasks/x", "{}");
  await setStoreRole(root, "node2", "worker");
  await refused(asWorker.put("/berth/tasks/x", "{}"), /permission denied/);
  const second = await admitStoreUser(root, "node2", "worker", ca.key);
  assert.deepEqual(second, first);
  assert.ok(await client(first).get("/berth/tasks/x"));
  // Another cluster's CA gives another password.
  assert.notEqual(storePassword(createCA().key, "node2"), first.password);
});

test("a user already there is admitted again in full: what its old role gave is taken, what it lost is given", async () => {
  const root = client(admin);
  const login = await admitStoreUser(root, "again", "manager", ca.key);
  const c = client(login);
  await c.put("/berth/tasks/by-manager", "{}");
  // Admitted again as a worker: the root role it held goes.
  assert.deepEqual(await admitStoreUser(root, "again", "worker", ca.key), login);
  await refused(c.put("/berth/tasks/by-manager", "{}"), /permission denied/);
  // removeStoreUser takes the role first: a removal cut short there leaves the user alone,
  // and its next admission gives the role back.
  await root.deleteRole("worker-again");
  await refused(c.get("/berth/none"), /permission denied/);
  await admitStoreUser(root, "again", "worker", ca.key);
  await c.put("/berth/alive/again", "10.0.0.3", await c.grantLease(5));
  await refused(c.put("/berth/tasks/t1", "{}"), /permission denied/);
  await removeStoreUser(root, "again");
});

test("a removed node's login opens nothing; removing it twice changes nothing", async () => {
  const root = client(admin);
  const login = await admitStoreUser(root, "gone", "worker", ca.key);
  const c = client(login);
  assert.equal(await c.get("/berth/none"), undefined);
  await removeStoreUser(root, "gone");
  await removeStoreUser(root, "gone");
  await refused(c.get("/berth/none"), /sign-in|user name/);
});
