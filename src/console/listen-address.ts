/**
 * Where the console listens, and whether that needs TLS. The console can start containers, so it
 * holds root's power: a loopback address is the default, and any other address is refused unless
 * the traffic is encrypted (--tls-cert/--tls-key), as Jupyter and Cockpit insist.
 */
import { isIPv4, isIPv6 } from "node:net";
import { InvalidArgument } from "../errors.js";

export const DEFAULT_CONSOLE_ADDRESS = "127.0.0.1:9900";

export interface ListenAddress {
  /** What to bind: an IP address (localhost → 127.0.0.1). */
  host: string;
  port: number;
  loopback: boolean;
  /** Bound to every interface (0.0.0.0, ::): any name may reach it. */
  wildcard: boolean;
}

/** Parses "HOST:PORT" or "[V6]:PORT"; the host must be an IP address or localhost. */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m)
    throw new InvalidArgument(
      `invalid console address "${text}": use HOST:PORT, such as ${DEFAULT_CONSOLE_ADDRESS} or [::1]:9900`,
    );
  const port = Number(m[3]);
  if (port > 65535)
    throw new InvalidArgument(`invalid console address "${text}": port ${port} is over 65535`);
  const name = m[1] ?? m[2]!;
  const host = name === "localhost" ? "127.0.0.1" : name;
  if (m[1] !== undefined ? !isIPv6(host) : !isIPv4(host))
    throw new InvalidArgument(
      `invalid console address "${text}": the host must be an IP address or localhost (a name could resolve anywhere)`,
    );
  return { host, port, loopback: isLoopback(host), wildcard: host === "0.0.0.0" || /^[0:]+$/.test(host) };
}

export function isLoopback(ip: string): boolean {
  if (isIPv4(ip)) return ip.startsWith("127.");
  return ip === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(ip) || ip.toLowerCase() === "::ffff:127.0.0.1";
}

/** Refuses a non-loopback address without TLS: the session cookie and the token would travel in clear. */
export function requireTlsOffLoopback(address: ListenAddress, tls: boolean): void {
  if (!address.loopback && !tls)
    throw new InvalidArgument(
      `refusing to serve the console on ${address.host}:${address.port} without TLS: it can run anything as root. Give --tls-cert and --tls-key, or listen on 127.0.0.1`,
    );
}

/** The address as a URL's authority: [::1]:9900 or 127.0.0.1:9900. */
export function authority(host: string, port: number): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
}
