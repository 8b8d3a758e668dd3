/**
 * Registry credentials in the docker CLI's file, `~/.docker/config.json` (or `$DOCKER_CONFIG/
 * config.json`): `{"auths": {"<host>": {"auth": base64("user:password")}}}`, with Docker Hub
 * under its historical key `https://index.docker.io/v1/`. `login` and `logout` rewrite the file
 * atomically and keep every other field (credsStore, proxies, …) as it was.
 */
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { InvalidArgument, isErrno } from "../../errors.js";
import { writeFileAtomic } from "../../util/atomic-file.js";

export interface Credentials {
  username: string;
  password: string;
}

const HUB_KEY = "https://index.docker.io/v1/";
const HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY]);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  [other: string]: unknown;
}

export function dockerConfigPath(): string {
  return join(process.env["DOCKER_CONFIG"] ?? join(homedir(), ".docker"), "config.json");
}

/** The key a host is stored under. */
export function credentialKey(host: string): string {
  return HUB_HOSTS.has(host) ? HUB_KEY : host;
}

/** The host part of a stored key (`https://host/v1/` → `host`). */
function keyHost(key: string): string {
  return key.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
}

async function readConfig(path: string): Promise<ConfigFile> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as ConfigFile;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return {};
    throw new InvalidArgument(`${path}: ${(err as Error).message}`);
  }
}

export async function loadCredentials(
  host: string,
  path = dockerConfigPath(),
): Promise<Credentials | undefined> {
  const auths = (await readConfig(path)).auths ?? {};
  const key = credentialKey(host);
  const entry = auths[key] ?? Object.entries(auths).find(([k]) => keyHost(k) === keyHost(key))?.[1];
  if (!entry) return undefined;
  if (entry.auth) {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = text.indexOf(":");
    if (colon < 0) throw new InvalidArgument(`${path}: the "auth" of ${key} is not base64 of user:password`);
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined)
    return { username: entry.username, password: entry.password };
  return undefined;
}

export async function storeCredentials(
  host: string,
  creds: Credentials,
  path = dockerConfigPath(),
): Promise<void> {
  const config = await readConfig(path);
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
  config.auths = { ...(config.auths ?? {}), [credentialKey(host)]: { auth } };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(config, null, "\t")}\n`, 0o600);
}

/** Returns false when there was nothing stored for the host. */
export async function removeCredentials(host: string, path = dockerConfigPath()): Promise<boolean> {
  const config = await readConfig(path);
  const key = credentialKey(host);
  if (!config.auths?.[key]) return false;
  delete config.auths[key];
  await writeFileAtomic(path, `${JSON.stringify(config, null, "\t")}\n`, 0o600);
  return true;
}
