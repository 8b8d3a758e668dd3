/** The host's processes as /proc lists them: pid, parent and command name (tests and benches). */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

export interface HostProcess {
  pid: number;
  ppid: number;
  /** /proc/PID/comm: the name, cut to 15 characters by the kernel. */
  comm: string;
}

export function hostProcesses(): HostProcess[] {
  const found: HostProcess[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
      found.push({ pid: Number(pid), ppid, comm });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Resolves when `child` has exited. Checks first: an "exit" event that fired before the
 * listener was added never fires again, and awaiting it would leave the test pending.
 */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}
