import assert from "node:assert/strict";
import { test } from "node:test";
import { type OptionSpec, parseArgs, UsageError } from "../../../src/cli/args.js";

const specs: OptionSpec[] = [
  { name: "interactive", short: "i", type: "boolean", description: "" },
  { name: "tty", short: "t", type: "boolean", description: "" },
  { name: "env", short: "e", type: "strings", description: "" },
  { name: "name", type: "string", description: "" },
];

test("grouped short booleans, repeated flags and --name=value", () => {
  const p = parseArgs(["-it", "-e", "A=1", "--env=B=2", "--name=web", "image", "ls", "-l"], specs);
  assert.deepEqual(p.options, { interactive: true, tty: true, env: ["A=1", "B=2"], name: "web" });
  assert.deepEqual(p.args, ["image", "ls", "-l"]);
});

test("options stop at the first argument unless interspersed", () => {
  assert.deepEqual(parseArgs(["id", "--name", "x"], specs).args, ["id", "--name", "x"]);
  const p = parseArgs(["id", "--name", "x"], specs, true);
  assert.deepEqual(p.args, ["id"]);
  assert.equal(p.options["name"], "x");
});

test("-eA=1 takes the rest of the word as the value", () => {
  assert.deepEqual(parseArgs(["-eA=1"], specs).options["env"], ["A=1"]);
});

test("unknown flags and missing values are usage errors in docker's words", () => {
  assert.throws(
    () => parseArgs(["--nope"], specs),
    (e: unknown) => e instanceof UsageError && /unknown flag: --nope/.test(e.message),
  );
  assert.throws(() => parseArgs(["-x"], specs), /unknown shorthand flag: 'x' in -x/);
  assert.throws(() => parseArgs(["--name"], specs), /flag needs an argument: --name/);
  assert.throws(() => parseArgs(["--tty=maybe"], specs), /expected true or false/);
});
