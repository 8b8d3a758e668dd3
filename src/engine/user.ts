/**
 * `--user` → numeric ids, the way Docker resolves it against the container's own /etc/passwd and
 * /etc/group ("name", "uid", "name:group", "uid:gid"; supplementary groups from /etc/group).
 */
import { InvalidArgument } from "../errors.js";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

export function parseGroup(text: string): GroupEntry[] {
  return text
    .split("\n")
    .map((l) => l.split(":"))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) }));
}

const numeric = (s: string) => /^\d+$/.test(s);

/** Resolves `user` ("" = root) with the container's passwd and group files (undefined: missing). */
export function resolveUser(
  user: string,
  groupAdd: string[],
  passwd: string | undefined,
  group: string | undefined,
): ResolvedUser {
  const users = parsePasswd(passwd ?? "");
  const groups = parseGroup(group ?? "");
  const [userPart = "", groupPart] = user.split(":");
  let entry: PasswdEntry | undefined;
  if (userPart === "")
    entry = users.find((u) => u.uid === 0) ?? { name: "root", uid: 0, gid: 0, home: "/root" };
  else if (numeric(userPart))
    entry = users.find((u) => u.uid === Number(userPart)) ?? {
      name: "",
      uid: Number(userPart),
      gid: 0,
      home: "/",
    };
  else {
    entry = users.find((u) => u.name === userPart);
    if (!entry)
      throw new InvalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  const findGroup = (g: string): number => {
    if (numeric(g)) return Number(g);
    const found = groups.find((x) => x.name === g);
    if (!found) throw new InvalidArgument(`unable to find group ${g}: no matching entries in group file`);
    return found.gid;
  };
  const gid = groupPart !== undefined && groupPart !== "" ? findGroup(groupPart) : entry.gid;
  const additional = new Set<number>();
  // Supplementary groups from /etc/group apply only when no group was given explicitly (as Docker).
  if (groupPart === undefined && entry.name)
    for (const g of groups) if (g.members.includes(entry.name)) additional.add(g.gid);
  for (const g of groupAdd) additional.add(findGroup(g));
  additional.delete(gid);
  return { uid: entry.uid, gid, additionalGids: [...additional], home: entry.home || "/" };
}
