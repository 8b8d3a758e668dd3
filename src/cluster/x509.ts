/**
 * X.509 certificates (RFC 5280) and PKCS#10 certificate requests (RFC 2986) with ECDSA P-256
 * keys: built and read with der.ts, signed and verified by node:crypto, in the process (each
 * run of openssl(1) forked the manager and blocked its event loop: a 1,000-node join took
 * 528 s). The structures only: which names and extensions a certificate carries is the CA's
 * policy, in ca.ts.
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { InvalidArgument } from "../errors.js";
import {
  bitString,
  boolean,
  childrenOf,
  type Element,
  expectTag,
  explicit,
  implicit,
  integer,
  namedBits,
  octetString,
  oid,
  readElement,
  sequence,
  set,
  TAG,
  time,
  utf8String,
} from "./der.js";

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
} as const;

const NAME_ATTRIBUTES = { CN: "2.5.4.3", O: "2.5.4.10", OU: "2.5.4.11" } as const;
const KEY_USAGE_BITS = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;
const KEY_PURPOSES = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;

/** The AlgorithmIdentifier of every signature here: ECDSA with SHA-256, no parameters (RFC 5758). */
const ECDSA_SHA256 = sequence(oid(OID.ecdsaWithSha256));

/** Requests are a few hundred bytes; anything much larger is not one of ours. */
export const MAX_REQUEST_BYTES = 4096;

export type NameAttribute = keyof typeof NAME_ATTRIBUTES;

/** A distinguished name, one attribute per RDN in the order given, as UTF8String as openssl writes it. */
export function distinguishedName(attributes: [NameAttribute, string][]): Buffer {
  return sequence(
    ...attributes.map(([type, value]) => set(sequence(oid(NAME_ATTRIBUTES[type]), utf8String(value)))),
  );
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

export const basicConstraintsCA = () => extension(OID.basicConstraints, sequence(boolean(true)), true);

export const keyUsage = (usages: (keyof typeof KEY_USAGE_BITS)[], critical = false) =>
  extension(OID.keyUsage, namedBits(usages.map((u) => KEY_USAGE_BITS[u])), critical);

export const extKeyUsage = (purposes: (keyof typeof KEY_PURPOSES)[]) =>
  extension(OID.extKeyUsage, sequence(...purposes.map((p) => oid(KEY_PURPOSES[p]))));

/** Addresses as 4 or 16 bytes (iPAddress, [7]) and host names (dNSName, [2]). */
export const subjectAltName = (addresses: Buffer[], dnsNames: string[]) =>
  extension(
    OID.subjectAltName,
    sequence(
      ...addresses.map((a) => implicit(7, a)),
      ...dnsNames.map((n) => implicit(2, Buffer.from(n, "ascii"))),
    ),
  );

export const subjectKeyIdentifier = (keyId: Buffer) =>
  extension(OID.subjectKeyIdentifier, octetString(keyId));

export const authorityKeyIdentifier = (keyId: Buffer) =>
  extension(OID.authorityKeyIdentifier, sequence(implicit(0, keyId)));

/** The SubjectPublicKeyInfo of a key, as node:crypto writes it. */
export function publicKeyInfo(key: KeyObject): Buffer {
  return key.export({ type: "spki", format: "der" });
}

/**
 * A key's identifier from its SubjectPublicKeyInfo, RFC 5280 4.2.1.2 method 1 (SHA-1 of the
 * public key's bits), which is what openssl writes: so a CA that an earlier Berth made with
 * openssl names its key the same way.
 */
export function keyIdentifier(spki: Buffer): Buffer {
  const info = readElement(spki, TAG.SEQUENCE, "a public key");
  const bits = expectTag(childrenOf(info, "a public key", 2)[1], TAG.BIT_STRING, "a public key's bits");
  return createHash("sha1").update(bits.contents.subarray(1)).digest();
}

/** An element signed with ECDSA P-256 and SHA-256: the body, the algorithm, the signature. */
function signed(body: Buffer, key: KeyObject): Buffer {
  return sequence(body, ECDSA_SHA256, bitString(sign("sha256", body, key)));
}

export interface CertificateFields {
  /** Big-endian bytes of a positive serial number. */
  serial: Buffer;
  /** The issuer's subject Name, exactly as its own certificate has it. */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The subject's SubjectPublicKeyInfo. */
  publicKey: Buffer;
  extensions: Buffer[];
}

/** A v3 certificate's DER, signed by `issuerKey`. */
export function certificate(f: CertificateFields, issuerKey: KeyObject): Buffer {
  const body = sequence(
    explicit(0, integer(2)), // v3, for extensions
    integer(f.serial),
    ECDSA_SHA256,
    f.issuer,
    sequence(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.publicKey,
    explicit(3, sequence(...f.extensions)),
  );
  return signed(body, issuerKey);
}

/** A certificate request's DER: the subject, the key's public half, signed by the key. */
export function certificationRequest(subject: Buffer, privateKey: KeyObject): Buffer {
  // Version 0 and an empty attribute set ([0] IMPLICIT SET OF, no members).
  const body = sequence(integer(0), subject, publicKeyInfo(createPublicKey(privateKey)), explicit(0));
  return signed(body, privateKey);
}

/** An EC P-256 public key from a SubjectPublicKeyInfo, the only kind the CA signs. */
function p256Key(info: Element, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: info.raw, format: "der", type: "spki" });
  } catch (err) {
    throw new InvalidArgument(`${what}'s public key does not parse: ${(err as Error).message}`);
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== "ec" || curve !== "prime256v1")
    throw new InvalidArgument(
      `the CA signs ECDSA P-256 keys only; ${what} holds ${key.asymmetricKeyType === "ec" ? `an EC key on ${curve ?? "a curve given by its parameters"}` : `a key of type ${key.asymmetricKeyType}`}`,
    );
  return key;
}

