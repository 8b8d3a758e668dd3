/**
 * What the network part needs of the cluster for overlay networks (implemented by the cluster's
 * node side, src/cluster/overlay-node.ts): the swarm's networks, addresses from the cluster's
 * allocator, and the endpoints this node publishes for the others to reach.
 */
import type { NetworkRecord } from "./network-store.js";

export interface OverlayEndpoint {
  networkId: string;
  ip: string;
  mac: string;
  containerId: string;
  name: string;
  aliases: string[];
  labels: Record<string, string>;
}

export interface SwarmNetworks {
  /** A swarm network by name, id or unique id prefix. */
  find(nameOrId: string): NetworkRecord | undefined;
  all(): NetworkRecord[];
  /** This node's address: the VXLAN tunnels' local end. */
  localAddr(): string;
  allocate(networkId: string, owner: string, requested?: string): Promise<string>;
  release(networkId: string, owner: string, ip: string): Promise<void>;
  publish(endpoint: OverlayEndpoint): Promise<void>;
  withdraw(networkId: string, ip: string): Promise<void>;
  /** Addresses of `name` on these overlays: services (their VIP, or their tasks'), tasks.NAME, containers. */
  resolve(name: string, networkIds: string[]): string[] | undefined;
}
