/**
 * OCI hooks that run in the runtime's namespaces (prestart, createRuntime, poststart, poststop):
 * each gets the container state on stdin and must exit 0 within its timeout. createContainer and
 * startContainer hooks run inside the container; the native init runs those.
 */
import { spawn } from "node:child_process";
import { BerthError } from "../errors.js";
import type { Hook, State } from "../oci/runtime-spec.js";

export class HookFailed extends BerthError {
  constructor(message: string) {
    super("hook-failed", message);
  }
}

function runHook(hook: Hook, state: string, stage: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path];
    const child = spawn(hook.path, args, {
      argv0,
      env: Object.fromEntries(
        (hook.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
      ),
      stdio: ["pipe", "inherit", "inherit"],
    });
    let timer: NodeJS.Timeout | undefined;
    if (hook.timeout && hook.timeout > 0) {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new HookFailed(`${stage} hook ${hook.path} timed out after ${hook.timeout} s`));
      }, hook.timeout * 1000);
    }
    child.stdin.on("error", () => {}); // a hook need not read its input
    child.stdin.end(state);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new HookFailed(`${stage} hook ${hook.path}: ${err.message}`));
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new HookFailed(
            `${stage} hook ${hook.path} ${signal ? `was killed by ${signal}` : `exited with status ${code}`}`,
          ),
        );
    });
  });
}

/** Runs hooks in order; the first failure stops the rest and is thrown. */
export async function runHooks(hooks: Hook[] | undefined, state: State, stage: string): Promise<void> {
  const input = JSON.stringify(state);
  for (const hook of hooks ?? []) await runHook(hook, input, stage);
}

/** Runs every hook; failures become warnings (poststart, poststop: the lifecycle goes on). */
export async function runHooksWarning(
  hooks: Hook[] | undefined,
  state: State,
  stage: string,
): Promise<string[]> {
  const warnings: string[] = [];
  const input = JSON.stringify(state);
  for (const hook of hooks ?? []) {
    try {
      await runHook(hook, input, stage);
    } catch (err) {
      warnings.push((err as Error).message);
    }
  }
  return warnings;
}
