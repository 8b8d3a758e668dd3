/**
 * The embedded DNS server of user-defined networks: it listens on the network's gateway address
 * (UDP and TCP port 53), answers A and AAAA queries for the names of the containers on that
 * network (container names, network aliases, short IDs), answers other record types of those
 * names with no records, and forwards every other query, as is, to the host's resolvers.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer, type Server, type Socket } from "node:net";
import { parseIp } from "./ip.js";

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;
const TTL = 600;

export interface Question {
  name: string;
  type: number;
  /** Offset just past the question in the message. */
  end: number;
}

/** The first question of a DNS message (RFC 1035 4.1.2), or undefined when it is malformed. */
export function parseQuestion(msg: Buffer): Question | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = msg[at];
    if (len === undefined || len > 63) return undefined; // compression has no place in a question
    at++;
    if (len === 0) break;
    if (at + len > msg.length) return undefined;
    labels.push(msg.subarray(at, at + len).toString("latin1"));
    at += len;
  }
  if (at + 4 > msg.length) return undefined;
  return { name: labels.join(".").toLowerCase(), type: msg.readUInt16BE(at), end: at + 4 };
}

/**
 * An answer to `query` with the given addresses: an A record for each IPv4 one, an AAAA record
 * for each IPv6 one (none: NXDOMAIN unless `exists`).
 */
export function answer(
  query: Buffer,
  q: Question,
  addresses: string[],
  exists = addresses.length > 0,
): Buffer {
  const header = Buffer.from(query.subarray(0, 12));
  const rd = header[2]! & 0x01;
  header[2] = 0x80 | 0x04 | rd; // response, authoritative, recursion desired echoed
  header[3] = 0x80 | (exists ? 0 : 3); // recursion available; NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const records = addresses.map((ip) => {
    const { family, value } = parseIp(ip);
    const size = family === 4 ? 4 : 16;
    const rr = Buffer.alloc(12 + size);
    rr.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    rr.writeUInt16BE(family === 4 ? TYPE_A : TYPE_AAAA, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(size, 10);
    for (let i = 0; i < size; i++) rr[12 + i] = Number((value >> BigInt(8 * (size - 1 - i))) & 0xffn);
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...records]);
}

/** The addresses (IPv4 and IPv6) of `name` as the asking client (by its address) may reach them. */
export type Resolve = (name: string, client: string) => string[] | undefined;

/** Answers locally when `resolve` knows the name, else asks the upstream servers. */
async function respond(
  msg: Buffer,
  client: string,
  resolve: Resolve,
  upstream: string[],
): Promise<Buffer | undefined> {
  const q = parseQuestion(msg);
  if (!q) return undefined;
  const local = resolve(q.name.replace(/\.$/, ""), client);
  if (local) {
    const wanted = q.type === TYPE_A ? 4 : q.type === TYPE_AAAA ? 6 : undefined;
    return answer(
      msg,
      q,
      local.filter((ip) => parseIp(ip).family === wanted),
      true,
    );
  }
  for (const server of upstream) {
    const reply = await forward(msg, server).catch(() => undefined);
    if (reply) return reply;
  }
  return answer(msg, q, [], false);
}

function forward(msg: Buffer, server: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      reject(new Error("timeout"));
    }, 2000);
    s.once("message", (reply) => {
      clearTimeout(timer);
      s.close();
      resolve(reply);
    });
    s.once("error", (err) => {
      clearTimeout(timer);
      s.close();
      reject(err);
    });
    s.send(msg, 53, server);
  });
}

export class DnsServer {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;

  constructor(
    private readonly address: string,
    private readonly resolve: Resolve,
    private readonly upstream: () => string[],
  ) {}

  async start(): Promise<void> {
    const udp = createSocket("udp4");
    udp.on("message", (msg, from) => {
      void respond(msg, from.address, this.resolve, this.upstream()).then((reply) => {
        if (reply) udp.send(reply, from.port, from.address);
      });
    });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(53, this.address, () => resolve());
    });
    this.udp = udp;
    // TCP: two-byte length prefix per message (RFC 1035 4.2.2).
    const tcp = createServer((conn: Socket) => {
      let pending = Buffer.alloc(0);
      conn.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
          const msg = pending.subarray(2, 2 + pending.readUInt16BE(0));
          pending = pending.subarray(2 + msg.length);
          void respond(msg, conn.remoteAddress ?? "", this.resolve, this.upstream()).then((reply) => {
            if (!reply) return conn.destroy();
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.length);
            conn.write(Buffer.concat([len, reply]));
          });
        }
      });
      conn.on("error", () => conn.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", reject);
      tcp.listen(53, this.address, () => resolve());
    });
    this.tcp = tcp;
  }

  stop(): void {
    this.udp?.close();
    this.tcp?.close();
    this.udp = undefined;
    this.tcp = undefined;
  }
}
