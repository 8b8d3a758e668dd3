/**
 * The cluster's certificate authority, as swarm mode has one: `swarm init` makes it, every node
 * gets a certificate it signs (subject O=cluster id, OU=role, CN=node id) for etcd's client and
 * peer traffic and for node-to-node calls, and join tokens name the CA's digest so that a
 * joining node can tell the real manager from an impostor before it says anything.
 * Keys and certificates are made by openssl(1): ECDSA P-256, as swarm uses.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes, timingSafeEqual, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgument, SystemError } from "../errors.js";

export interface KeyPair {
  key: string;
  cert: string;
}

export type NodeRole = "manager" | "worker";

/** OU of a node certificate, by role: swarm's names, which the CLI shows nowhere but tests read. */
export const ROLE_OU: Record<NodeRole, string> = { manager: "swarm-manager", worker: "swarm-worker" };

function openssl(args: string[], dir: string): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
  if (r.error) throw new SystemError(`openssl: ${r.error.message} (is openssl installed?)`);
  if (r.status !== 0) throw new SystemError(`openssl ${args[0]}: ${r.stderr.trim()}`);
}

/** Runs `fn` in a private temporary directory that is removed afterwards (keys pass through it). */
function inScratch<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "berth-ca-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function createCA(): KeyPair {
  return inScratch((dir) => {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"], dir);
    openssl(
      ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=swarm-ca", "-days", "7300", "-out", "ca.pem"],
      dir,
    );
    return {
      key: readFileSync(join(dir, "ca.key"), "utf8"),
      cert: readFileSync(join(dir, "ca.pem"), "utf8"),
    };
  });
}

/** A node's own key and a request to sign it: the key never leaves the node. */
export function createKeyAndRequest(): { key: string; csr: string } {
  return inScratch((dir) => {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "n.key"], dir);
    openssl(["req", "-new", "-key", "n.key", "-subj", "/CN=node", "-out", "n.csr"], dir);
    return { key: readFileSync(join(dir, "n.key"), "utf8"), csr: readFileSync(join(dir, "n.csr"), "utf8") };
  });
}

export interface CertificateSubject {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
  /** Addresses the certificate serves on (etcd and the join port listen on them). */
  ips: string[];
  /**
   * A certificate for the store's client port only, without the node in its name: once access
   * control is on, etcd takes a certificate's common name as a user name when no token comes
   * (and its JSON gateway refuses a named certificate outright), so the node's password is its
   * only identity there; the peer API refuses a certificate without a name.
   */
  storeClient?: boolean;
}

const SAFE_NAME = /^[a-z0-9]+$/;

/**
 * Signs a node's request. The subject and names are the CA's choice, never the request's: a
 * joining node cannot ask to be a manager or another node.
 */
export function signRequest(ca: KeyPair, csr: string, subject: CertificateSubject): string {
  if (!SAFE_NAME.test(subject.clusterId) || !SAFE_NAME.test(subject.nodeId))
    throw new InvalidArgument("a certificate's cluster and node ids are lower-case letters and digits");
  for (const ip of subject.ips)
    if (!/^[0-9a-fA-F.:]+$/.test(ip)) throw new InvalidArgument(`"${ip}" is not an IP address`);
  if (
    !/^-----BEGIN CERTIFICATE REQUEST-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE REQUEST-----\n?$/.test(csr)
  )
    throw new InvalidArgument("the certificate request is not a PEM certificate request");
  return inScratch((dir) => {
    writeFileSync(join(dir, "ca.key"), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, "ca.pem"), ca.cert);
    writeFileSync(join(dir, "n.csr"), csr);
    const names = ["IP:127.0.0.1", ...subject.ips.map((ip) => `IP:${ip}`), "DNS:localhost"];
    writeFileSync(
      join(dir, "ext"),
      `subjectAltName=${[...new Set(names)].join(",")}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
    );
    openssl(
      [
        "x509",
        "-req",
        "-in",
        "n.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        `0x${randomBytes(16).toString("hex")}`,
        "-days",
        "3650",
        "-subj",
        `/O=${subject.clusterId}/OU=${ROLE_OU[subject.role]}${subject.storeClient ? "" : `/CN=${subject.nodeId}`}`,
        "-extfile",
        "ext",
        "-out",
        "n.pem",
      ],
      dir,
    );
    return readFileSync(join(dir, "n.pem"), "utf8");
  });
}

/** The sha256 digest of a certificate's DER bytes, as a join token carries it. */
export function caDigest(certPem: string): Buffer {
  return createHash("sha256").update(new X509Certificate(certPem).raw).digest();
}

/**
 * Who a node certificate says it is (the CA wrote it): from its PEM text, or from a certificate
 * already parsed (a TLS peer's: parsing its PEM again cost 220 µs a call of the peer API).
 */
export function certificateSubject(cert: string | X509Certificate): {
  clusterId: string;
  nodeId: string;
  role: NodeRole;
} {
  const subject = (typeof cert === "string" ? new X509Certificate(cert) : cert).subject;
  const field = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(subject)?.[1] ?? "";
  return {
    clusterId: field("O"),
    nodeId: field("CN"),
    role: field("OU") === ROLE_OU.manager ? "manager" : "worker",
  };
}

// Join tokens in swarm's format: SWMTKN-1-<CA digest, base 36, 50 digits>-<secret, base 36, 25>.
const TOKEN = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/;

function base36(bytes: Buffer, width: number): string {
  return BigInt(`0x${bytes.toString("hex")}`)
    .toString(36)
    .padStart(width, "0")
    .slice(-width);
}

export function newJoinToken(caCert: string): string {
  return `SWMTKN-1-${base36(caDigest(caCert), 50)}-${base36(randomBytes(16), 25)}`;
}

export interface ParsedToken {
  caDigest: string;
  secret: string;
}

export function parseJoinToken(token: string): ParsedToken {
  const m = TOKEN.exec(token.trim());
  if (!m) throw new InvalidArgument("invalid join token");
  return { caDigest: m[1]!, secret: m[2]! };
}

/** True when `caCert` is the CA the token names. */
export function tokenNamesCA(token: ParsedToken, caCert: string): boolean {
  return base36(caDigest(caCert), 50) === token.caDigest;
}

/** Compares a presented token with the cluster's in constant time. */
export function sameToken(presented: string, expected: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
