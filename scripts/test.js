#!/usr/bin/env node
// Runs Berth's tests: lint, type-check and build, the unit tests (no privileges needed), the
// integration tests (root: real namespaces, cgroups, mounts, registry, networks), and finally a
// check that the suite left nothing behind (mounts, cgroups, namespaces, links, rules, processes).
//   node scripts/test.js            everything
//   node scripts/test.js unit       unit tests only
//   node scripts/test.js integration [name-filter]
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const suite = process.argv[2] ?? "all";
const filter = process.argv[3];
// Integration tests own the host's cgroups, bridges, nftables and default daemon: two runs at
// once on one host (a second clone, a run left going) break each other. They take turns on this
// lock; anything else that starts daemons on the host (benches, a single test file) can too.
const HOST_LOCK = "/run/lock/berth-host.lock";
const lockHeld = process.env.BERTH_HOST_LOCK_HELD === "1";

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(" ")}: exit ${r.status ?? r.signal}`);
    process.exit(r.status ?? 1);
  }
}

function testFiles(dir) {
  let files = [];
  try {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) files = files.concat(testFiles(path));
      else if (entry.name.endsWith(".test.js") && (!filter || path.includes(filter))) files.push(path);
    }
  } catch {}
  return files.sort();
}

if (suite === "all") {
  run("npx", ["biome", "check", "."]);
}
if (!lockHeld) run("npm", ["run", "-s", "build"]);

if (suite === "all" || suite === "unit") {
  const files = testFiles("dist/test/unit");
  if (files.length) run(process.execPath, ["--test", "--test-reporter=spec", ...files]);
}
if ((suite === "all" || suite === "integration") && !lockHeld) {
  if (process.getuid?.() !== 0) {
    console.error("integration tests need root (real namespaces, cgroups and mounts): run as root");
    process.exit(1);
  }
  if (spawnSync("flock", ["-n", HOST_LOCK, "true"]).status !== 0)
    console.error(`waiting for another Berth test run on this host to end (${HOST_LOCK})`);
  const self = fileURLToPath(import.meta.url);
  run("flock", [HOST_LOCK, process.execPath, self, "integration", ...(filter ? [filter] : [])], {
    BERTH_HOST_LOCK_HELD: "1",
  });
} else if (suite === "integration") {
  const files = testFiles("dist/test/integration");
  // A run cut short (a stopped session, a killed CI job) leaves namespaces and cgroups that the
  // tests below, and the leak check after them, would count as this run's.
  run(process.execPath, ["dist/test/leak-check.js", "--clear-stale"]);
  // One file at a time: integration tests share the host's cgroups, mounts and network.
  // Under tini as a child subreaper: container monitors outlive the commands that start them,
  // and a host whose PID 1 does not reap orphans (this sandbox's) would keep them as zombies.
  if (files.length)
    run(
      "tini",
      [
        "-s",
        "-g",
        "--",
        process.execPath,
        "--test",
        "--test-concurrency=1",
        "--test-reporter=spec",
        ...files,
      ],
      {
        BERTH_TEST: "1",
      },
    );
  run(process.execPath, ["dist/test/leak-check.js"]);
}
