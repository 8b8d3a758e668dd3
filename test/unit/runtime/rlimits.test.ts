import assert from "node:assert/strict";
import { test } from "node:test";
import { parseProcLimits, RLIM_INFINITY, resolveRlimits } from "../../../src/runtime/rlimits.js";

test("/proc/<pid>/limits is parsed by resource number", () => {
  const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max data size             unlimited            unlimited            bytes
Max stack size            8388608              unlimited            bytes
Max core file size        0                    unlimited            bytes
Max resident set          unlimited            unlimited            bytes
Max processes             95432                95432                processes
Max open files            1048576              1048576              files
`;
  const limits = parseProcLimits(text);
  assert.equal(limits[3]!.soft, 8388608n);
  assert.equal(limits[3]!.hard, RLIM_INFINITY);
  assert.equal(limits[6]!.hard, 95432n);
  assert.equal(limits[7]!.soft, 1048576n);
});

test("rlimits: unknown names, duplicates and soft above hard are refused", () => {
  assert.throws(
    () => resolveRlimits([{ type: "RLIMIT_FOO", soft: 1, hard: 1 }]),
    /unknown rlimit type "RLIMIT_FOO"/,
  );
  assert.throws(
    () =>
      resolveRlimits([
        { type: "RLIMIT_NOFILE", soft: 1, hard: 1 },
        { type: "RLIMIT_NOFILE", soft: 2, hard: 2 },
      ]),
    /given twice/,
  );
  assert.throws(() => resolveRlimits([{ type: "RLIMIT_CORE", soft: 2, hard: 1 }]), /above the hard limit/);
});

test("rlimits become resource numbers with u64 values", () => {
  assert.deepEqual(resolveRlimits([{ type: "RLIMIT_CORE", soft: 0, hard: 0 }]), [
    { resource: 4, soft: 0n, hard: 0n },
  ]);
});
