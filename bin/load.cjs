// Loads a bundled command (dist/bundle/NAME.cjs) with a V8 code cache kept beside it, so that
// only the first run pays for compiling it. Any problem with the cache just means compiling.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const Module = require("node:module");

module.exports = function load(name) {
  const file = path.join(__dirname, "..", "dist", "bundle", `${name}.cjs`);
  const cacheFile = `${file}.cache`;
  const source = fs.readFileSync(file, "utf8");
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {}
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = { exports: {} };
  const localRequire = Module.createRequire(file);
  script.runInThisContext().call(mod.exports, mod.exports, localRequire, mod, file, path.dirname(file));
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once("exit", () => {
      try {
        fs.writeFileSync(cacheFile, script.createCachedData());
      } catch {}
    });
  }
};
