/** OCI namespace entries → clone flags to create and namespace files to join. */
import { InvalidArgument } from "../errors.js";
import type { Namespace, NamespaceType } from "../oci/runtime-spec.js";
import { CLONE } from "./linux.js";

export const NAMESPACES: Record<NamespaceType, { flag: number; proc: string }> = {
  pid: { flag: CLONE.NEWPID, proc: "pid" },
  network: { flag: CLONE.NEWNET, proc: "net" },
  mount: { flag: CLONE.NEWNS, proc: "mnt" },
  ipc: { flag: CLONE.NEWIPC, proc: "ipc" },
  uts: { flag: CLONE.NEWUTS, proc: "uts" },
  user: { flag: CLONE.NEWUSER, proc: "user" },
  cgroup: { flag: CLONE.NEWCGROUP, proc: "cgroup" },
  time: { flag: CLONE.NEWTIME, proc: "time" },
};

export interface NamespacePlan {
  /** CLONE_NEW* flags of namespaces to create. */
  create: number;
  join: { flag: number; path: string; type: NamespaceType }[];
  /** Types the container has of its own (created or joined), for checks like "hostname needs uts". */
  types: Set<NamespaceType>;
}

export function planNamespaces(
  namespaces: readonly Namespace[] = [],
  where = "linux.namespaces",
): NamespacePlan {
  const plan: NamespacePlan = { create: 0, join: [], types: new Set() };
  namespaces.forEach((ns, i) => {
    const at = `${where}[${i}]`;
    const known = NAMESPACES[ns.type as NamespaceType];
    if (!known || !Object.hasOwn(NAMESPACES, ns.type))
      throw new InvalidArgument(`${at}: unknown namespace type "${ns.type}"`);
    if (plan.types.has(ns.type))
      throw new InvalidArgument(`${at}: namespace type "${ns.type}" is given twice`);
    if (ns.type === "time") throw new InvalidArgument(`${at}: time namespaces are not supported`);
    plan.types.add(ns.type);
    if (ns.path) {
      if (!ns.path.startsWith("/"))
        throw new InvalidArgument(`${at}.path: must be absolute, got "${ns.path}"`);
      plan.join.push({ flag: known.flag, path: ns.path, type: ns.type });
    } else {
      plan.create |= known.flag;
    }
  });
  return plan;
}

/** The namespaces of a running process, for exec to join (its own namespaces, whatever made them). */
export function joinProcessNamespaces(pid: number, types: Iterable<NamespaceType>): NamespacePlan["join"] {
  const join: NamespacePlan["join"] = [];
  for (const type of types) {
    if (type === "time") continue;
    join.push({ flag: NAMESPACES[type].flag, path: `/proc/${pid}/ns/${NAMESPACES[type].proc}`, type });
  }
  return join;
}
