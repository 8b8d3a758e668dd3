/**
 * What the routes that talk to a registry share (image pull and push, plugin install, upgrade
 * and push): the client's credentials from X-Registry-Auth, and Docker's progress stream.
 */
import type { ServerResponse } from "node:http";
import { InvalidArgument } from "../errors.js";
import type { ProgressEvent } from "../image/progress.js";
import type { Credentials } from "../image/registry/credentials.js";
import type { Request } from "./server.js";

/**
 * Docker's progress stream: JSON lines, an error after the head as `{errorDetail, error}`; an
 * error before any line is an ordinary error answer (its status says what it is).
 */
export async function progressStream(
  res: ServerResponse,
  work: (onProgress: (e: ProgressEvent) => void) => Promise<void>,
): Promise<void> {
  const start = () => {
    if (!res.headersSent) res.writeHead(200, { "Content-Type": "application/json" });
  };
  try {
    await work((e) => {
      start();
      res.write(`${JSON.stringify(e)}\n`);
    });
  } catch (err) {
    if (!res.headersSent) throw err;
    const message = (err as Error).message;
    res.write(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
  }
  start();
  res.end();
}

/**
 * X-Registry-Auth: base64url of {username, password, serveraddress} (docker login's), or "e30="
 * (`{}`) for none: then the daemon's stored credentials apply.
 */
export function registryAuth(req: Request): { credentials?: Credentials } {
  const header = req.raw.headers["x-registry-auth"];
  if (typeof header !== "string" || !header) return {};
  let auth: { username?: string; password?: string };
  try {
    auth = JSON.parse(Buffer.from(header, "base64url").toString("utf8")) as typeof auth;
  } catch {
    throw new InvalidArgument("X-Registry-Auth is not base64url-encoded JSON");
  }
  return auth.username && typeof auth.password === "string"
    ? { credentials: { username: auth.username, password: auth.password } }
    : {};
}
