/**
 * A volume driver other than "local": what the volume store asks of one (Docker's
 * docker.volumedriver/1.0 verbs). The plugin part provides them; the daemon hands the store a
 * lookup, so that volumes know nothing of plugins.
 */

export interface DriverVolume {
  /** Where the volume's data is on the host, as far as can be said without mounting it. */
  Mountpoint: string;
  Status?: Record<string, unknown>;
  CreatedAt?: string;
}

/** A directory `path` (relative) inside the host tree `root`, which the driver controls. */
export interface VolumeLocation {
  root: string;
  path: string;
}

export interface VolumeDriver {
  /** The driver's name as volumes record it (a plugin's full name: "vieux/sshfs:latest"). */
  readonly name: string;
  create(volume: string, options: Record<string, string>): Promise<void>;
  remove(volume: string): Promise<void>;
  /**
   * Mounts the volume for one use (`id`, unique per container start). The answer is a tree of
   * the driver's own on the host and the volume's directory in it: the store resolves that path
   * inside the tree (never outside, whatever the driver wrote there) and binds what it found.
   * Each mount is undone by an unmount with its id.
   */
  mount(volume: string, id: string): Promise<VolumeLocation>;
  unmount(volume: string, id: string): Promise<void>;
  get(volume: string): Promise<DriverVolume>;
  /** The volumes the driver has (some perhaps made before, or by another daemon). */
  list(): Promise<{ Name: string; Mountpoint: string }[]>;
  /** "local" or "global" (Capabilities.Scope; "local" when the driver does not say). */
  scope(): Promise<"local" | "global">;
}

/** The drivers other than "local" that a daemon has. */
export interface VolumeDrivers {
  /** The driver of a name; NotFound for a name that is no driver, a Conflict for a disabled one. */
  get(driver: string): VolumeDriver;
  /** Every driver that can answer now (enabled volume plugins). */
  all(): VolumeDriver[];
}
