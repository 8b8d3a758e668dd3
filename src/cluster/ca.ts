/**
 * The cluster's certificate authority, as swarm mode has one: `swarm init` makes it, every node
 * gets a certificate it signs (subject O=cluster id, OU=role, CN=node id) for etcd's client and
 * peer traffic and for node-to-node calls, and join tokens name the CA's digest so that a
 * joining node can tell the real manager from an impostor before it says anything.
 * Keys, requests and certificates are made in the process (x509.ts): ECDSA P-256, as swarm uses.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
  X509Certificate,
} from "node:crypto";
import { InvalidArgument } from "../errors.js";
import { parseIp } from "../network/ip.js";
import { lastOne } from "../util/last-one.js";
import { toPem } from "./der.js";
import {
  authorityKeyIdentifier,
  basicConstraintsCA,
  certificate,
  certificationRequest,
  distinguishedName,
  extKeyUsage,
  issuerOf,
  keyIdentifier,
  keyUsage,
  MAX_REQUEST_BYTES,
  type NameAttribute,
  publicKeyInfo,
  requestPublicKey,
  subjectAltName,
  subjectKeyIdentifier,
} from "./x509.js";

export interface KeyPair {
  key: string;
  cert: string;
}

export type NodeRole = "manager" | "worker";

/** OU of a node certificate, by role: swarm's names, which the CLI shows nowhere but tests read. */
export const ROLE_OU: Record<NodeRole, string> = { manager: "swarm-manager", worker: "swarm-worker" };

const CA_DAYS = 7300;
const NODE_DAYS = 3650;
const DAY_MS = 86_400_000;

/** A new P-256 key, and its private half as PEM "EC PRIVATE KEY" (SEC 1), as openssl wrote it. */
function newKey(): { privateKey: KeyObject; pem: string } {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return { privateKey, pem: privateKey.export({ type: "sec1", format: "pem" }).toString() };
}

/** 16 random bytes, the top bit clear so that it is positive, the next set so that it keeps 16. */
function serialNumber(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  return serial;
}

/** Validity from now for `days`, in whole seconds as certificates carry it. */
function validity(days: number): { notBefore: Date; notAfter: Date } {
  const now = Math.floor(Date.now() / 1000) * 1000;
  return { notBefore: new Date(now), notAfter: new Date(now + days * DAY_MS) };
}

export function createCA(): KeyPair {
  const { privateKey, pem } = newKey();
  const publicKey = publicKeyInfo(createPublicKey(privateKey));
  const name = distinguishedName([["CN", "swarm-ca"]]);
  const keyId = keyIdentifier(publicKey);
  const der = certificate(
    {
      serial: serialNumber(),
      issuer: name,
      subject: name,
      ...validity(CA_DAYS),
      publicKey,
      extensions: [
        subjectKeyIdentifier(keyId),
        authorityKeyIdentifier(keyId),
        basicConstraintsCA(),
        keyUsage(["keyCertSign", "cRLSign"], true),
      ],
    },
    privateKey,
  );
  return { key: pem, cert: toPem("CERTIFICATE", der) };
}

/** A node's own key and a request to sign it: the key never leaves the node. */
export function createKeyAndRequest(): { key: string; csr: string } {
  const { privateKey, pem } = newKey();
  const csr = certificationRequest(distinguishedName([["CN", "node"]]), privateKey);
  return { key: pem, csr: toPem("CERTIFICATE REQUEST", csr) };
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

interface Issuer {
  key: KeyObject;
  /** The CA certificate's subject, bytes as they are: a node certificate's issuer. */
  name: Buffer;
  keyId: Buffer;
}

/**
 * The last CA used as a signer, parsed: parsing its key and certificate took 1.5 ms, more than
 * the rest of a signature (OpenSSL 3's decoders), and a manager signs with one CA at every join.
 */
const issuerFor = lastOne((caKey: string, caCert: string): Issuer => {
  const cert = new X509Certificate(caCert);
  const key = createPrivateKey(caKey); // "EC PRIVATE KEY" as Berth writes it, or PKCS#8
  const spki = publicKeyInfo(cert.publicKey);
  if (!publicKeyInfo(createPublicKey(key)).equals(spki))
    throw new InvalidArgument("the CA key is not the key of the CA certificate");
  const { subject, keyId } = issuerOf(cert.raw);
  return { key, name: subject, keyId: keyId ?? keyIdentifier(spki) };
});

/**
 * Signs a node's request. The subject and names are the CA's choice, never the request's: a
 * joining node cannot ask to be a manager or another node.
 */
export function signRequest(ca: KeyPair, csr: string, subject: CertificateSubject): string {
  if (!SAFE_NAME.test(subject.clusterId) || !SAFE_NAME.test(subject.nodeId))
    throw new InvalidArgument("a certificate's cluster and node ids are lower-case letters and digits");
  // As iPAddress names want them, 4 or 16 bytes; by their bytes, so that "::1" and "0::1" are one.
  const addresses = new Map<string, Buffer>();
  for (const ip of ["127.0.0.1", ...subject.ips]) {
    if (!/^[0-9a-fA-F.:]+$/.test(ip)) throw new InvalidArgument(`"${ip}" is not an IP address`);
    const { family, value } = parseIp(ip);
    const bytes = Buffer.from(value.toString(16).padStart(family === 4 ? 8 : 32, "0"), "hex");
    addresses.set(bytes.toString("hex"), bytes);
  }
  const pem =
    csr.length <= 2 * MAX_REQUEST_BYTES
      ? /^-----BEGIN CERTIFICATE REQUEST-----\n([A-Za-z0-9+/=\n]+)-----END CERTIFICATE REQUEST-----\n?$/.exec(
          csr,
        )
      : null;
  if (!pem) throw new InvalidArgument("the certificate request is not a PEM certificate request");
  const publicKey = requestPublicKey(Buffer.from(pem[1]!, "base64"));
  const issuer = issuerFor(ca.key, ca.cert);

  const name: [NameAttribute, string][] = [
    ["O", subject.clusterId],
    ["OU", ROLE_OU[subject.role]],
    ...(subject.storeClient ? [] : [["CN", subject.nodeId] as [NameAttribute, string]]),
  ];
  const der = certificate(
    {
      serial: serialNumber(),
      issuer: issuer.name,
      subject: distinguishedName(name),
      ...validity(NODE_DAYS),
      publicKey,
      extensions: [
        subjectAltName([...addresses.values()], ["localhost"]),
        extKeyUsage(["serverAuth", "clientAuth"]),
        keyUsage(["digitalSignature", "keyEncipherment"]),
        subjectKeyIdentifier(keyIdentifier(publicKey)),
        authorityKeyIdentifier(issuer.keyId),
      ],
    },
    issuer.key,
  );
  return toPem("CERTIFICATE", der);
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
