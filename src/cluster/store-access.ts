/**
 * Who may do what in the embedded store: etcd's role-based access, so that a worker's
 * credentials cannot change the swarm. Every node signs in as its own etcd user:
 *  - a manager's user holds etcd's `root` role (it runs the swarm, adds members, admits nodes);
 *  - a worker's user holds a role of its own that reads the swarm's keys and writes one key, its
 *    `alive` key on its lease. Everything else a worker reports (its tasks' states, its
 *    description, its overlay endpoints and addresses) goes through a manager, which checks that
 *    the worker speaks of its own (node-reports.ts).
 * A store of the user's own (--cluster-store) keeps the access its owner set.
 */
import { hkdfSync, randomBytes } from "node:crypto";
import type { NodeRole } from "./ca.js";
import type { EtcdClient, EtcdLogin } from "./etcd.js";
import { KEYS } from "./store.js";

export const storeUser = (nodeId: string) => `node-${nodeId}`;
const workerRole = (nodeId: string) => `worker-${nodeId}`;

/**
 * A node's password, derived from the CA key: every manager gives a node the same one, so a
 * node that asks again (a promotion, an answer it did not take) never holds a stale one. Only
 * managers hold the CA key, and they hold the root role anyway.
 */
export function storePassword(caKey: string, nodeId: string): string {
  return Buffer.from(hkdfSync("sha256", caKey, "berth-cluster", `store password ${nodeId}`, 24)).toString(
    "base64url",
  );
}

/**
 * A new store's access, made by its first manager (signed in by certificate alone, before
 * access control is on): etcd's root user (its password thrown away: nobody signs in as it),
 * the manager's own user, then access control on. Returns the manager's login.
 */
export async function enableStoreAccess(etcd: EtcdClient, nodeId: string, caKey: string): Promise<EtcdLogin> {
  await etcd.addUser("root", randomBytes(24).toString("base64url"));
  await etcd.grantRole("root", "root");
  const login = await admitStoreUser(etcd, nodeId, "manager", caKey);
  await etcd.enableAuth();
  return login;
}

/** The user a node signs in as, in its role (made when it is not there yet). */
export async function admitStoreUser(
  etcd: EtcdClient,
  nodeId: string,
  role: NodeRole,
  caKey: string,
): Promise<EtcdLogin> {
  const user = storeUser(nodeId);
  const password = storePassword(caKey, nodeId);
  // Tried rather than looked up: the list of users grows with the swarm, and a join is asked
  // for by every node.
  const fresh = await etcd.addUser(user, password).then(() => true, alreadyThere);
  await setStoreRole(etcd, nodeId, role, fresh);
  return { user, password };
}

/**
 * Gives a node's user what its role may do, and takes away what the other role could. A user
 * just made (`fresh`) holds nothing to take away: the revoke and delete would only fail, and
 * each failing one is still a proposal through the store's log, at every join.
 */
export async function setStoreRole(
  etcd: EtcdClient,
  nodeId: string,
  role: NodeRole,
  fresh = false,
): Promise<void> {
  const user = storeUser(nodeId);
  const own = workerRole(nodeId);
  if (role === "manager") {
    await etcd.grantRole(user, "root");
    if (!fresh) await etcd.deleteRole(own).catch(absent);
    return;
  }
  if (!fresh) {
    await etcd.revokeRole(user, "root").catch(absent);
    await etcd.deleteRole(own).catch(absent);
  }
  await etcd.addRole(own);
  await etcd.grantPermission(own, "READ", "/berth/", true);
  await etcd.grantPermission(own, "READWRITE", KEYS.alive + nodeId, false);
  await etcd.grantRole(user, own);
}

/** A node removed from the swarm: its user and role go, so its password opens nothing. */
export async function removeStoreUser(etcd: EtcdClient, nodeId: string): Promise<void> {
  // The role first: a removal cut short between the two leaves a user, which the next
  // admission of that node finds and sets anew (a role left without its user would make that
  // admission's fresh user fail to add it).
  await etcd.deleteRole(workerRole(nodeId)).catch(absent);
  await etcd.deleteUser(storeUser(nodeId)).catch(absent);
}

/** The user is there already (admitted before): false, it is not fresh. Any other refusal stands. */
function alreadyThere(err: Error): false {
  if (!/already exists/.test(err.message)) throw err;
  return false;
}

/** What is to be taken away is not there: nothing to do. Any other refusal stands. */
function absent(err: Error): void {
  if (!/not found|is not granted/.test(err.message)) throw err;
}
