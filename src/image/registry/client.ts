/**
 * A client of one registry (OCI distribution-spec v1 / Docker Registry HTTP API v2): ping,
 * manifests, blobs, uploads, cross-repository mounts, with the auth flows of
 * distribution's token spec: a 401 with `WWW-Authenticate: Bearer realm,service,scope` sends
 * us to the realm for a token (with basic credentials when we have some), `Basic` has us send
 * the credentials directly. Tokens are cached per scope until they expire. Every manifest is
 * verified against its digest here; blob digests are verified by the content store ingest.
 */
import { Readable } from "node:stream";
import { digestOf } from "../digest.js";
import { DigestMismatch, RegistryError } from "../errors.js";
import { type Challenge, parseChallenges } from "./challenge.js";
import { type Credentials, loadCredentials } from "./credentials.js";

export interface RegistryOptions {
  /** Hosts (host[:port]) that may be reached over plain HTTP, as `--insecure-registry` says. */
  insecure?: string[];
  /** Where credentials come from; the docker config file by default. */
  credentials?: (host: string) => Promise<Credentials | undefined>;
}

export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

/** Registries that must be spoken to under another name than the one in references. */
const API_HOSTS: Record<string, string> = { "docker.io": "registry-1.docker.io" };

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

interface Token {
  value: string;
  expires: number;
}

type Body = Buffer | AsyncIterable<Buffer> | undefined;

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Body;
  /** Token scopes this request needs: `repository:<name>:pull[,push]`. */
  scopes: string[];
  /** Statuses that are answers rather than errors. */
  ok?: number[];
}

export interface ManifestResponse {
  data: Buffer;
  mediaType: string;
  digest: string;
}

