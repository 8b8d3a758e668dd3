/** Build contexts for builder tests: directories of files under one parent the test removes. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before } from "node:test";
import { DaemonFixture } from "./daemon.js";

/** Writes `files` (relative path → content) into `dir`, making directories as needed. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}

/** A new context directory under `parent` holding `files`. */
export function makeContext(parent: string, files: Record<string, string>): string {
  const dir = mkdtempSync(join(parent, "c-"));
  writeFiles(dir, files);
  return dir;
}

/**
 * The fixture of a builder test file: a daemon with busybox imported, started before the tests
 * and removed after them with every context made.
 */
export function builderFixture(name: string): {
  d: DaemonFixture;
  context: (files: Record<string, string>) => string;
} {
  const d = new DaemonFixture();
  const parent = mkdtempSync(`/tmp/berth-${name}-`);
  before(async () => {
    await d.importBusybox();
    await d.start();
  });
  after(async () => {
    await d.cleanup();
    rmSync(parent, { recursive: true, force: true });
  });
  return { d, context: (files) => makeContext(parent, files) };
}
