import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSignal, signalName } from "../../../src/runtime/signals.js";

test("signals by name, short name, lower case, number and real-time offset", () => {
  assert.equal(parseSignal("SIGKILL"), 9);
  assert.equal(parseSignal("KILL"), 9);
  assert.equal(parseSignal("term"), 15);
  assert.equal(parseSignal("9"), 9);
  assert.equal(parseSignal("SIGRTMIN+3"), 37);
  assert.equal(signalName(15), "SIGTERM");
});

test("a signal that does not exist is an error naming it", () => {
  assert.throws(() => parseSignal("SIGFOO"), /unknown signal "SIGFOO"/);
  assert.throws(() => parseSignal("0"), /unknown signal "0"/);
  assert.throws(() => parseSignal("65"), /unknown signal "65"/);
});
