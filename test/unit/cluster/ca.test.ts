import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  certificateSubject,
  createCA,
  createKeyAndRequest,
  newJoinToken,
  parseJoinToken,
  sameToken,
  signRequest,
  tokenNamesCA,
} from "../../../src/cluster/ca.js";
import {
  bitString,
  childrenOf,
  explicit,
  integer,
  oid,
  readElement,
  sequence,
  set,
  TAG,
  toPem,
} from "../../../src/cluster/der.js";
import { seal, unseal } from "../../../src/cluster/sealing.js";
import {
  basicConstraintsCA,
  distinguishedName,
  publicKeyInfo,
  subjectAltName,
} from "../../../src/cluster/x509.js";
import { InvalidArgument } from "../../../src/errors.js";

const ca = createCA();

test("a node certificate says what the CA chose, whatever the request asked for", () => {
  const { csr, key } = createKeyAndRequest();
  const cert = signRequest(ca, csr, {
    clusterId: "abc123",
    nodeId: "node1",
    role: "worker",
    ips: ["10.0.0.5"],
  });
  assert.deepEqual(certificateSubject(cert), { clusterId: "abc123", nodeId: "node1", role: "worker" });
  const x509 = new X509Certificate(cert);
  assert.deepEqual(certificateSubject(x509), certificateSubject(cert), "parsed or as PEM, the same");
  assert.ok(x509.verify(new X509Certificate(ca.cert).publicKey), "signed by the CA");
  assert.ok(x509.checkPrivateKey(createPrivateKey(key)), "for the node's own key");
  assert.match(x509.subjectAltName ?? "", /IP Address:10\.0\.0\.5/);
  assert.match(x509.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
});

test("a request that is not PEM, ids outside the alphabet, or an address that is not one, are refused", () => {
  const { csr } = createKeyAndRequest();
  const subject = worker;
  assert.throws(() => signRequest(ca, "not a request", subject), InvalidArgument);
  assert.throws(() => signRequest(ca, csr, { ...subject, nodeId: "n1/OU=swarm-manager" }), InvalidArgument);
  assert.throws(() => signRequest(ca, csr, { ...subject, ips: ["10.0.0.1,DNS:evil"] }), InvalidArgument);
  assert.throws(() => signRequest(ca, csr, { ...subject, ips: ["10.0.0"] }), /invalid IP address "10.0.0"/);
});

const worker = { clusterId: "c1", nodeId: "n1", role: "worker" as const, ips: ["10.0.0.1"] };

/** The DER inside a PEM request, and back. */
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, ""), "base64");
const requestPem = (der: Buffer) => toPem("CERTIFICATE REQUEST", der);

const p256 = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey;

test("the CA certificate is a CA's: self-signed, 20 years, for signing certificates only", () => {
  const x509 = new X509Certificate(ca.cert);
  assert.equal(x509.subject, "CN=swarm-ca");
  assert.equal(x509.issuer, "CN=swarm-ca");
  assert.ok(x509.ca, "basicConstraints CA:TRUE");
  assert.ok(x509.checkIssued(x509) && x509.verify(x509.publicKey), "self-signed");
  assert.ok(x509.checkPrivateKey(createPrivateKey(ca.key)));
  assert.match(ca.key, /^-----BEGIN EC PRIVATE KEY-----\n/, "the key in the form openssl wrote it");
  const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
  assert.equal(days, 7300);
});

test("a node certificate is issued by the CA, for its key, with the addresses it serves on", () => {
  const { csr, key } = createKeyAndRequest();
  assert.match(key, /^-----BEGIN EC PRIVATE KEY-----\n/);
  const cert = new X509Certificate(
    signRequest(ca, csr, {
      ...worker,
      role: "manager",
      ips: ["10.0.0.5", "fd00::1", "10.0.0.5", "127.0.0.1"],
    }),
  );
  const caCert = new X509Certificate(ca.cert);
  assert.ok(cert.checkIssued(caCert), "its issuer and key identifier are the CA's");
  assert.ok(cert.verify(caCert.publicKey));
  assert.equal(cert.issuer, caCert.subject);
  assert.equal(cert.subject, "O=c1\nOU=swarm-manager\nCN=n1");
  assert.equal(
    cert.subjectAltName,
    "IP Address:127.0.0.1, IP Address:10.0.0.5, IP Address:FD00:0:0:0:0:0:0:1, DNS:localhost",
    "each address once, v6 as 16 bytes",
  );
  assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], "server and client");
  assert.ok(!cert.ca);
  assert.ok(cert.checkPrivateKey(createPrivateKey(key)));
  assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/, "16 random bytes, positive");
  assert.notEqual(new X509Certificate(signRequest(ca, csr, worker)).serialNumber, cert.serialNumber);
  const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
  assert.equal(days, 3650);
  assert.ok(Math.abs(Date.parse(cert.validFrom) - Date.now()) < 5000);
  const store = new X509Certificate(signRequest(ca, csr, { ...worker, storeClient: true }));
  assert.equal(store.subject, "O=c1\nOU=swarm-worker", "no name for the store's client port");
});