export class RegistryClient {
  readonly base: string;
  private readonly tokens = new Map<string, Token>();
  private challenge: Challenge | undefined;
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    readonly host: string,
    private readonly options: RegistryOptions = {},
  ) {
    const plain = isLoopback(host) || (options.insecure ?? []).includes(host);
    this.base = `${plain ? "http" : "https"}://${API_HOSTS[host] ?? host}`;
  }

  /** Read again each time (a token is fetched rarely): `login` and `logout` apply at once. */
  private creds(): Promise<Credentials | undefined> {
    return this.credentials ?? (this.options.credentials ?? loadCredentials)(this.host);
  }

  /** The registry answers `/v2/` (200, or 401 with a challenge we can answer). */
  async ping(): Promise<void> {
    await this.request("/v2/", { scopes: [] });
  }

  /** Checks that the credentials (given or stored) are accepted: what `login` does. */
  async checkLogin(creds: Credentials): Promise<void> {
    this.credentials = Promise.resolve(creds);
    this.tokens.clear();
    try {
      await this.request("/v2/", { scopes: [] });
    } catch (err) {
      if (err instanceof RegistryError && (err.status === 401 || err.code === "unauthorized"))
        throw new RegistryError(`login to ${this.host}: unauthorized: wrong username or password`, 401);
      throw err;
    }
  }

  async getManifest(repo: string, reference: string): Promise<ManifestResponse> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, {
      scopes: [`repository:${repo}:pull`],
      headers: { Accept: MANIFEST_ACCEPT },
    });
    const data = Buffer.from(await res.arrayBuffer());
    const digest = digestOf(data);
    const where = `manifest ${this.host}/${repo}:${reference}`;
    if (reference.startsWith("sha256:") && digest !== reference)
      throw new DigestMismatch(`${where}: content has digest ${digest}, not the digest asked for`);
    const header = res.headers.get("docker-content-digest");
    if (header?.startsWith("sha256:") && header !== digest)
      throw new DigestMismatch(`${where}: content has digest ${digest}, the registry says ${header}`);
    const mediaType = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    return { data, mediaType, digest };
  }

  /** The blob's bytes as they arrive (the caller verifies them). */
  async getBlob(repo: string, digest: string): Promise<{ body: AsyncIterable<Buffer>; size?: number }> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { scopes: [`repository:${repo}:pull`] });
    const length = res.headers.get("content-length");
    const body = res.body;
    if (!body) throw new RegistryError(`blob ${digest} from ${this.host}/${repo}: empty response`);
    const where = `blob ${digest} from ${this.host}/${repo}`;
    return {
      body: readBody(Readable.fromWeb(body as WebStream), where),
      ...(length ? { size: Number(length) } : {}),
    };
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, {
      method: "HEAD",
      scopes: [`repository:${repo}:pull,push`],
      ok: [404],
    });
    return res.status !== 404;
  }

  /**
   * Uploads a blob: cross-repository mount from `mountFrom` when given (no data moves: 201),
   * else monolithic (one PUT), or chunked PATCHes of `chunkSize` bytes then a closing PUT.
   */
  async putBlob(
    repo: string,
    blob: { digest: string; size: number },
    content: () => AsyncIterable<Buffer>,
    options: { mountFrom?: string; chunkSize?: number } = {},
  ): Promise<"mounted" | "uploaded"> {
    const scopes = [`repository:${repo}:pull,push`];
    let start = `/v2/${repo}/blobs/uploads/`;
    if (options.mountFrom) {
      scopes.push(`repository:${options.mountFrom}:pull`);
      start += `?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(options.mountFrom)}`;
    }
    const init = await this.request(start, {
      method: "POST",
      scopes,
      headers: { "Content-Length": "0" },
      ok: [201, 202],
    });
    if (init.status === 201) return "mounted";
    let location = this.location(init);
    if (options.chunkSize) {
      let offset = 0;
      for await (const chunk of rechunk(content(), options.chunkSize)) {
        const res = await this.request(location, {
          method: "PATCH",
          scopes,
          body: chunk,
          headers: {
            "Content-Type": "application/octet-stream",
            "Content-Range": `${offset}-${offset + chunk.length - 1}`,
            "Content-Length": String(chunk.length),
          },
        });
        offset += chunk.length;
        location = this.location(res);
      }
      await this.request(withQuery(location, "digest", blob.digest), {
        method: "PUT",
        scopes,
        headers: { "Content-Length": "0" },
      });
    } else {
      await this.request(withQuery(location, "digest", blob.digest), {
        method: "PUT",
        scopes,
        body: content(),
        headers: { "Content-Type": "application/octet-stream", "Content-Length": String(blob.size) },
      });
    }
    return "uploaded";
  }

  async putManifest(repo: string, reference: string, data: Buffer, mediaType: string): Promise<string> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, {
      method: "PUT",
      scopes: [`repository:${repo}:pull,push`],
      body: data,
      headers: { "Content-Type": mediaType },
    });
    const digest = digestOf(data);
    const header = res.headers.get("docker-content-digest");
    if (header && header !== digest)
      throw new DigestMismatch(`registry stored manifest as ${header}, expected ${digest}`);
    return digest;
  }

  private location(res: Response): string {
    const loc = res.headers.get("location");
    if (!loc) throw new RegistryError(`${this.host}: upload response without Location`, res.status);
    return new URL(loc, this.base).toString();
  }

  /** A request with authentication, answering one challenge; registry errors become RegistryError. */
  private async request(path: string, options: RequestOptions): Promise<Response> {
    let res = await this.fetch(path, options);
    if (res.status === 401 && !(options.body && !Buffer.isBuffer(options.body))) {
      const header = res.headers.get("www-authenticate");
      const challenge = header ? parseChallenges(header)[0] : undefined;
      if (challenge && (challenge.scheme === "bearer" || challenge.scheme === "basic")) {
        this.challenge = challenge;
        await res.body?.cancel();
        res = await this.fetch(path, options);
      }
    }
    if (res.ok || options.ok?.includes(res.status)) return res;
    throw await this.error(path, options, res);
  }

  private async fetch(path: string, options: RequestOptions): Promise<Response> {
    const url = path.startsWith("http") ? path : this.base + path;
    const headers: Record<string, string> = { ...options.headers };
    const auth = await this.authorization(options.scopes);
    if (auth) headers["Authorization"] = auth;
    const body = options.body;
    try {
      return await fetch(url, {
        method: options.method ?? "GET",
        headers,
        ...(body === undefined
          ? {}
          : Buffer.isBuffer(body)
            ? { body }
            : { body: Readable.toWeb(Readable.from(body)) as ReadableStream, duplex: "half" }),
        redirect: "follow",
      } as RequestInit);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = explainNetworkError(cause?.code ?? cause?.message ?? (err as Error).message);
      const hint =
        url.startsWith("https:") && reason.includes("EPROTO")
          ? " (a plain-HTTP registry? name it insecure)"
          : "";
      throw new RegistryError(`${options.method ?? "GET"} ${url}: ${reason}${hint}`, undefined, {
        cause: err,
      });
    }
  }

  private async authorization(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const creds = await this.creds();
    if (c.scheme === "basic") {
      return creds
        ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`
        : undefined;
    }
    const token = await this.token(c, scopes, creds);
    return `Bearer ${token}`;
  }

  private async token(c: Challenge, scopes: string[], creds: Credentials | undefined): Promise<string> {
    const realm = c.params["realm"];
    if (!realm) throw new RegistryError(`${this.host}: bearer challenge without realm`);
    const all = [...new Set([...scopes, ...(c.params["scope"] ? [c.params["scope"]] : [])])].sort();
    const key = `${realm}|${c.params["service"] ?? ""}|${all.join(" ")}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.value;
    const url = new URL(realm);
    if (c.params["service"]) url.searchParams.set("service", c.params["service"]);
    for (const s of all) url.searchParams.append("scope", s);
    if (creds) url.searchParams.set("account", creds.username);
    const headers: Record<string, string> = {};
    if (creds)
      headers["Authorization"] =
        `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
    let res: Response;
    try {
      res = await fetch(url, { headers });
    } catch (err) {
      throw new RegistryError(`token from ${url.origin}: ${(err as Error).message}`, undefined, {
        cause: err,
      });
    }
    if (!res.ok) {
      const hint =
        res.status === 401
          ? creds
            ? ": wrong username or password?"
            : `: run \`berth login ${this.host}\``
          : "";
      throw new RegistryError(
        `token from ${url.origin} for ${all.join(" ") || this.host}: HTTP ${res.status}${hint}`,
        res.status,
      );
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const value = body.token ?? body.access_token;
    if (!value) throw new RegistryError(`token from ${url.origin}: response has no token`);
    // The spec's default lifetime is 60 s; renew a little early.
    const ttl = Math.max(10, (body.expires_in ?? 60) - 5);
    this.tokens.set(key, { value, expires: Date.now() + ttl * 1000 });
    return value;
  }

  private async error(path: string, options: RequestOptions, res: Response): Promise<RegistryError> {
    let detail = "";
    try {
      const text = await res.text();
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = (body.errors ?? []).map((e) => `${e.code}: ${e.message}`).join("; ");
    } catch {}
    const what = `${options.method ?? "GET"} ${this.host}${path.startsWith("http") ? new URL(path).pathname : path}`;
    let hint = "";
    if (res.status === 401 || res.status === 403)
      hint = (await this.creds())
        ? " (are the credentials allowed to do this?)"
        : ` (run \`berth login ${this.host}\`?)`;
    return new RegistryError(`${what}: HTTP ${res.status}${detail ? ` ${detail}` : ""}${hint}`, res.status);
  }
}

type WebStream = import("node:stream/web").ReadableStream<Uint8Array>;

function explainNetworkError(code: string): string {
  if (code === "UND_ERR_SOCKET" || code === "ECONNRESET")
    return "the connection closed early (truncated response)";
  return code;
}

/** A response body whose network errors say which blob and how far it got. */
async function* readBody(body: AsyncIterable<Buffer>, where: string): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of body) {
      bytes += chunk.length;
      yield chunk;
    }
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RegistryError(`${where}: ${explainNetworkError(code)} after ${bytes} bytes`, undefined, {
      cause: err,
    });
  }
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

/** Regroups a stream into buffers of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    let c = chunk;
    while (c.length) {
      const take = Math.min(size - length, c.length);
      parts.push(c.subarray(0, take));
      length += take;
      c = c.subarray(take);
      if (length === size) {
        yield Buffer.concat(parts);
        parts = [];
        length = 0;
      }
    }
  }
  if (length) yield Buffer.concat(parts);
}
