/**
 * The protobuf description of etcd's API (etcd-rpc.ts) encodes with etcd's field numbers and
 * wire types: bytes worked out by hand from etcd's rpc.proto and kv.proto.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decode, encode, RPC } from "../../../src/cluster/etcd-rpc.js";

const hex = (b: Buffer) => b.toString("hex");

test("a put names key 1, value 2 and lease 3", () => {
  // 0a 01 'a' | 12 01 'b' | 18 05
  assert.equal(
    hex(encode(RPC.put.request, { key: Buffer.from("a"), value: Buffer.from("b"), lease: "5" })),
    "0a0161120162" + "1805",
  );
});

test("a transaction's comparison carries its target, its key and create_revision 5", () => {
  const bytes = encode(RPC.txn.request, {
    compare: [{ key: Buffer.from("k"), target: "CREATE", result: "EQUAL", create_revision: "0" }],
    success: [{ request_delete_range: { key: Buffer.from("k") } }],
  });
  // compare (1): result EQUAL=0 (field 1, set so sent), target CREATE=1 (2), key (3), create_revision 0 (5, set in a oneof so
  // sent); success (2): request_delete_range (3) with key (1).
  assert.equal(hex(bytes), "0a09" + "0800" + "1001" + "1a016b" + "2800" + "1205" + "1a03" + "0a016b");
});

test("a watch answer decodes its events, a delete by name, revisions as text", () => {
  // events (11): type DELETE=1 (1), kv (2) with key 'k' (1), mod_revision 7 (3)
  const bytes = Buffer.from("5a09" + "0801" + "1205" + "0a016b" + "1807", "hex");
  const answer = decode<{ events: Array<{ type: string; kv: { key: Buffer; mod_revision: string } }> }>(
    RPC.watch.response,
    bytes,
  );
  assert.equal(answer.events[0]!.type, "DELETE");
  assert.equal(answer.events[0]!.kv.key.toString(), "k");
  assert.equal(answer.events[0]!.kv.mod_revision, "7");
});

test("a lease renewal answer carries ID 2 and TTL 3 as 64-bit numbers", () => {
  const big = "7103480878842568969";
  const bytes = encode(RPC.leaseKeepAlive.response, { ID: big, TTL: "5" });
  assert.deepEqual(decode(RPC.leaseKeepAlive.response, bytes), { ID: big, TTL: "5" });
});