test("a CA whose key is PKCS#8, or made by openssl as earlier Berths did, still signs", (t) => {
  const pkcs8 = {
    key: createPrivateKey(ca.key).export({ type: "pkcs8", format: "pem" }).toString(),
    cert: ca.cert,
  };
  assert.ok(
    new X509Certificate(signRequest(pkcs8, createKeyAndRequest().csr, worker)).checkIssued(
      new X509Certificate(ca.cert),
    ),
  );
  assert.throws(
    () => signRequest({ key: createCA().key, cert: ca.cert }, createKeyAndRequest().csr, worker),
    /the CA key is not the key of the CA certificate/,
  );

  const dir = mkdtempSync(join(tmpdir(), "berth-ca-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, `openssl ${args[0]}: ${r.error?.message ?? r.stderr}`);
    return r.stdout;
  };
  openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key");
  openssl(
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=swarm-ca",
    "-days",
    "7300",
    "-out",
    "ca.pem",
  );
  const legacy = {
    key: readFileSync(join(dir, "ca.key"), "utf8"),
    cert: readFileSync(join(dir, "ca.pem"), "utf8"),
  };
  const cert = new X509Certificate(signRequest(legacy, createKeyAndRequest().csr, worker));
  assert.ok(
    cert.checkIssued(new X509Certificate(legacy.cert)) &&
      cert.verify(new X509Certificate(legacy.cert).publicKey),
  );
  writeFileSync(join(dir, "node.pem"), cert.toString());
  openssl("verify", "-CAfile", "ca.pem", "node.pem");
  // And openssl reads the extensions of ours as meant (Node shows none of these but SAN).
  writeFileSync(join(dir, "ours.pem"), ca.cert);
  const text = openssl(
    "x509",
    "-in",
    "ours.pem",
    "-noout",
    "-ext",
    "basicConstraints,keyUsage,subjectKeyIdentifier",
  );
  assert.match(text, /Basic Constraints: critical\n\s+CA:TRUE/);
  assert.match(text, /Key Usage: critical\n\s+Certificate Sign, CRL Sign/);
});

/** A request for `key` with the given body parts, signed by `signer` (the key itself unless given). */
function request(
  key: KeyObject,
  opts: { subject?: Buffer; attributes?: Buffer[]; signer?: KeyObject } = {},
): string {
  const spki = publicKeyInfo(createPublicKey(key));
  const body = sequence(
    integer(0),
    opts.subject ?? distinguishedName([["CN", "node"]]),
    spki,
    explicit(0, ...(opts.attributes ?? [])),
  );
  return requestPem(
    sequence(body, sequence(oid("1.2.840.10045.4.3.2")), bitString(sign("sha256", body, opts.signer ?? key))),
  );
}

test("a request whose signature is not its key's is refused: the requester must hold the key", () => {
  const key = p256();
  assert.doesNotThrow(() => signRequest(ca, request(key), worker), "the helper makes good requests");
  assert.throws(
    () => signRequest(ca, request(key, { signer: p256() }), worker),
    /signature does not verify with its own key/,
  );
  // A byte changed in a signed request: its subject then differs from what was signed.
  const der = derOf(createKeyAndRequest().csr);
  const at = der.indexOf(Buffer.from("node"));
  der[at] = "m".charCodeAt(0);
  assert.throws(() => signRequest(ca, requestPem(der), worker), /signature does not verify/);
  // A signature that is not an ECDSA signature at all.
  const [body, algorithm] = childrenOf(readElement(derOf(request(key)), TAG.SEQUENCE, "t"), "t");
  const garbled = requestPem(sequence(body!.raw, algorithm!.raw, bitString(randomBytes(70))));
  assert.throws(() => signRequest(ca, garbled, worker), /signature does not verify/);
});

test("a request for a key that is not ECDSA P-256 is refused", () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const p384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" }).privateKey;
  const ed = generateKeyPairSync("ed25519").privateKey;
  assert.throws(
    () => signRequest(ca, request(rsa), worker),
    /ECDSA P-256 keys only; .* holds a key of type rsa/,
  );
  assert.throws(
    () => signRequest(ca, request(p384), worker),
    /ECDSA P-256 keys only; .* holds an EC key on secp384r1/,
  );
  // (Signed by another key: Ed25519 signs no SHA-256 digest, and the key is refused first.)
  assert.throws(
    () => signRequest(ca, request(ed, { signer: p256() }), worker),
    /holds a key of type ed25519/,
  );
});

