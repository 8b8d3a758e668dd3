/**
 * Docker's image reference grammar (distribution/reference) and its normalisation:
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] component ("/" component)*
 * `busybox` is `docker.io/library/busybox`; a first component counts as a domain only when it
 * has a "." or a ":" or is "localhost" (so `user/app` is a Docker Hub user's repository).
 */
import { InvalidReference } from "./errors.js";

export const DEFAULT_DOMAIN = "docker.io";
export const DEFAULT_TAG = "latest";
const LEGACY_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const NAME_MAX = 255;

// Components are lowercase alphanumerics joined by ".", "_", "__" or runs of "-".
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const DOMAIN = /^(?:\[[0-9a-fA-F:.]+\]|[^:/]+)(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

export interface Reference {
  /** Registry host and optional port: `docker.io`, `localhost:5000`. */
  readonly domain: string;
  /** Repository path within the registry: `library/busybox`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

export interface ParseOptions {
  /** Add `:latest` when the reference has neither tag nor digest (what `pull` and `run` do). */
  defaultTag?: boolean;
}

/** Parses and normalises a reference as the docker CLI does; throws InvalidReference. */
export function parseReference(text: string, options: ParseOptions = {}): Reference {
  if (text.length === 0) throw new InvalidReference("invalid reference format: empty reference");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReference(`invalid reference format: bad digest in "${text}"`);
    if (digest.startsWith("sha256:") && !SHA256.test(digest))
      throw new InvalidReference(
        `invalid reference format: a sha256 digest has 64 lowercase hex digits ("${text}")`,
      );
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new InvalidReference(`invalid reference format: bad tag "${tag}" in "${text}"`);
  }
  const { domain, path } = splitName(rest, text);
  if (domain.length + 1 + path.length > NAME_MAX)
    throw new InvalidReference(
      `invalid reference format: repository name longer than ${NAME_MAX} characters`,
    );
  if (!tag && !digest && options.defaultTag) tag = DEFAULT_TAG;
  return { domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

function splitName(name: string, text: string): { domain: string; path: string } {
  if (name.length === 0)
    throw new InvalidReference(`invalid reference format: no repository name in "${text}"`);
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  let domain = DEFAULT_DOMAIN;
  let path = name;
  if (
    slash >= 0 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase())
  ) {
    domain = first;
    path = name.slice(slash + 1);
    validateDomain(domain, text);
  }
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_PREFIX + path;
  for (const component of path.split("/")) {
    if (COMPONENT.test(component)) continue;
    if (component.toLowerCase() !== component && COMPONENT.test(component.toLowerCase()))
      throw new InvalidReference(`invalid reference format: repository name must be lowercase ("${text}")`);
    throw new InvalidReference(
      `invalid reference format: bad repository name component "${component}" in "${text}"`,
    );
  }
  return { domain, path };
}

function validateDomain(domain: string, text: string): void {
  if (!DOMAIN.test(domain))
    throw new InvalidReference(`invalid reference format: bad registry "${domain}" in "${text}"`);
  if (domain.startsWith("[")) return;
  const host = domain.replace(/:[0-9]+$/, "");
  for (const part of host.split("."))
    if (!DOMAIN_COMPONENT.test(part))
      throw new InvalidReference(`invalid reference format: bad registry "${domain}" in "${text}"`);
  if (host !== host.toLowerCase() && !domain.includes("."))
    throw new InvalidReference(`invalid reference format: repository name must be lowercase ("${text}")`);
}

/** `docker.io/library/busybox` */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalised form: `docker.io/library/busybox:latest`, `localhost:5000/a@sha256:…`. */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + (ref.tag ? `:${ref.tag}` : "") + (ref.digest ? `@${ref.digest}` : "");
}

/** The short name people type and `docker images` shows: `busybox`, `user/app`, `localhost:5000/a`. */
export function familiarName(ref: Reference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_PREFIX) ? ref.path.slice(OFFICIAL_PREFIX.length) : ref.path;
}

export function familiarString(ref: Reference): string {
  return familiarName(ref) + (ref.tag ? `:${ref.tag}` : "") + (ref.digest ? `@${ref.digest}` : "");
}

/** A reference with the tag or digest replaced. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG.test(tag)) throw new InvalidReference(`invalid tag "${tag}"`);
  return { domain: ref.domain, path: ref.path, tag };
}

export function withDigest(ref: Reference, digest: string): Reference {
  if (!SHA256.test(digest)) throw new InvalidReference(`invalid digest "${digest}"`);
  return { domain: ref.domain, path: ref.path, digest };
}

/** True for a full image ID or digest (`sha256:` + 64 hex) */
export function isDigest(text: string): boolean {
  return SHA256.test(text);
}
