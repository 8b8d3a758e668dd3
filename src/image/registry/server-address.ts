/**
 * The registry host of a `login`/`logout` argument as docker accepts it: a bare host[:port],
 * a URL, or Docker Hub's legacy address (https://index.docker.io/v1/), which means docker.io.
 */
import { InvalidArgument } from "../../errors.js";

const HUB_ADDRESSES = new Set(["", "docker.io", "index.docker.io", "registry-1.docker.io"]);

export function registryHostOf(address: string | undefined): string {
  const host = (address ?? "").replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  if (HUB_ADDRESSES.has(host)) return "docker.io";
  if (!/^[a-zA-Z0-9.-]+(:\d+)?$/.test(host))
    throw new InvalidArgument(`invalid registry address "${address}"`);
  return host;
}
