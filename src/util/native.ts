/** Paths of the native helpers built into native/build (BERTH_NATIVE_DIR overrides the directory). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SystemError } from "../errors.js";
import { packageRoot } from "./package-root.js";

const found = new Map<string, string>();

export function nativeBinary(name: string): string {
  let path = found.get(name);
  if (!path) {
    path = join(process.env["BERTH_NATIVE_DIR"] ?? join(packageRoot(), "native/build"), name);
    if (!existsSync(path))
      throw new SystemError(`${path} is missing: build the native helpers with \`npm run build\``);
    found.set(name, path);
  }
  return path;
}
