/**
 * Published ports: docker's PortBindings (and -P's exposed ports) turned into concrete host
 * bindings, each checked free on the host before the container starts, and the nftables map
 * elements that forward them (DNAT) to the container.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import type { PortBinding } from "../engine/docker-types.js";
import { Conflict, InvalidArgument } from "../errors.js";

export interface Published {
  proto: "tcp" | "udp" | "sctp";
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

/** "80/tcp" → [80, "tcp"]. */
function portKey(key: string): [number, Published["proto"]] {
  const [port, proto = "tcp"] = key.split("/");
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535 || (proto !== "tcp" && proto !== "udp" && proto !== "sctp"))
    throw new InvalidArgument(`invalid port specification: "${key}"`);
  return [n, proto];
}

/**
 * The bindings asked for: explicit ones, and with publishAll every exposed port without one
 * on a host port of the kernel's choosing (HostPort "" or "0").
 */
export function requestedBindings(
  bindings: Record<string, PortBinding[] | null>,
  exposed: string[],
  publishAll: boolean,
): { proto: Published["proto"]; hostIp: string; hostPort: number; containerPort: number }[] {
  const out: { proto: Published["proto"]; hostIp: string; hostPort: number; containerPort: number }[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const [containerPort, proto] = portKey(key);
    for (const b of list ?? [{ HostIp: "", HostPort: "" }]) {
      const hostPort = b.HostPort ? Number(b.HostPort.split("-")[0]) : 0;
      if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535)
        throw new InvalidArgument(`invalid host port "${b.HostPort}" for ${key}`);
      out.push({ proto, hostIp: b.HostIp || "0.0.0.0", hostPort, containerPort });
    }
  }
  if (publishAll)
    for (const key of exposed) {
      if (key in bindings) continue;
      const [containerPort, proto] = portKey(key);
      out.push({ proto, hostIp: "0.0.0.0", hostPort: 0, containerPort });
    }
  return out;
}

/**
 * Binds the port on the host for a moment: free means nobody listens there now. Port 0 asks the
 * kernel for a free one, which is returned.
 */
export function probePort(proto: Published["proto"], hostIp: string, port: number): Promise<number> {
  const taken = () => new Conflict(`Bind for ${hostIp}:${port} failed: port is already allocated`);
  if (proto === "udp")
    return new Promise((resolve, reject) => {
      const s = createSocket("udp4");
      s.once("error", () => {
        s.close();
        reject(taken());
      });
      s.bind(port, hostIp, () => {
        const got = s.address().port;
        s.close(() => resolve(got));
      });
    });
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRNOTAVAIL"
          ? new InvalidArgument(`cannot publish on ${hostIp}: not an address of this host`)
          : taken(),
      ),
    );
    s.listen({ port, host: hostIp, exclusive: true }, () => {
      const got = (s.address() as { port: number }).port;
      s.close(() => resolve(got));
    });
  });
}

/** The nft map elements of a container's published ports (one map keyed by address, one not). */
export function mapElements(
  published: Published[],
  containerIp: string,
): { any: string[]; byAddress: string[] } {
  const any: string[] = [];
  const byAddress: string[] = [];
  for (const p of published) {
    const target = `${containerIp} . ${p.containerPort}`;
    if (p.hostIp === "0.0.0.0") any.push(`${p.proto} . ${p.hostPort} : ${target}`);
    else byAddress.push(`${p.hostIp} . ${p.proto} . ${p.hostPort} : ${target}`);
  }
  return { any, byAddress };
}
