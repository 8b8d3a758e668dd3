/**
 * `berth serve --cluster-store etcd://h1:2379,h2:2379`: the cluster's state in an etcd cluster of
 * the user's own instead of members embedded in the managers. `etcds://` speaks TLS; docker's
 * classic `--cluster-store-opt` keys give the CA to check the servers with and a client
 * certificate (kv.cacertfile, kv.certfile, kv.keyfile).
 */
import { readFileSync } from "node:fs";
import { InvalidArgument } from "../errors.js";
import type { EtcdTls } from "./etcd.js";

export interface ExternalStore {
  /** Client URLs, http:// or https://. */
  endpoints: string[];
  tls?: EtcdTls;
}

const OPTION_KEYS = ["kv.cacertfile", "kv.certfile", "kv.keyfile"] as const;

export function parseClusterStore(address: string, options: string[] = []): ExternalStore {
  const m = /^(etcds?):\/\/([^/?#]+)\/?$/.exec(address);
  if (!m)
    throw new InvalidArgument(
      `invalid --cluster-store "${address}": give etcd://HOST:PORT[,HOST:PORT…] (or etcds:// for TLS)`,
    );
  const secure = m[1] === "etcds";
  const endpoints = m[2]!.split(",").map((hostPort) => {
    const h = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(hostPort);
    const port = Number(h?.[2] ?? 2379);
    if (!h || !(port > 0 && port < 65536))
      throw new InvalidArgument(`invalid --cluster-store host "${hostPort}": give HOST:PORT`);
    return `${secure ? "https" : "http"}://${h[1]}:${port}`;
  });
  const files: Partial<Record<(typeof OPTION_KEYS)[number], string>> = {};
  for (const option of options) {
    const [key, value] = [option.slice(0, option.indexOf("=")), option.slice(option.indexOf("=") + 1)];
    if (!(OPTION_KEYS as readonly string[]).includes(key) || !value)
      throw new InvalidArgument(
        `invalid --cluster-store-opt "${option}": the options are ${OPTION_KEYS.map((k) => `${k}=FILE`).join(", ")}`,
      );
    files[key as (typeof OPTION_KEYS)[number]] = value;
  }
  if (!Object.keys(files).length) return { endpoints };
  if (!secure) throw new InvalidArgument("--cluster-store-opt kv.* files need an etcds:// store (TLS)");
  if (!files["kv.certfile"] !== !files["kv.keyfile"])
    throw new InvalidArgument("--cluster-store-opt kv.certfile and kv.keyfile go together");
  const read = (key: (typeof OPTION_KEYS)[number]) => {
    const path = files[key];
    if (!path) return undefined;
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new InvalidArgument(`--cluster-store-opt ${key}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  const ca = read("kv.cacertfile");
  const cert = read("kv.certfile");
  const key = read("kv.keyfile");
  return {
    endpoints,
    tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
  };
}
