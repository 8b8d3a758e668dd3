/** Writing a new user namespace's uid and gid maps from the parent namespace. */
import { writeFileSync } from "node:fs";
import { errorText, InvalidArgument, SystemError } from "../errors.js";
import type { IdMapping } from "../oci/runtime-spec.js";

export function formatIdMap(mappings: readonly IdMapping[], where: string): string {
  if (mappings.length === 0)
    throw new InvalidArgument(`${where}: a new user namespace needs at least one mapping`);
  return mappings
    .map((m, i) => {
      for (const key of ["containerID", "hostID", "size"] as const)
        if (!Number.isInteger(m[key]) || m[key] < 0)
          throw new InvalidArgument(`${where}[${i}].${key}: must be a non-negative integer`);
      if (m.size === 0) throw new InvalidArgument(`${where}[${i}].size: must be at least 1`);
      return `${m.containerID} ${m.hostID} ${m.size}\n`;
    })
    .join("");
}

export function writeIdMaps(pid: number, uidMap: string, gidMap: string): void {
  for (const [file, map] of [
    ["uid_map", uidMap],
    ["gid_map", gidMap],
  ] as const) {
    try {
      writeFileSync(`/proc/${pid}/${file}`, map);
    } catch (err) {
      throw new SystemError(`write /proc/${pid}/${file}: ${errorText(err)}`);
    }
  }
}
