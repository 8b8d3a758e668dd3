/**
 * The directory of Berth's package.json, found by walking up from this module, so that paths to
 * native/build and dist/ work both from dist/src (tsc output) and from dist/bundle (the CLIs).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "berth") {
      root = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir)
      throw new Error(`cannot find Berth's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
