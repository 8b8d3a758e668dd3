/**
 * Docker's legacy links (`--link NAME[:ALIAS]`, HostConfig.Links), as dockerd keeps them: the
 * link is recorded as "/NAME:/SELF/ALIAS". On the default bridge the linking container gets the
 * linked one's address under the alias in /etc/hosts and environment variables naming it, its
 * exposed ports and its environment (daemon/links in moby); on a user network a link is an
 * alias that the embedded DNS answers for the linking container only. The linked container is
 * listed under the name "/SELF/ALIAS" too, and `rm --link SELF/ALIAS` removes the link.
 */
import { Conflict, InvalidArgument } from "../errors.js";
import type { ContainerRecord } from "./docker-types.js";

export interface LegacyLink {
  /** The linked container's name, without "/". */
  target: string;
  alias: string;
}

/** "NAME", "NAME:ALIAS" or dockerd's "/NAME:/SELF/ALIAS". */
export function parseLink(text: string): LegacyLink {
  const [name = "", alias] = text.split(":");
  const target = name.replace(/^\//, "");
  if (!target) throw new InvalidArgument(`invalid link "${text}": it names no container`);
  return { target, alias: (alias ?? target).split("/").pop()! };
}

/** The links as dockerd records them; each linked container must exist (a NotFound if not). */
export function recordLinks(
  self: string,
  links: string[] | null | undefined,
  find: (name: string) => ContainerRecord,
): string[] | null {
  if (!links?.length) return null;
  const name = self.replace(/^\//, "");
  return links.map((text) => {
    const { target, alias } = parseLink(text);
    return `${find(target).Name}:/${name}/${alias}`;
  });
}

/** The names under which `c` is linked by `others` ("/SELF/ALIAS"). */
export function linkNames(c: ContainerRecord, others: ContainerRecord[]): string[] {
  const names: string[] = [];
  for (const o of others)
    for (const text of o.HostConfig.Links ?? []) {
      const link = parseLink(text);
      if (`/${link.target}` === c.Name) names.push(`${o.Name}/${link.alias}`);
    }
  return names;
}

/** The prefix of a link's variables: the alias upper-cased, "-" as "_". */
function prefixOf(alias: string): string {
  return alias.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
}

/**
 * The environment a link on the default bridge gives (moby's daemon/links): the link's name,
 * each exposed port of the linked container (the lowest one as ALIAS_PORT), its environment but
 * HOME and PATH.
 */
export function linkEnv(self: string, alias: string, target: ContainerRecord, ip: string): string[] {
  const p = prefixOf(alias);
  const env: string[] = [];
  const ports = Object.keys(target.Config.ExposedPorts ?? {})
    .map((k) => {
      const [port = "", proto = "tcp"] = k.split("/");
      return { port: Number(port), proto };
    })
    .filter((x) => Number.isInteger(x.port))
    .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  if (ports[0]) env.push(`${p}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
  for (const { port, proto } of ports) {
    const key = `${p}_PORT_${port}_${proto.toUpperCase()}`;
    env.push(
      `${key}=${proto}://${ip}:${port}`,
      `${key}_ADDR=${ip}`,
      `${key}_PORT=${port}`,
      `${key}_PROTO=${proto}`,
    );
  }
  env.push(`${p}_NAME=/${self}/${alias}`);
  for (const v of target.Config.Env ?? []) {
    const eq = v.indexOf("=");
    if (eq < 1) continue;
    const key = v.slice(0, eq);
    if (key === "HOME" || key === "PATH") continue;
    env.push(`${p}_ENV_${key}=${v.slice(eq + 1)}`);
  }
  return env;
}

/** The default bridge address of a linked container, which must run there. */
export function linkedAddress(self: string, link: LegacyLink, target: ContainerRecord): string {
  if (!target.State.Running)
    throw new Conflict(`Cannot link to a non running container: ${target.Name} AS /${self}/${link.alias}`);
  const ip = target.NetworkSettings.Networks["bridge"]?.IPAddress;
  if (!ip)
    throw new InvalidArgument(`Cannot link to ${target.Name}, as it does not belong to the default network`);
  return ip;
}
