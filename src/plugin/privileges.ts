/**
 * The privileges a plugin asks for (what `docker plugin install` shows and the user grants), and
 * the check that a grant is exactly that: dockerd's computePrivileges/validatePrivileges, names
 * and values compared in any order.
 */
import { PrivilegesMismatch } from "./errors.js";
import type { PluginConfig, Privilege } from "./types.js";

export function requiredPrivileges(c: PluginConfig): Privilege[] {
  const out: Privilege[] = [];
  if (c.Network.Type !== "" && c.Network.Type !== "null" && c.Network.Type !== "bridge")
    out.push({ Name: "network", Description: "permissions to access a network", Value: [c.Network.Type] });
  if (c.IpcHost)
    out.push({
      Name: "host ipc namespace",
      Description: "allow access to host ipc namespace",
      Value: ["true"],
    });
  if (c.PidHost)
    out.push({
      Name: "host pid namespace",
      Description: "allow access to host pid namespace",
      Value: ["true"],
    });
  for (const m of c.Mounts)
    if (m.Source !== null) out.push({ Name: "mount", Description: "host path to mount", Value: [m.Source] });
  for (const d of c.Linux.Devices)
    if (d.Path !== null) out.push({ Name: "device", Description: "host device to access", Value: [d.Path] });
  if (c.Linux.AllowAllDevices)
    out.push({
      Name: "allow-all-devices",
      Description: "allow 'rwm' access to all devices",
      Value: ["true"],
    });
  if (c.Linux.Capabilities.length)
    out.push({
      Name: "capabilities",
      Description: "list of additional capabilities required",
      Value: [...c.Linux.Capabilities],
    });
  return out;
}

function canonical(list: Privilege[]): string[] {
  return list.map((p) => `${p.Name}=${[...(p.Value ?? [])].sort().join(",")}`).sort();
}

/** Throws unless `granted` is what `required` asks, no more and no less. */
export function checkPrivileges(required: Privilege[], grantedValue: unknown): void {
  // Go's encoder writes an empty grant as null.
  const granted = grantedValue === null || grantedValue === undefined ? [] : grantedValue;
  if (!Array.isArray(granted))
    throw new PrivilegesMismatch("the privileges granted must be a JSON array of {Name, Description, Value}");
  for (const g of granted)
    if (
      !g ||
      typeof g !== "object" ||
      typeof (g as Privilege).Name !== "string" ||
      !(Array.isArray((g as Privilege).Value) || (g as Privilege).Value === null)
    )
      throw new PrivilegesMismatch(
        "the privileges granted must be a JSON array of {Name, Description, Value}",
      );
  const want = canonical(required);
  const got = canonical(granted as Privilege[]);
  if (want.length !== got.length || want.some((w, i) => w !== got[i]))
    throw new PrivilegesMismatch(
      `incorrect privileges: the plugin asks for [${want.join("; ")}], the request grants [${got.join("; ")}]`,
    );
}
