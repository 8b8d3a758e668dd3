#!/usr/bin/env node
// Bundles each command-line entry point into one CommonJS file (dist/bundle/*.cjs): one file to
// read and compile instead of dozens of ES modules, and a V8 code cache beside it (bin/load.cjs),
// keep a command's start-up close to Node's own.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";

const entries = {
  berth: "src/cli/berth/main.ts",
  berthd: "src/daemon/run.ts",
  "berth-runtime": "src/cli/runtime/main.ts",
};

await build({
  entryPoints: entries,
  outdir: "dist/bundle",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
  // import.meta.url has no CommonJS equivalent in esbuild's output; give it this file's URL.
  banner: { js: 'const __import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__import_meta_url" },
});

// V8 checks a code cache against the source's length only: a stale cache of a new bundle of the
// same length would run old code. Each build starts without one (the first run writes it).
for (const name of Object.keys(entries)) rmSync(`dist/bundle/${name}.cjs.cache`, { force: true });

// bin/load.cjs runs each bundle in a vm.Script, which cannot import(): a dynamic import of a
// module left outside the bundle (a node: builtin) would fail only when that path runs.
for (const name of Object.keys(entries)) {
  const text = readFileSync(`dist/bundle/${name}.cjs`, "utf8");
  const m = /\bimport\(\s*["'`]([^"'`]+)/.exec(text);
  if (m)
    throw new Error(`dist/bundle/${name}.cjs has a dynamic import of "${m[1]}": use createRequire for it`);
}

// The web console's front-end (src/console/web): one script and one style sheet with every
// library in them (Preact, xterm.js, uPlot), served from memory by the console: nothing is
// fetched at run time. Type-checked apart (tsconfig.web.json: DOM, JSX).
rmSync("dist/console", { recursive: true, force: true });
mkdirSync("dist/console", { recursive: true });
await build({
  entryPoints: { app: "src/console/web/main.tsx" },
  outdir: "dist/console",
  bundle: true,
  platform: "browser",
  format: "iife",
  target: "chrome110",
  minify: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  logLevel: "warning",
  legalComments: "linked",
});
copyFileSync("src/console/web/index.html", "dist/console/index.html");
