/**
 * The container model of the Docker Engine API (v1.41–1.50), which is also how the engine keeps
 * its records: `inspect` returns a record almost as it is stored. Field names are Docker's.
 * See https://docs.docker.com/reference/api/engine/ (ContainerConfig, HostConfig, ContainerState).
 */

export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
  StartInterval?: number;
}

export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Healthcheck?: HealthConfig;
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  NetworkDisabled?: boolean;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
}

export interface RestartPolicy {
  Name: "" | "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount?: number;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface MountSpec {
  Type: "bind" | "volume" | "tmpfs" | "npipe" | "cluster";
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean };
  VolumeOptions?: {
    NoCopy?: boolean;
    Labels?: Record<string, string>;
    Subpath?: string;
    DriverConfig?: { Name?: string; Options?: Record<string, string> };
  };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface LogConfig {
  Type: string;
  Config: Record<string, string>;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface HostConfig {
  Binds: string[] | null;
  ContainerIDFile?: string;
  LogConfig: LogConfig;
  NetworkMode: string;
  PortBindings: Record<string, PortBinding[] | null> | null;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  VolumeDriver?: string;
  VolumesFrom: string[] | null;
  Mounts?: MountSpec[];
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  CgroupnsMode?: "private" | "host" | "";
  Dns: string[] | null;
  DnsOptions: string[] | null;
  DnsSearch: string[] | null;
  ExtraHosts: string[] | null;
  GroupAdd: string[] | null;
  IpcMode: string;
  Cgroup?: string;
  Links?: string[] | null;
  OomScoreAdj: number;
  PidMode: string;
  Privileged: boolean;
  PublishAllPorts: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  StorageOpt?: Record<string, string>;
  Tmpfs?: Record<string, string>;
  UTSMode: string;
  UsernsMode: string;
  ShmSize: number;
  Sysctls?: Record<string, string>;
  Runtime?: string;
  Isolation?: string;
  CpuShares: number;
  Memory: number;
  NanoCpus: number;
  CgroupParent: string;
  BlkioWeight: number;
  BlkioWeightDevice?: { Path: string; Weight: number }[] | null;
  BlkioDeviceReadBps?: { Path: string; Rate: number }[] | null;
  BlkioDeviceWriteBps?: { Path: string; Rate: number }[] | null;
  BlkioDeviceReadIOps?: { Path: string; Rate: number }[] | null;
  BlkioDeviceWriteIOps?: { Path: string; Rate: number }[] | null;
  CpuPeriod: number;
  CpuQuota: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus: string;
  CpusetMems: string;
  Devices: DeviceMapping[] | null;
  DeviceCgroupRules: string[] | null;
  MemoryReservation: number;
  MemorySwap: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  PidsLimit: number | null;
  Ulimits: Ulimit[] | null;
  Init?: boolean | null;
  MaskedPaths?: string[];
  ReadonlyPaths?: string[];
}

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface Health {
  Status: "starting" | "healthy" | "unhealthy" | "none";
  FailingStreak: number;
  Log: HealthLogEntry[];
}

export type ContainerStatus =
  | "created"
  | "running"
  | "paused"
  | "restarting"
  | "removing"
  | "exited"
  | "dead";

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: Health;
}

export interface EndpointIPAMConfig {
  IPv4Address?: string;
  IPv6Address?: string;
  LinkLocalIPs?: string[];
}

export interface EndpointSettings {
  IPAMConfig: EndpointIPAMConfig | null;
  Links: string[] | null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DriverOpts: Record<string, string> | null;
  DNSNames?: string[] | null;
}

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  Ports: Record<string, PortBinding[] | null>;
  HairpinMode: boolean;
  LinkLocalIPv6Address: string;
  LinkLocalIPv6PrefixLen: number;
  SecondaryIPAddresses: null;
  SecondaryIPv6Addresses: null;
  EndpointID: string;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

export interface MountPoint {
  Type: "bind" | "volume" | "tmpfs";
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

/** What `POST /containers/create` takes. */
export interface CreateBody extends Partial<Omit<ContainerConfig, "Image">> {
  Image: string;
  HostConfig?: Partial<HostConfig>;
  NetworkingConfig?: { EndpointsConfig?: Record<string, Partial<EndpointSettings>> };
  Platform?: string;
}

/** A mount point plus what a start needs that inspect does not show. */
export interface PlannedMount extends MountPoint {
  /** Do not fill an empty volume from the image. */
  NoCopy?: boolean;
  /** tmpfs options ("size=64m,mode=1777"). */
  TmpfsOptions?: string;
  /** A volume driver's volume mounted for the running container: the id its unmount must name. */
  MountId?: string;
}

/** The engine's record of a container: Docker's inspect document plus a few private fields. */
export interface ContainerRecord {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  Image: string;
  ResolvConfPath: string;
  HostnamePath: string;
  HostsPath: string;
  LogPath: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  MountLabel: string;
  ProcessLabel: string;
  AppArmorProfile: string;
  ExecIDs: string[] | null;
  HostConfig: HostConfig;
  GraphDriver: { Name: string; Data: Record<string, string> | null };
  Mounts: MountPoint[];
  Config: ContainerConfig;
  NetworkSettings: NetworkSettings;
  /** Private: the image config digest's chain top (the snapshot parent), and lifecycle flags. */
  Berth: {
    chainId: string;
    /** Set when the user stopped it (unless-stopped and always restart policies read it). */
    manuallyStopped: boolean;
    /** The snapshot exists (it is made at first start, so that a created container costs one file). */
    snapshotPrepared: boolean;
    /** Every mount, with what start needs beyond inspect's Mounts (tmpfs options, nocopy). */
    mounts: PlannedMount[];
    /** NetworkingConfig.EndpointsConfig of the create request: networks beyond the first, aliases, --ip. */
    networkingConfig: Record<string, Partial<EndpointSettings>>;
  };
}
