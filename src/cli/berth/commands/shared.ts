/** What every `berth` command shares: its shape, the client, and docker's multi-target errors. */
import { createWriteStream } from "node:fs";
import { InvalidArgument } from "../../../errors.js";
import type { OptionSpec, OptionValues } from "../../args.js";
import type { ApiClient } from "../client.js";

export interface Context {
  api: ApiClient;
  /** The command's name as typed ("run", "volume ls"), for messages. */
  command: string;
  /** The exit code for an error thrown from here on (docker run: 125 before the start, 126/127 at it). */
  failureCode?: number;
}

export interface Command {
  usage: string;
  description: string;
  options: OptionSpec[];
  /** Flags may follow positional arguments (docker's "interspersed"); off for commands that pass a command line on. */
  interspersed?: boolean;
  action(ctx: Context, options: OptionValues, args: string[]): Promise<number>;
}

/**
 * Runs `act` for each target, as docker does for `stop a b c`: every target is tried, each
 * failure is printed, and the exit code is 1 if any failed.
 */
export async function forEach(targets: string[], act: (target: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const t of targets) {
    try {
      await act(t);
    } catch (err) {
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

/** `--filter k=v` flags → the API's `filters` JSON ({"k": ["v"]}). */
export function filtersQuery(items: string[]): { filters?: string } {
  if (!items.length) return {};
  const filters: Record<string, string[]> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    filters[key] = [...(filters[key] ?? []), eq < 0 ? "" : item.slice(eq + 1)];
  }
  return { filters: JSON.stringify(filters) };
}

/**
 * Writes a binary response (a tar) to `output`, or to stdout, which must not be a terminal
 * (docker's rule for save and export).
 */
export async function writeOutput(res: AsyncIterable<unknown>, output: string | undefined): Promise<void> {
  refuseTerminal(output);
  const out = output ? createWriteStream(output) : process.stdout;
  for await (const chunk of res)
    if (!out.write(chunk as Buffer)) await new Promise<void>((r) => out.once("drain", () => r()));
  if (output) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(() => r()));
}

/** Checked before asking the daemon for anything, so that a refusal costs nothing. */
export function refuseTerminal(output: string | undefined): void {
  if (!output && process.stdout.isTTY)
    throw new InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect");
}
