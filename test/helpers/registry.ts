/**
 * A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1 at a free
 * port, with its storage in a temporary directory; anonymous, behind htpasswd basic auth, or
 * trusting a token server that this helper runs (JWTs signed with a fresh self-signed key,
 * carried in the `x5c` header as distribution's token auth accepts).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createSign, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exited } from "./processes.js";

export interface TestRegistry {
  host: string;
  dir: string;
  /** Token requests the token server answered (scopes asked for), for tests to inspect. */
  tokenRequests: string[][];
  stop(): Promise<void>;
}

export interface RegistryAuth {
  kind: "none" | "basic" | "token";
  username?: string;
  password?: string;
}

export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

async function startTokenServer(dir: string, auth: RegistryAuth, requests: string[][]) {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=berth-test-token",
      "-keyout",
      join(dir, "token.key"),
      "-out",
      join(dir, "token.pem"),
    ],
    { stdio: "ignore" },
  );
  const key = readFileSync(join(dir, "token.key"), "utf8");
  const der = execFileSync("openssl", ["x509", "-in", join(dir, "token.pem"), "-outform", "DER"]);
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://127.0.0.1:${port}`);
    const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
    if (auth.username && req.headers.authorization !== expected) {
      res.writeHead(401).end();
      return;
    }
    const scopes = url.searchParams.getAll("scope");
    requests.push(scopes);
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!.split(",");
      return { type, name: rest.join(":"), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: "RS256", typ: "JWT", x5c: [der.toString("base64")] };
    const claims = {
      iss: "berth-test-issuer",
      sub: auth.username ?? "",
      aud: url.searchParams.get("service"),
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(key);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ token: `${input}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { server, realm: `http://127.0.0.1:${port}/token` };
}

export async function startRegistry(auth: RegistryAuth = { kind: "none" }): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "berth-registry-"));
  const port = await freePort();
  const tokenRequests: string[][] = [];
  let tokenServer: Server | undefined;
  let authConfig = "";
  if (auth.kind === "basic") {
    execFileSync("htpasswd", ["-Bbc", join(dir, "htpasswd"), auth.username!, auth.password!], {
      stdio: "ignore",
    });
    authConfig = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, "htpasswd")}\n`;
  } else if (auth.kind === "token") {
    const t = await startTokenServer(dir, auth, tokenRequests);
    tokenServer = t.server;
    authConfig = `auth:\n  token:\n    realm: ${t.realm}\n    service: berth-test-registry\n    issuer: berth-test-issuer\n    rootcertbundle: ${join(dir, "token.pem")}\n`;
  }
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "data")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authConfig}`,
  );
  const child: ChildProcess = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const stop = async () => {
    child.kill("SIGTERM");
    await exited(child);
    if (tokenServer) await new Promise((resolve) => tokenServer!.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/v2/`);
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`docker-registry did not start: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { host: `127.0.0.1:${port}`, dir, tokenRequests, stop };
}
