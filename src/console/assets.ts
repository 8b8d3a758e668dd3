/**
 * The console's front-end, read once into memory at start from the bundle the build made
 * (dist/console: index.html, app.js, app.css): nothing is fetched at run time, and what is served
 * cannot change under a running console.
 */
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { BerthError } from "../errors.js";
import { packageRoot } from "../util/package-root.js";

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

export class ConsoleAssetsMissing extends BerthError {
  constructor(dir: string, reason: string) {
    super(
      "console-assets",
      `the console's front-end is missing from ${dir} (${reason}): run \`npm run build\``,
    );
  }
}

/** The bundle's files by name ("index.html"); only the kinds of files the bundle makes. */
export function loadAssets(dir = join(packageRoot(), "dist", "console")): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ConsoleAssetsMissing(dir, (err as NodeJS.ErrnoException).code ?? String(err));
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { body: readFileSync(join(dir, name)), type });
  }
  if (!assets.has("index.html")) throw new ConsoleAssetsMissing(dir, "no index.html");
  return assets;
}
