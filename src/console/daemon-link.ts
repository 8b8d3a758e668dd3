/**
 * The console's side of the daemon: plain requests passed on with their streamed answers, and the
 * hijacked connection of an exec, on the daemon's unix socket (or TCP with TLS, as the CLI's -H).
 */
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";

export interface DaemonEndpoint {
  socketPath?: string | undefined;
  host?: string | undefined;
  port?: number | undefined;
  tls?: { ca: Buffer; cert: Buffer; key: Buffer } | undefined;
}

export class DaemonLink {
  constructor(private readonly endpoint: DaemonEndpoint) {}

  request(method: string, path: string, headers: Record<string, string>): ClientRequest {
    const e = this.endpoint;
    const options: RequestOptions = {
      method,
      path,
      headers,
      agent: false,
      ...(e.socketPath ? { socketPath: e.socketPath } : { host: e.host, port: e.port }),
      ...(e.tls ? { ca: e.tls.ca, cert: e.tls.cert, key: e.tls.key } : {}),
    };
    return (e.tls ? httpsRequest : httpRequest)(options);
  }

  /**
   * Starts an exec with a terminal and hands back its raw stream (a terminal's output is not
   * multiplexed): the daemon answers 101 and the socket carries the terminal both ways.
   */
  startExec(execId: string): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ Detach: false, Tty: true });
      const req = this.request("POST", `/exec/${execId}/start`, {
        "Content-Type": "application/json",
        "Content-Length": String(Buffer.byteLength(body)),
        Connection: "Upgrade",
        Upgrade: "tcp",
      });
      req.on("error", reject);
      req.on("upgrade", (_res, socket, head) => resolve({ socket, head }));
      // The daemon answers an upgrade request with 101; any other answer is its refusal.
      req.on("response", (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => reject(new ExecRefused(res.statusCode ?? 500, Buffer.concat(parts))));
      });
      req.end(body);
    });
  }
}

/** The daemon's refusal to start an exec (unknown id, container stopped): its own message. */
export class ExecRefused extends Error {
  constructor(
    readonly status: number,
    body: Buffer,
  ) {
    let message = body.toString("utf8").trim();
    try {
      message = (JSON.parse(message) as { message?: string }).message ?? message;
    } catch {}
    super(message || `the daemon answered ${status}`);
  }
}
