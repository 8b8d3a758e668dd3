/** `berth console`: the web console, in the foreground, serving until interrupted. */

import {
  DEFAULT_CONSOLE_ADDRESS,
  parseListenAddress,
  requireTlsOffLoopback,
} from "../../../console/listen-address.js";
import { ConsoleServer } from "../../../console/server.js";
import { readConsoleTls } from "../../../console/tls-files.js";
import { type OptionValues, str, UsageError } from "../../args.js";
import type { Command, Context } from "./shared.js";

async function consoleCommand(ctx: Context, o: OptionValues, args: string[]): Promise<number> {
  if (args.length) throw new UsageError(`"berth console" takes no arguments`);
  const address = parseListenAddress(str(o, "listen") ?? DEFAULT_CONSOLE_ADDRESS);
  const tls = readConsoleTls(str(o, "tls-cert"), str(o, "tls-key"));
  requireTlsOffLoopback(address, tls !== undefined);
  // Reach the daemon first (starting it, as every command does): a console on a dead socket
  // would answer each view with an error.
  await ctx.api.call("GET", "/version");
  const server = await ConsoleServer.start({
    address,
    daemon: ctx.api.endpoint,
    tls,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(
    `Berth console: open ${server.loginUrl}\n(the token works once; Ctrl-C stops the console)\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await server.close();
  return 0;
}

export const consoleCommands: Record<string, Command> = {
  console: {
    usage: "berth console [OPTIONS]",
    description: "Serve the web console: containers, images, volumes, networks, events and the swarm, live",
    options: [
      {
        name: "listen",
        type: "string",
        value: "HOST:PORT",
        description: `address to serve on (default ${DEFAULT_CONSOLE_ADDRESS}; any other than loopback needs TLS)`,
      },
      { name: "tls-cert", type: "string", value: "FILE", description: "serve HTTPS with this certificate" },
      { name: "tls-key", type: "string", value: "FILE", description: "the certificate's key" },
    ],
    action: consoleCommand,
  },
};
