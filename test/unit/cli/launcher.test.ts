/**
 * The `berth` launcher (bin/berth): commands run without NODE_EXTRA_CA_CERTS, whose bundle Node
 * would parse first on every start; `berth serve` keeps it. A bundle that does not exist shows
 * which: Node warns about it on standard error when it reads the variable.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const LAUNCHER = fileURLToPath(new URL("../../../../bin/berth", import.meta.url));
const run = (args: string[]) =>
  spawnSync(LAUNCHER, args, {
    encoding: "utf8",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: "/no/such/bundle.pem" },
  });

test("the CLI runs without NODE_EXTRA_CA_CERTS; `serve` keeps it for the registries", () => {
  const help = run(["--help"]);
  assert.equal(help.status, 0, help.stderr);
  assert.doesNotMatch(help.stderr, /extra certs/, "the bundle was not read");
  assert.match(help.stdout, /Usage:/);
  assert.match(run(["serve", "--help"]).stderr, /Ignoring extra certs from `\/no\/such\/bundle\.pem`/);
});
