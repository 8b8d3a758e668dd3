/** Polling helpers for tests that wait on the kernel or a process. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check()` is true, asked every `every` ms; fails naming `what` after `ms`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  every = 20,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}