test("a request that is truncated, garbage, oversized or not DER is refused with what is wrong", () => {
  const der = derOf(createKeyAndRequest().csr);
  const refused = (bytes: Buffer, message: RegExp) => {
    const err = (() => {
      try {
        signRequest(ca, requestPem(bytes), worker);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof InvalidArgument, `${bytes.subarray(0, 8).toString("hex")}: ${err}`);
    assert.match(err.message, message);
  };
  refused(
    der.subarray(0, der.length - 10),
    /the certificate request is not valid DER: an element of \d+ bytes where \d+ are left at byte 0/,
  );
  refused(der.subarray(0, 1), /ends inside an element's header/);
  refused(Buffer.concat([der, Buffer.from([0, 0])]), /2 bytes after its end/);
  refused(randomBytes(2000).fill(0x04, 0, 1), /has tag 0x04 where 0x30 was expected|not valid DER/);
  refused(Buffer.from("30800000", "hex"), /an indefinite length/);
  refused(Buffer.from("3084ffffffff00", "hex"), /an element of 4294967295 bytes where 1 are left/);
  refused(Buffer.from("3089010000000000000000", "hex"), /a length of 9 bytes/);
  refused(Buffer.from("30810100", "hex"), /a length not in its shortest form/);
  refused(Buffer.from("1f8101", "hex"), /a multi-byte tag/);
  refused(Buffer.alloc(5000, 0x30), /has 5000 bytes, more than the 4096/);
  // Nested a thousand deep: refused at the first level that is not what a request has.
  const deep = Array.from({ length: 1000 }).reduce<Buffer>((inner) => sequence(inner), Buffer.alloc(0));
  refused(deep.subarray(0, 4000), /not valid DER|is missing/);
  refused(
    sequence(sequence(), sequence(), bitString(Buffer.alloc(1)), sequence()),
    /has more than 3 members/,
  );
  // The body's public key is not a key at all.
  refused(
    sequence(
      sequence(integer(0), sequence(), sequence(oid("1.2.840.10045.2.1")), explicit(0)),
      sequence(oid("1.2.840.10045.4.3.2")),
      bitString(Buffer.alloc(8)),
    ),
    /public key does not parse/,
  );
  assert.throws(() => signRequest(ca, `${"A".repeat(9000)}`, worker), /not a PEM certificate request/);
});

test("what a request asks for (a manager's name, extensions, a CA) changes nothing the CA issues", () => {
  const key = p256();
  const extensionRequest = sequence(
    oid("1.2.840.113549.1.9.14"),
    set(sequence(basicConstraintsCA(), subjectAltName([Buffer.from([1, 2, 3, 4])], ["evil.example"]))),
  );
  const csr = request(key, {
    subject: distinguishedName([
      ["O", "other"],
      ["OU", "swarm-manager"],
      ["CN", "manager"],
    ]),
    attributes: [extensionRequest],
  });
  const cert = new X509Certificate(signRequest(ca, csr, worker));
  assert.equal(cert.subject, "O=c1\nOU=swarm-worker\nCN=n1");
  assert.deepEqual(certificateSubject(cert), { clusterId: "c1", nodeId: "n1", role: "worker" });
  assert.ok(!cert.ca, "not a CA, whatever it asked");
  assert.equal(cert.subjectAltName, "IP Address:127.0.0.1, IP Address:10.0.0.1, DNS:localhost");
  assert.ok(cert.checkPrivateKey(key), "only its key is taken");
});

test("join tokens name the CA's digest and a secret, in swarm's format", () => {
  const token = newJoinToken(ca.cert);
  assert.match(token, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
  const parsed = parseJoinToken(token);
  assert.ok(tokenNamesCA(parsed, ca.cert));
  assert.ok(!tokenNamesCA(parsed, createCA().cert), "another CA is not the one named");
  assert.notEqual(newJoinToken(ca.cert), token, "each token has its own secret");
  assert.ok(sameToken(token, token));
  assert.ok(!sameToken(token, newJoinToken(ca.cert)));
  for (const bad of ["", "SWMTKN-1-abc-def", `SWMTKN-2-${"a".repeat(50)}-${"b".repeat(25)}`, `${token}x`])
    assert.throws(() => parseJoinToken(bad), /invalid join token/);
});

test("sealed values open only with the CA key that sealed them", () => {
  const sealed = seal(ca.key, "tokens");
  assert.doesNotMatch(sealed, /tokens/);
  assert.equal(unseal(ca.key, sealed), "tokens");
  assert.throws(() => unseal(createCA().key, sealed), /does not open/);
  const tampered = Buffer.from(sealed, "base64");
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => unseal(ca.key, tampered.toString("base64")), /does not open/);
});
