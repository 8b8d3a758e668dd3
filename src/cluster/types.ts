/**
 * The cluster's objects in the Docker Engine API's shapes (Swarm, Node, Service, Task): what the
 * store keeps and what the API returns, so that no translation sits between the two.
 */
import type { NodeRole } from "./ca.js";

export interface Meta {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
}

export interface SwarmSpec {
  Name: string;
  Labels: Record<string, string>;
  Orchestration: { TaskHistoryRetentionLimit: number };
  Raft: {
    SnapshotInterval: number;
    KeepOldSnapshots: number;
    LogEntriesForSlowFollowers: number;
    ElectionTick: number;
    HeartbeatTick: number;
  };
  Dispatcher: { HeartbeatPeriod: number };
  CAConfig: { NodeCertExpiry: number };
  TaskDefaults: Record<string, unknown>;
  EncryptionConfig: { AutoLockManagers: boolean };
}

/** The cluster's own record. Join tokens are sealed: only a manager (holding the CA key) reads them. */
export interface ClusterRecord {
  ID: string;
  CreatedAt: string;
  UpdatedAt: string;
  Spec: SwarmSpec;
  /** The CA certificate (public): every node checks the others' certificates against it. */
  CACert: string;
  SealedTokens: string;
  /** Autolock: the unlock key, sealed like the tokens; absent when autolock is off. */
  SealedUnlockKey?: string;
  /** Berth's default placement strategy (`swarm init --strategy`). */
  Strategy: string;
  DefaultAddrPool: string[];
  SubnetSize: number;
  DataPathPort: number;
}

export interface JoinTokens {
  Worker: string;
  Manager: string;
}

export type Availability = "active" | "pause" | "drain";

export interface NodeSpec {
  Name?: string;
  Labels: Record<string, string>;
  Role: NodeRole;
  Availability: Availability;
}

export interface NodeRecord extends Meta {
  Spec: NodeSpec;
  Description: {
    Hostname: string;
    Platform: { Architecture: string; OS: string };
    Resources: { NanoCPUs: number; MemoryBytes: number };
    Engine: {
      EngineVersion: string;
      Labels: Record<string, string>;
      Plugins: Array<{ Type: string; Name: string }>;
    };
    TLSInfo: { TrustRoot: string; CertIssuerSubject: string; CertIssuerPublicKey: string };
  };
  /** The address other nodes reach this one at. */
  Addr: string;
  /** The port of its listener for other nodes (2377 unless --listen-addr says otherwise). */
  PeerPort?: number;
  /** etcd member id when this node is a manager with an etcd member of its own. */
  MemberID?: string;
  /** A manager's MAC over its role (integrity.ts): only a manager makes a node a manager. */
  RoleSeal?: string;
}

/** A swarm-scoped overlay network: its spec as given, and what the managers allocated for it. */
export interface OverlayRecord extends Meta {
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    DriverConfiguration: { Name: "overlay"; Options: Record<string, string> };
    IPAMOptions: { Driver: { Name: "default" }; Configs: Array<{ Subnet: string; Gateway: string }> };
    Attachable: boolean;
    Internal: boolean;
    Ingress?: boolean;
    Scope: "swarm";
  };
  /** The VXLAN network identifier: unique in the cluster (an allocation key in the store). */
  VNI: number;
}

/**
 * An endpoint on an overlay: a container's address there, on the node that runs it. Kept on that
 * node's lease: a node that dies takes its endpoints with it, everywhere.
 */
export interface EndpointRecord {
  NetworkID: string;
  NodeID: string;
  /** The node's address: where VXLAN packets for this endpoint go. */
  NodeAddr: string;
  IP: string;
  MAC: string;
  ContainerID: string;
  /** The container's name, and the names it is also known by on this network. */
  Name: string;
  Aliases: string[];
  ServiceID?: string;
  ServiceName?: string;
  /** A task's endpoint receives connections (through its service's VIP) only while it serves. */
  Serving: boolean;
}

export interface Mount {
  Type: "bind" | "volume" | "tmpfs";
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
}

/** A secret or config as a task's container sees it: a file, by reference to the object. */
export interface FileReference {
  File?: { Name: string; UID?: string; GID?: string; Mode?: number };
  SecretID?: string;
  SecretName?: string;
  ConfigID?: string;
  ConfigName?: string;
}

/** A secret or a config. Its data is sealed in the store (sealing.ts); configs show it back. */
export interface SecretRecord extends Meta {
  Spec: { Name: string; Labels: Record<string, string>; Data?: string; Templating?: { Name: string } };
  Sealed: string;
}

