/**
 * An enabled plugin as a volume driver: the docker.volumedriver/1.0 calls on its socket
 * (VolumeDriver.Create/Remove/Mount/Unmount/Path/Get/List/Capabilities, daemon/volume/drivers),
 * and its answers treated as hostile. A Mountpoint must be an absolute path with no "..", under
 * the plugin's PropagatedMount when it has one (else inside its root file system). The volume
 * store then resolves it inside that tree on the host (the kernel's RESOLVE_IN_ROOT) and binds
 * what it found: whatever symlink the plugin puts there, nothing outside its tree is reachable.
 */
import { join } from "node:path";
import type { DriverVolume, VolumeDriver, VolumeLocation } from "../volume/volume-driver.js";
import { callPlugin } from "./client.js";
import { PluginCallFailed, PluginMethodMissing } from "./errors.js";
import type { Plugin } from "./types.js";

/** dockerd's timeouts for the volume calls (volume/drivers/proxy.go). */
const LONG_CALL_MS = 2 * 60_000;
const SHORT_CALL_MS = 60_000;

/** Where a Mountpoint answer lies: in the propagated mount, or in the plugin's root file system. */
export interface ScopedMountpoint {
  tree: "propagated" | "rootfs";
  /** The path relative to that tree ("" for its top). */
  relative: string;
}

/** Checks a Mountpoint a plugin answered and says where it lies; PluginCallFailed if it escapes. */
export function scopeMountpoint(
  method: string,
  propagatedMount: string,
  mountpoint: unknown,
): ScopedMountpoint {
  const refuse = (why: string) =>
    new PluginCallFailed(
      `${method}: the plugin answered the mountpoint ${JSON.stringify(mountpoint)}, ${why}`,
    );
  if (typeof mountpoint !== "string" || mountpoint === "") throw refuse("which is not a path");
  if (!mountpoint.startsWith("/")) throw refuse("which is not an absolute path");
  if (mountpoint.includes("\0")) throw refuse("which holds a NUL byte");
  const parts = mountpoint.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse('which climbs with ".."');
  const clean = `/${parts.join("/")}`;
  if (!propagatedMount) return { tree: "rootfs", relative: parts.join("/") };
  if (clean !== propagatedMount && !clean.startsWith(`${propagatedMount}/`))
    throw refuse(`which is outside its propagated mount ${propagatedMount}`);
  return { tree: "propagated", relative: clean.slice(propagatedMount.length).replace(/^\//, "") };
}

/** A Get/List volume entry from a reply: its Mountpoint (as the plugin said it), Status, CreatedAt. */
function driverVolume(
  method: string,
  value: unknown,
): { Mountpoint: string; Status?: Record<string, unknown>; CreatedAt?: string } {
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new PluginCallFailed(`${method}: the plugin's answer has no Volume object`);
  const v = value as Record<string, unknown>;
  return {
    Mountpoint: typeof v["Mountpoint"] === "string" ? (v["Mountpoint"] as string) : "",
    ...(v["Status"] && typeof v["Status"] === "object" && !Array.isArray(v["Status"])
      ? { Status: v["Status"] as Record<string, unknown> }
      : {}),
    ...(typeof v["CreatedAt"] === "string" ? { CreatedAt: v["CreatedAt"] as string } : {}),
  };
}

export interface PluginVolumeDriverOptions {
  plugin: Plugin;
  /** The plugin's socket on the host. */
  socketPath: string;
  rootfs: string;
  propagatedMount: string;
}

export class PluginVolumeDriver implements VolumeDriver {
  readonly name: string;

  constructor(private readonly o: PluginVolumeDriverOptions) {
    this.name = o.plugin.Name;
  }

  private call(method: string, body: unknown, timeoutMs = SHORT_CALL_MS) {
    return callPlugin(this.o.socketPath, `VolumeDriver.${method}`, body, timeoutMs);
  }

  async create(volume: string, options: Record<string, string>): Promise<void> {
    await this.call("Create", { Name: volume, Opts: options }, LONG_CALL_MS);
  }

  async remove(volume: string): Promise<void> {
    await this.call("Remove", { Name: volume });
  }

  /** The host path (for display) of a Mountpoint answer, or "" when it escapes. */
  hostPath(method: string, mountpoint: string): string {
    if (!mountpoint) return "";
    try {
      const s = scopeMountpoint(method, this.o.plugin.Config.PropagatedMount, mountpoint);
      return join(s.tree === "propagated" ? this.o.propagatedMount : this.o.rootfs, s.relative);
    } catch {
      return "";
    }
  }

  async mount(volume: string, id: string): Promise<VolumeLocation> {
    const reply = await this.call("Mount", { Name: volume, ID: id }, LONG_CALL_MS);
    try {
      const scoped = scopeMountpoint(
        "VolumeDriver.Mount",
        this.o.plugin.Config.PropagatedMount,
        reply["Mountpoint"],
      );
      return {
        root: scoped.tree === "propagated" ? this.o.propagatedMount : this.o.rootfs,
        path: scoped.relative || ".",
      };
    } catch (err) {
      // Each Mount is mirrored by an Unmount, also the one Berth refused to use.
      await this.call("Unmount", { Name: volume, ID: id }).catch(() => {});
      throw err;
    }
  }

  async unmount(volume: string, id: string): Promise<void> {
    await this.call("Unmount", { Name: volume, ID: id });
  }

  /** The volume as the plugin describes it; a plugin without Get (older ones) is asked its Path. */
  async get(volume: string): Promise<DriverVolume> {
    let reply: Record<string, unknown>;
    try {
      reply = await this.call("Get", { Name: volume });
    } catch (err) {
      if (err instanceof PluginMethodMissing) return { Mountpoint: await this.path(volume) };
      throw err;
    }
    const v = driverVolume("VolumeDriver.Get", reply["Volume"]);
    return { ...v, Mountpoint: this.hostPath("VolumeDriver.Get", v.Mountpoint) };
  }

  async path(volume: string): Promise<string> {
    const reply = await this.call("Path", { Name: volume });
    return this.hostPath(
      "VolumeDriver.Path",
      typeof reply["Mountpoint"] === "string" ? (reply["Mountpoint"] as string) : "",
    );
  }

  async list(): Promise<{ Name: string; Mountpoint: string }[]> {
    const reply = await this.call("List", {});
    const volumes = reply["Volumes"];
    if (volumes === undefined || volumes === null) return [];
    if (!Array.isArray(volumes)) throw new PluginCallFailed("VolumeDriver.List: Volumes is not an array");
    return volumes.flatMap((v) => {
      const name = v && typeof v === "object" ? (v as Record<string, unknown>)["Name"] : undefined;
      if (typeof name !== "string") return [];
      return [
        {
          Name: name,
          Mountpoint: this.hostPath("VolumeDriver.List", driverVolume("VolumeDriver.List", v).Mountpoint),
        },
      ];
    });
  }

  /** The driver's scope ("local" or "global"); "local" when it does not say (dockerd's default). */
  async scope(): Promise<"local" | "global"> {
    try {
      const reply = await this.call("Capabilities", {});
      const caps = reply["Capabilities"] as Record<string, unknown> | undefined;
      const scope = typeof caps?.["Scope"] === "string" ? (caps["Scope"] as string).toLowerCase() : "";
      return scope === "global" ? "global" : "local";
    } catch {
      return "local";
    }
  }
}
