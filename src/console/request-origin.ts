/**
 * Whether a request comes from the console's own page. A page on another site can make a browser
 * send requests here (a form post, or a name of its own re-pointed at 127.0.0.1 by DNS
 * rebinding); its Host or Origin header gives it away. No CORS header is ever sent, so no other
 * origin can read an answer either.
 */
import { authority, type ListenAddress } from "./listen-address.js";

/** The Host headers that name this console: its address, and localhost's names on loopback. */
export function allowedHosts(address: ListenAddress, port: number): Set<string> | undefined {
  // Bound to every interface (only with TLS): the names that reach it are the operator's; the
  // Origin must still match the Host.
  if (address.wildcard) return undefined;
  const hosts = new Set([authority(address.host, port)]);
  if (address.loopback) for (const name of ["localhost", "127.0.0.1", "[::1]"]) hosts.add(`${name}:${port}`);
  return hosts;
}

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Host must be one of ours; Origin, when the browser sends one, must be this very host; and a
 * call that changes something (and a WebSocket) must carry an Origin at all.
 */
export function checkOrigin(
  headers: { host?: string | undefined; origin?: string | undefined },
  hosts: Set<string> | undefined,
  scheme: "http" | "https",
  originRequired: boolean,
): OriginVerdict {
  const host = headers.host?.toLowerCase();
  if (!host) return { ok: false, reason: "no Host header" };
  if (hosts && !hosts.has(host)) return { ok: false, reason: `Host "${host}" is not this console's address` };
  const origin = headers.origin;
  if (origin === undefined) return originRequired ? { ok: false, reason: "no Origin header" } : { ok: true };
  if (origin.toLowerCase() !== `${scheme}://${host}`)
    return { ok: false, reason: `Origin "${origin}" is not this console` };
  return { ok: true };
}
