/**
 * Calls to a plugin: HTTP POST /<Interface.Method> with a JSON body on its unix socket (Docker's
 * plugin protocol, pkg/plugins/client.go), and the reply read as a hostile answer.
 *
 * The socket file is in a directory the plugin writes to, so it is opened O_PATH|O_NOFOLLOW and
 * checked to be a socket, then connected through /proc/self/fd/N: the plugin cannot point us at
 * another socket of the host with a symlink, and the address stays short whatever the length of
 * `<exec-root>/plugins/<id>/` (a unix socket address holds 108 bytes).
 */
import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { errorText } from "../errors.js";
import { PluginCallFailed, PluginMethodMissing } from "./errors.js";

/** The media type of plugin calls (the Docker Plugin API's "v1" JSON). */
export const PLUGIN_MEDIA_TYPE = "application/vnd.docker.plugins.v1+json";
/** What dockerd accepts back (pkg/plugins/transport VersionMimetype). */
const PLUGIN_ACCEPT = "application/vnd.docker.plugins.v1.2+json";
const O_PATH = 0o10000000;
/** More than any answer of the volume protocol needs (a List of many volumes included). */
const MAX_REPLY = 4 * 1024 * 1024;

/** Connects to the unix socket at `path` without following a symlink in its last component. */
export function connectSocketFile(path: string): Socket {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    throw new PluginCallFailed(`connect ${path}: ${errorText(err)}`);
  }
  try {
    if (!fstatSync(fd).isSocket()) throw new PluginCallFailed(`connect ${path}: not a socket`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  const socket = connect(`/proc/self/fd/${fd}`);
  let closed = false;
  const release = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  socket.once("connect", release);
  socket.once("error", release);
  socket.once("close", release);
  return socket;
}

/** Whether something listens on the socket at `path` (connects, then hangs up). */
export function socketListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    let socket: Socket;
    try {
      socket = connectSocketFile(path);
    } catch {
      resolve(false);
      return;
    }
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** An answer as received: the status and the body's text. */
export interface RawReply {
  status: number;
  body: string;
}

/**
 * A reply's JSON object, or the error it stands for: the plugin's `Err` (in a 200 or not), a
 * status that is not 200, or a body that is not a JSON object.
 */
export function readReply(method: string, reply: RawReply): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = reply.body.trim() ? JSON.parse(reply.body) : {};
  } catch {
    parsed = undefined;
  }
  const obj =
    parsed && typeof parsed === "object" && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  const err = typeof obj?.["Err"] === "string" ? (obj["Err"] as string) : "";
  if (reply.status !== 200) {
    if (err) throw new PluginCallFailed(`${method}: ${err}`);
    if (reply.status === 404)
      throw new PluginMethodMissing(`${method}: the plugin does not implement it (404)`);
    const text = reply.body.trim().slice(0, 200);
    throw new PluginCallFailed(
      `${method}: the plugin answered HTTP ${reply.status}${text ? `: ${text}` : ""}`,
    );
  }
  if (!obj) throw new PluginCallFailed(`${method}: the plugin's answer is not a JSON object`);
  if (err) throw new PluginCallFailed(`${method}: ${err}`);
  if (obj["Err"] !== undefined && obj["Err"] !== null && typeof obj["Err"] !== "string")
    throw new PluginCallFailed(`${method}: the plugin's Err is not a string`);
  return obj;
}

/** POSTs `body` to `/<method>` on the plugin's socket; the raw answer, bounded in size and time. */
export function postToPlugin(
  socketPath: string,
  method: string,
  body: unknown,
  timeoutMs: number,
): Promise<RawReply> {
  const data = Buffer.from(JSON.stringify(body ?? {}));
  return new Promise((resolve, reject) => {
    let socket: Socket;
    try {
      socket = connectSocketFile(socketPath);
    } catch (err) {
      reject(new PluginCallFailed(`${method}: ${(err as Error).message}`));
      return;
    }
    const req = request(
      {
        method: "POST",
        path: `/${method}`,
        host: "plugin",
        createConnection: () => socket,
        headers: {
          "Content-Type": PLUGIN_MEDIA_TYPE,
          Accept: PLUGIN_ACCEPT,
          "Content-Length": data.length,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REPLY) {
            req.destroy(
              new PluginCallFailed(`${method}: the plugin's answer is larger than ${MAX_REPLY} bytes`),
            );
            return;
          }
          parts.push(chunk);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }),
        );
        res.on("error", (err) => reject(wrap(method, err)));
      },
    );
    req.setTimeout(timeoutMs, () =>
      req.destroy(new PluginCallFailed(`${method}: the plugin did not answer within ${timeoutMs / 1000}s`)),
    );
    req.on("error", (err) => reject(wrap(method, err)));
    req.end(data);
  });
}

function wrap(method: string, err: Error): Error {
  return err instanceof PluginCallFailed ? err : new PluginCallFailed(`${method}: ${errorText(err)}`);
}

/** A call whose answer is checked: the reply's fields, or the error it carries. */
export async function callPlugin(
  socketPath: string,
  method: string,
  body: unknown,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return readReply(method, await postToPlugin(socketPath, method, body, timeoutMs));
}
