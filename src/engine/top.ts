/** `docker top`: the host's ps, limited to the container's processes (as Docker does it). */
import { spawnSync } from "node:child_process";
import { InvalidArgument, SystemError } from "../errors.js";

export function parsePs(output: string, pids: Set<number>): { Titles: string[]; Processes: string[][] } {
  const [head = "", ...lines] = output.split("\n").filter(Boolean);
  const titles = head.trim().split(/\s+/);
  const pidColumn = titles.indexOf("PID");
  if (pidColumn < 0) throw new InvalidArgument(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    // The last column (the command) keeps its spaces.
    const row = [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(" ")];
    if (pids.has(Number(row[pidColumn]))) processes.push(row);
  }
  return { Titles: titles, Processes: processes };
}

export function topProcesses(pids: number[], psArgs: string): { Titles: string[]; Processes: string[][] } {
  const args = psArgs.trim().split(/\s+/).filter(Boolean);
  const r = spawnSync("ps", args, { encoding: "utf8" });
  if (r.error || r.status !== 0)
    throw new SystemError(`ps ${psArgs}: ${(r.stderr || r.error?.message || "").trim()}`);
  return parsePs(r.stdout, new Set(pids));
}