export interface ContainerSpec {
  Image: string;
  Secrets?: FileReference[];
  Configs?: FileReference[];
  Labels?: Record<string, string>;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  Mounts?: Mount[];
  StopSignal?: string;
  StopGracePeriod?: number;
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    Retries?: number;
    StartPeriod?: number;
  };
  Init?: boolean;
  TTY?: boolean;
  OpenStdin?: boolean;
  ReadOnly?: boolean;
  Isolation?: string;
}

export interface Resources {
  NanoCPUs?: number;
  MemoryBytes?: number;
  Pids?: number;
}

export interface RestartPolicy {
  Condition?: "none" | "on-failure" | "any";
  Delay?: number;
  MaxAttempts?: number;
  Window?: number;
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: { Limits?: Resources; Reservations?: Resources };
  RestartPolicy?: RestartPolicy;
  Placement?: {
    Constraints?: string[];
    Preferences?: Array<{ Spread?: { SpreadDescriptor: string } }>;
    MaxReplicas?: number;
    Platforms?: Array<{ Architecture?: string; OS?: string }>;
  };
  ForceUpdate?: number;
  Runtime?: string;
  Networks?: Array<{ Target: string; Aliases?: string[] }>;
  LogDriver?: { Name: string; Options?: Record<string, string> };
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: "pause" | "continue" | "rollback";
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: "stop-first" | "start-first";
}

export interface ServiceSpec {
  Name: string;
  Labels?: Record<string, string>;
  TaskTemplate: TaskSpec;
  /** Deprecated in the API (TaskTemplate.Networks replaces it), still honoured: docker-py sends it. */
  Networks?: Array<{ Target: string; Aliases?: string[] }>;
  Mode: {
    Replicated?: { Replicas?: number };
    Global?: Record<string, never>;
    /** Tasks that run to completion: TotalCompletions of them, MaxConcurrent at a time. */
    ReplicatedJob?: { MaxConcurrent?: number; TotalCompletions?: number };
    /** One task to completion on each node. */
    GlobalJob?: Record<string, never>;
  };
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: { Mode?: "vip" | "dnsrr"; Ports?: PortConfig[] };
}

export interface PortConfig {
  Name?: string;
  Protocol?: "tcp" | "udp" | "sctp";
  TargetPort: number;
  PublishedPort?: number;
  PublishMode?: "ingress" | "host";
}

export interface ServiceRecord extends Meta {
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  Endpoint: {
    Spec: { Mode?: string; Ports?: PortConfig[] };
    Ports?: PortConfig[];
    /** vip mode: the service's address on each of its overlay networks ("10.0.1.2/24"). */
    VirtualIPs?: Array<{ NetworkID: string; Addr: string }>;
  };
  UpdateStatus?: {
    State:
      | "updating"
      | "paused"
      | "completed"
      | "rollback_started"
      | "rollback_paused"
      | "rollback_completed";
    StartedAt: string;
    CompletedAt?: string;
    Message: string;
  };
  /** Bumped on every change of Spec: a task made from an older one is out of date. */
  SpecVersion: number;
  /** A manager's MAC over its specs (integrity.ts): the leader makes no task from a forged one. */
  Integrity?: string;
}

export type TaskState =
  | "new"
  | "pending"
  | "assigned"
  | "accepted"
  | "preparing"
  | "starting"
  | "running"
  | "complete"
  | "shutdown"
  | "failed"
  | "rejected"
  | "orphaned"
  | "remove";

/** States after which a task never runs again. */
export const TERMINAL: ReadonlySet<TaskState> = new Set([
  "complete",
  "shutdown",
  "failed",
  "rejected",
  "orphaned",
  "remove",
]);

export interface TaskRecord extends Meta {
  Labels: Record<string, string>;
  Spec: TaskSpec;
  ServiceID: string;
  /** Replicated services: the replica's number (1…); global ones have none. */
  Slot?: number;
  NodeID?: string;
  Status: {
    Timestamp: string;
    State: TaskState;
    Message: string;
    Err?: string;
    ContainerStatus?: { ContainerID: string; PID: number; ExitCode: number };
    PortStatus: Record<string, unknown>;
  };
  /** "ready": made by a stop-first update, started once the task it replaces has stopped. */
  DesiredState: "running" | "ready" | "shutdown" | "remove";
  /** The service's SpecVersion the task was made from. */
  SpecVersion: number;
  /** When it was first seen running: an update watches it for its monitor period from then. */
  RunningSince?: string;
  /** The leader's signature over what it runs and where (integrity.ts): agents check it. */
  Signature?: string;
}
