/**
 * A container's /etc/hosts and /etc/resolv.conf when no network of Berth's makes them
 * (--network none, host, and the defaults the network part builds on).
 */
import { readFileSync } from "node:fs";
import type { ContainerRecord, HostConfig } from "./docker-types.js";

const LOCAL_HOSTS = `127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
`;

/** --add-host entries: "name:ip" (Docker also accepts "name=ip"). */
export function extraHostLines(extraHosts: string[]): string {
  return extraHosts
    .map((h) => {
      const i = h.search(/[:=]/);
      return `${h.slice(i + 1)}\t${h.slice(0, i)}\n`;
    })
    .join("");
}

export function defaultHosts(record: ContainerRecord, addresses: string[], extraHosts: string[]): string {
  const names = [
    record.Config.Hostname,
    ...(record.Config.Domainname ? [`${record.Config.Hostname}.${record.Config.Domainname}`] : []),
  ].join(" ");
  return LOCAL_HOSTS + extraHostLines(extraHosts) + addresses.map((a) => `${a}\t${names}\n`).join("");
}

/**
 * The host's resolv.conf for a container: loopback nameservers (a local stub resolver) cannot be
 * reached from another network namespace, so they are dropped, and Docker's public fallbacks
 * used when none is left; --dns, --dns-search and --dns-option replace their parts.
 */
export function hostResolvConf(
  hc: Pick<HostConfig, "Dns" | "DnsSearch" | "DnsOptions" | "NetworkMode">,
  text?: string,
): string {
  let host = text;
  if (host === undefined) {
    try {
      host = readFileSync("/etc/resolv.conf", "utf8");
    } catch {
      host = "";
    }
  }
  const lines = host.split("\n");
  const keep = hc.NetworkMode === "host";
  let servers = lines.filter((l) => /^nameserver\s/.test(l)).map((l) => l.split(/\s+/)[1]!);
  if (!keep) servers = servers.filter((s) => !/^127\.|^::1$/.test(s));
  if (hc.Dns?.length) servers = hc.Dns;
  if (!servers.length) servers = ["8.8.8.8", "8.8.4.4"];
  const search = hc.DnsSearch?.length
    ? hc.DnsSearch
    : lines.filter((l) => /^(search|domain)\s/.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
  const options = hc.DnsOptions?.length
    ? hc.DnsOptions
    : lines.filter((l) => /^options\s/.test(l)).flatMap((l) => l.split(/\s+/).slice(1));
  return (
    [
      ...servers.map((s) => `nameserver ${s}`),
      ...(search.length ? [`search ${search.join(" ")}`] : []),
      ...(options.length ? [`options ${options.join(" ")}`] : []),
    ].join("\n") + "\n"
  );
}
