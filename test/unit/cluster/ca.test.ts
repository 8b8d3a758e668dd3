import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
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
import { seal, unseal } from "../../../src/cluster/sealing.js";
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
  const subject = { clusterId: "c1", nodeId: "n1", role: "worker" as const, ips: ["10.0.0.1"] };
  assert.throws(() => signRequest(ca, "not a request", subject), InvalidArgument);
  assert.throws(() => signRequest(ca, csr, { ...subject, nodeId: "n1/OU=swarm-manager" }), InvalidArgument);
  assert.throws(() => signRequest(ca, csr, { ...subject, ips: ["10.0.0.1,DNS:evil"] }), InvalidArgument);
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
