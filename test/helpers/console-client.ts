/** Plain HTTP requests to a web console, as a browser (or an attacker's page) would send them. */
import { request } from "node:http";

export interface ConsoleAnswer {
  status: number;
  headers: import("node:http").IncomingHttpHeaders;
  body: string;
}

export function consoleRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<ConsoleAnswer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { Host: url.host, ...headers }, agent: false }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Logs in with the URL's token: the session cookie ("name=value") and the CSRF token. */
export async function consoleLogin(
  loginUrl: string,
): Promise<{ cookie: string; csrf: string; base: string }> {
  const url = new URL(loginUrl);
  const base = `${url.protocol}//${url.host}`;
  const answer = await consoleRequest(base, "GET", `${url.pathname}${url.search}`);
  if (answer.status !== 303) throw new Error(`login answered ${answer.status}: ${answer.body}`);
  const cookie = String(answer.headers["set-cookie"]?.[0] ?? "").split(";")[0]!;
  const session = await consoleRequest(base, "GET", "/session", { Cookie: cookie });
  return { cookie, csrf: (JSON.parse(session.body) as { csrf: string }).csrf, base };
}

/** `berth console` on a free loopback port against the daemon on `socket`, until `stop()`. */
export async function startConsole(
  socket: string,
  args: string[] = ["--listen", "127.0.0.1:0"],
): Promise<{ loginUrl: string; stop: () => Promise<void> }> {
  const { spawn } = await import("node:child_process");
  const { BERTH } = await import("./daemon.js");
  const { exited } = await import("./processes.js");
  const child = spawn(process.execPath, [BERTH, "-H", `unix://${socket}`, "console", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const deadline = Date.now() + 15_000;
  const address = () => /open (https?:\/\/\S+\?token=\S+)/.exec(out)?.[1];
  while (!address()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`berth console did not print its address: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    loginUrl: address()!,
    stop: async () => {
      child.kill("SIGTERM");
      await exited(child);
    },
  };
}
