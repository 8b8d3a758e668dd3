/**
 * A call to another node that answers JSON has a deadline for its whole answer: a peer that
 * takes the call and never answers, or answers only in part, fails the call with a message that
 * says so, rather than holding the caller (and a worker's reports behind it) for good.
 */
import assert from "node:assert/strict";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { createCA, createKeyAndRequest, signRequest } from "../../../src/cluster/ca.js";
import { askPeer } from "../../../src/cluster/join.js";

const ca = createCA();
function certFor(nodeId: string): { key: string; cert: string; ca: string } {
  const { key, csr } = createKeyAndRequest();
  const cert = signRequest(ca, csr, { clusterId: "c1", nodeId, role: "manager", ips: ["127.0.0.1"] });
  return { key, cert, ca: ca.cert };
}

const server = createServer({ ...certFor("n1"), requestCert: true, rejectUnauthorized: true }, (req, res) => {
  if (req.url === "/answers") res.writeHead(200).end(JSON.stringify({ ok: true }));
  else if (req.url === "/half") res.writeHead(200).write('{"ok":');
  // "/never": the call is taken, and nothing comes back.
});
let addr = "";
const client = certFor("n2");

before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

test("a peer that answers in time is answered", async () => {
  assert.deepEqual(await askPeer(addr, "/answers", client, {}, 2000), { ok: true });
});

for (const path of ["/never", "/half"])
  test(`a peer that ${path === "/never" ? "never answers" : "sends half an answer"} fails the call at its deadline`, async () => {
    const t0 = Date.now();
    await assert.rejects(askPeer(addr, path, client, {}, 300), (err: Error) => {
      assert.match(err.message, new RegExp(`node at ${addr}: no answer to ${path} in 0.3 s`));
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 290 && took < 3000, `failed after ${took} ms`);
  });
