/**
 * The overlay data plane on one node. Per overlay network with a container here: a network
 * namespace `berth-ov-<vni>` holding a bridge (br0, with the network's gateway address) and a
 * VXLAN device (vxlan0: the network's VNI, UDP 4789 from this node's address, no learning, ARP
 * answered from its neighbour table). A container's link is a veth pair whose other end is a
 * port of br0. Remote endpoints are programmed from the cluster's store, never learned from
 * traffic: per remote node a flood entry (broadcasts go to every node with the network), per
 * remote endpoint a forwarding entry (its MAC is behind its node) and a neighbour entry (its
 * address has that MAC).
 */
import { existsSync, readdirSync } from "node:fs";
import { KeyedMutex } from "../util/mutex.js";
import { bridgeBatchForce, ipBatch, ipBatchForce } from "./host-net.js";
import { parseSubnet } from "./ip.js";

export const VXLAN_PORT = 4789;
/** 1500 less VXLAN's 50 bytes of headers. */
export const OVERLAY_MTU = 1450;

export interface OverlaySpec {
  vni: number;
  subnet: string;
  gateway: string;
  mtu: number;
  /** This node's address: the VXLAN tunnels' local end. */
  localAddr: string;
}

export interface RemoteEndpoint {
  ip: string;
  mac: string;
  nodeAddr: string;
}

export const overlayNetns = (vni: number) => `berth-ov-${vni}`;

/** What is programmed in each overlay namespace, by this process (see `ensure`). */
const programmed = new Map<number, Map<string, RemoteEndpoint>>();
/**
 * One overlay's namespace is made, programmed and removed by one call at a time: a container
 * joining and the node's store pass both make it when they find none (two `netns add`, and the
 * second fails with "File exists"), and a removal racing a join would take away the namespace
 * the joining container was just plugged into.
 */
const perOverlay = new KeyedMutex();
const serially = <T>(vni: number, fn: () => Promise<T>) => perOverlay.run(String(vni), fn);

/**
 * The network's namespace, bridge and VXLAN device. A namespace left by an earlier daemon gets
 * a new VXLAN device: what was programmed on the old one is not known to this process.
 */
export function ensureOverlay(spec: OverlaySpec): Promise<void> {
  return serially(spec.vni, () => makeOverlay(spec));
}

async function makeOverlay(spec: OverlaySpec): Promise<void> {
  const ns = overlayNetns(spec.vni);
  if (existsSync(`/run/netns/${ns}`) && programmed.has(spec.vni)) return;
  const fresh = !existsSync(`/run/netns/${ns}`);
  const host = `vx-${spec.vni}`;
  const prefix = parseSubnet(spec.subnet).prefix;
  await ipBatchForce([`link del ${host}`]);
  if (!fresh) await ipBatchForce(["link del vxlan0"], ns);
  // Made in the host's namespace, so that its UDP socket is there (on the node's address), then
  // moved into the network's.
  await ipBatch([
    ...(fresh ? [`netns add ${ns}`] : []),
    `link add ${host} type vxlan id ${spec.vni} dstport ${VXLAN_PORT} local ${spec.localAddr} nolearning proxy`,
    `link set ${host} netns ${ns}`,
  ]);
  await ipBatch(
    [
      ...(fresh
        ? [
            "link set lo up",
            "link add br0 type bridge",
            `addr add ${spec.gateway}/${prefix} dev br0`,
            "link set br0 up",
          ]
        : []),
      `link set ${host} name vxlan0`,
      `link set vxlan0 mtu ${spec.mtu} master br0`,
      "link set vxlan0 up",
    ],
    ns,
  );
  programmed.set(spec.vni, new Map());
}

/**
 * The namespace and all in it, unless `inUse` (asked once no other call on this overlay is under
 * way) says a container of this node is on it still: one that joined since the caller looked.
 */
export function removeOverlay(vni: number, inUse: () => boolean): Promise<void> {
  return serially(vni, async () => {
    if (inUse()) return;
    programmed.delete(vni);
    // The VXLAN device first, by itself: a deleted namespace's devices go only when the kernel
    // gets round to tearing it down, and until then a join that follows (a task replaced on this
    // node) cannot make a device with the same VNI ("already exists").
    await ipBatchForce(["link del vxlan0"], overlayNetns(vni));
    await ipBatchForce([`netns del ${overlayNetns(vni)}`]);
  });
}

/** The VXLAN ids of the overlay namespaces on this node. */
export function overlaysHere(): number[] {
  if (!existsSync("/run/netns")) return [];
  return readdirSync("/run/netns")
    .filter((name) => /^berth-ov-\d+$/.test(name))
    .map((name) => Number(name.slice("berth-ov-".length)));
}

/** A container's end of a link: the veth's other end moved in as a port of br0. */
export async function plugIntoOverlay(vni: number, veth: string): Promise<void> {
  const ns = overlayNetns(vni);
  await ipBatch([`link set ${veth} netns ${ns}`]);
  await ipBatch([`link set ${veth} master br0`, `link set ${veth} up`], ns);
}

export async function unplugFromOverlay(vni: number, veth: string): Promise<void> {
  await ipBatchForce([`link del ${veth}`], overlayNetns(vni));
}

/**
 * Makes the namespace's forwarding and neighbour entries be exactly those of `remote`: new ones
 * added, gone ones removed (a node that died, a container that stopped elsewhere).
 */
export function programPeers(vni: number, remote: RemoteEndpoint[]): Promise<void> {
  return serially(vni, () => setPeers(vni, remote));
}

async function setPeers(vni: number, remote: RemoteEndpoint[]): Promise<void> {
  const ns = overlayNetns(vni);
  const was = programmed.get(vni);
  if (!was || !existsSync(`/run/netns/${ns}`)) return;
  const now = new Map(remote.map((e) => [`${e.ip}/${e.mac}/${e.nodeAddr}`, e]));
  const nodesBefore = new Set([...was.values()].map((e) => e.nodeAddr));
  const nodesNow = new Set(remote.map((e) => e.nodeAddr));
  const gone = [...was].filter(([k]) => !now.has(k)).map(([, e]) => e);
  const added = [...now].filter(([k]) => !was.has(k)).map(([, e]) => e);
  if (!gone.length && !added.length) return;
  const fdb = [
    ...gone.map((e) => `fdb del ${e.mac} dev vxlan0 self`),
    ...[...nodesBefore]
      .filter((a) => !nodesNow.has(a))
      .map((a) => `fdb del 00:00:00:00:00:00 dev vxlan0 dst ${a} self`),
    ...[...nodesNow]
      .filter((a) => !nodesBefore.has(a))
      .map((a) => `fdb append 00:00:00:00:00:00 dev vxlan0 dst ${a} self permanent`),
    ...added.map((e) => `fdb replace ${e.mac} dev vxlan0 dst ${e.nodeAddr} self permanent`),
  ];
  const neigh = [
    ...gone.filter((e) => !remote.some((r) => r.ip === e.ip)).map((e) => `neigh del ${e.ip} dev vxlan0`),
    ...added.map((e) => `neigh replace ${e.ip} lladdr ${e.mac} dev vxlan0 nud permanent`),
  ];
  await bridgeBatchForce(fdb, ns);
  await ipBatchForce(neigh, ns);
  programmed.set(vni, now);
}