/**
 * The public key of a certificate request, once its signature verifies with that key (proof that
 * the requester holds the private half), as a SubjectPublicKeyInfo written anew from the parsed
 * key. Nothing else of the request is used: its subject and attributes (requested extensions)
 * are the requester's wishes, and the CA decides those.
 */
export function requestPublicKey(der: Buffer): Buffer {
  const what = "the certificate request";
  if (der.length > MAX_REQUEST_BYTES)
    throw new InvalidArgument(
      `${what} has ${der.length} bytes, more than the ${MAX_REQUEST_BYTES} a request can have`,
    );
  const [signedBody, algorithm, signature] = childrenOf(readElement(der, TAG.SEQUENCE, what), what, 3);
  const body = expectTag(signedBody, TAG.SEQUENCE, `${what}'s body`);
  if (!expectTag(algorithm, TAG.SEQUENCE, `${what}'s signature algorithm`).raw.equals(ECDSA_SHA256))
    throw new InvalidArgument(`${what} is not signed with ECDSA and SHA-256`);
  const sig = expectTag(signature, TAG.BIT_STRING, `${what}'s signature`).contents;
  if (sig[0] !== 0) throw new InvalidArgument(`${what}'s signature is not whole bytes`);
  const [version, subject, info, attributes] = childrenOf(body, `${what}'s body`, 4);
  if (!expectTag(version, TAG.INTEGER, `${what}'s version`).contents.equals(Buffer.from([0])))
    throw new InvalidArgument(`${what} is not a version 1 request`);
  expectTag(subject, TAG.SEQUENCE, `${what}'s subject`);
  if (attributes) expectTag(attributes, 0xa0, `${what}'s attributes`);
  const key = p256Key(expectTag(info, TAG.SEQUENCE, `${what}'s public key`), what);
  let valid = false;
  try {
    valid = verify("sha256", body.raw, { key, dsaEncoding: "der" }, sig.subarray(1));
  } catch {
    // A signature that does not parse is as good as a wrong one.
  }
  if (!valid) throw new InvalidArgument(`${what}'s signature does not verify with its own key`);
  return publicKeyInfo(key);
}

/**
 * What the CA takes from its own certificate to issue one: its subject Name, bytes as they are
 * (a client compares a certificate's issuer with its CA's subject byte for byte), and its key
 * identifier when it names one.
 */
export function issuerOf(der: Buffer): { subject: Buffer; keyId: Buffer | undefined } {
  const what = "the CA certificate";
  const tbs = childrenOf(
    expectTag(childrenOf(readElement(der, TAG.SEQUENCE, what), what, 3)[0], TAG.SEQUENCE, `${what}'s body`),
    `${what}'s body`,
    10,
  );
  // version [0], serial, signature, issuer, validity, subject, key, then [1], [2], [3] extensions.
  const start = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expectTag(tbs[start + 4], TAG.SEQUENCE, `${what}'s subject`).raw;
  const extensions = tbs.find((el) => el.tag === 0xa3);
  if (!extensions) return { subject, keyId: undefined };
  const list = expectTag(
    childrenOf(extensions, `${what}'s extensions`, 1)[0],
    TAG.SEQUENCE,
    `${what}'s extensions`,
  );
  const wanted = oid(OID.subjectKeyIdentifier);
  for (const ext of childrenOf(list, `${what}'s extensions`)) {
    const fields = childrenOf(ext, `${what}'s extension`, 3);
    if (!fields[0]?.raw.equals(wanted)) continue;
    const value = expectTag(fields[fields.length - 1], TAG.OCTET_STRING, `${what}'s key identifier`);
    return {
      subject,
      keyId: readElement(value.contents, TAG.OCTET_STRING, `${what}'s key identifier`).contents,
    };
  }
  return { subject, keyId: undefined };
}
