/**
 * What the engine needs from the network part (src/network): connect a starting container to
 * its networks, and take it all back when it stops. The engine handles the modes that need no
 * network of their own (none, host, container:<id>).
 */
import type { EndpointSettings, NetworkSettings, PortBinding } from "./docker-types.js";

export interface AttachRequest {
  containerId: string;
  /** "/name" as Docker keeps it. */
  name: string;
  hostname: string;
  domainname: string;
  /** "bridge", "default" or a user network's name or id. */
  networkMode: string;
  /** Extra networks and per-network settings (aliases, --ip) from NetworkingConfig. */
  endpoints: Record<string, Partial<EndpointSettings>>;
  portBindings: Record<string, PortBinding[] | null>;
  publishAllPorts: boolean;
  exposedPorts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  /** The container's labels (a swarm task's say which service it serves). */
  labels: Record<string, string>;
}

export interface Attachment {
  /** The network namespace the container joins. */
  netnsPath: string;
  settings: NetworkSettings;
  /** Contents for the container's /etc/hosts, /etc/resolv.conf and /etc/hostname. */
  hosts: string;
  resolvConf: string;
}

export interface NetworkProvider {
  /** The network's id and name; NotFound (docker's "network X not found") when there is none. */
  describeNetwork(nameOrId: string): { id: string; name: string; builtin: boolean };
  attach(request: AttachRequest): Promise<Attachment>;
  /** Releases everything the container holds (veths, leases, rules, its netns). */
  detach(containerId: string): Promise<void>;
  /** At daemon start: release what containers that no longer run still hold. */
  reconcile(liveContainerIds: Set<string>): Promise<void>;
}
