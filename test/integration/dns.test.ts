/**
 * The embedded DNS server on real sockets: local names answered from the network's containers,
 * other names forwarded to the upstream resolvers and their answers relayed, over UDP and TCP.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { test } from "node:test";
import { answer, DnsServer, parseQuestion } from "../../src/network/dns.js";

function query(name: string): Buffer {
  const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([
    Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    ...labels,
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
}

function ask(server: string, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => reject(new Error("no answer")), 3000);
    s.once("message", (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, 53, server);
  });
}

const lastAddress = (reply: Buffer) => [...reply.subarray(reply.length - 4)].join(".");

test("local names are answered, others forwarded upstream and relayed (UDP and TCP)", async () => {
  // A fake upstream resolver that answers every A query with 192.0.2.99.
  const upstream = createSocket("udp4");
  upstream.on("message", (msg, from) => {
    const q = parseQuestion(msg)!;
    upstream.send(answer(msg, q, ["192.0.2.99"]), from.port, from.address);
  });
  await new Promise<void>((r) => upstream.bind(53, "127.0.0.6", () => r()));
  const server = new DnsServer(
    "127.0.0.5",
    (name, client) => (name === "db" && client === "127.0.0.1" ? ["10.92.0.7"] : undefined),
    () => ["127.0.0.6"],
  );
  await server.start();
  try {
    assert.equal(lastAddress(await ask("127.0.0.5", query("db"))), "10.92.0.7");
    assert.equal(lastAddress(await ask("127.0.0.5", query("example.org"))), "192.0.2.99");
    const tcpReply = await new Promise<Buffer>((resolve, reject) => {
      const msg = query("db");
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      const c = connect(53, "127.0.0.5", () => c.write(Buffer.concat([len, msg])));
      let got = Buffer.alloc(0);
      c.on("data", (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
          c.end();
          resolve(got.subarray(2));
        }
      });
      c.on("error", reject);
    });
    assert.equal(lastAddress(tcpReply), "10.92.0.7");
  } finally {
    server.stop();
    upstream.close();
  }
});
