/**
 * The host's network configuration, through iproute2 and nftables (Debian's `ip` and `nft`):
 * each call is one process fed a batch of commands, and a failure names the command's output.
 */
import { execFile } from "node:child_process";
import { SystemError } from "../errors.js";

function run(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, (err, stdout, stderr) => {
      if (err) reject(new SystemError(`${cmd} ${args.join(" ")}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
    // A command that fails before it reads its input (`ip -n` of a namespace just deleted)
    // closes the pipe: the write's EPIPE must not end the daemon; the exit status says why.
    child.stdin!.on("error", () => {});
    child.stdin!.end(input);
  });
}

/** `ip -batch -`, in the named network namespace when `netns` is given. */
export function ipBatch(lines: string[], netns?: string): Promise<string> {
  return run("ip", [...(netns ? ["-n", netns] : []), "-batch", "-"], `${lines.join("\n")}\n`);
}

/** Like ipBatch, but each command may fail (cleanup of what may already be gone). */
export function ipBatchForce(lines: string[], netns?: string): Promise<string> {
  return run("ip", [...(netns ? ["-n", netns] : []), "-force", "-batch", "-"], `${lines.join("\n")}\n`).catch(
    () => "",
  );
}

/** `nft -f -`: a ruleset fragment applied as one transaction. */
export function nft(script: string): Promise<string> {
  return run("nft", ["-f", "-"], script);
}

export function nftQuiet(script: string): Promise<void> {
  return nft(script).then(
    () => undefined,
    () => undefined,
  );
}

/** `bridge -batch -` in a network namespace; each command may fail (entries already gone). */
export function bridgeBatchForce(lines: string[], netns: string): Promise<string> {
  return run("bridge", ["-n", netns, "-force", "-batch", "-"], `${lines.join("\n")}\n`).catch(() => "");
}

/** `nft -f -` inside a named network namespace (a container's own tables). */
export function nftIn(netns: string, script: string): Promise<string> {
  return run("ip", ["netns", "exec", netns, "nft", "-f", "-"], script);
}
