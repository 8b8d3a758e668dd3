import assert from "node:assert/strict";
import { test } from "node:test";
import type { LinuxDeviceCgroup } from "../../../src/oci/runtime-spec.js";
import { compileDeviceFilter } from "../../../src/runtime/cgroups/device-filter.js";

/** Runs a device program on (type, major, minor, access) the way the kernel would. */
function run(program: Buffer, type: "b" | "c", major: number, minor: number, access: string): number {
  const acc = [...access].reduce((m, c) => m | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[c]!, 0);
  const ctx = [(acc << 16) | (type === "b" ? 1 : 2), major, minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0; pc < program.length / 8; pc++) {
    const at = pc * 8;
    const code = program.readUInt8(at);
    const dst = program.readUInt8(at + 1) & 0xf;
    const src = program.readUInt8(at + 1) >> 4;
    const off = program.readInt16LE(at + 2);
    const imm = program.readInt32LE(at + 4);
    switch (code) {
      case 0x61: // ldxw: r1 is the context
        assert.equal(src, 1);
        r[dst] = ctx[off / 4]!;
        break;
      case 0x54:
        r[dst] = (r[dst]! & imm) >>> 0;
        break;
      case 0x74:
        r[dst] = r[dst]! >>> imm;
        break;
      case 0xb7:
        r[dst] = imm;
        break;
      case 0xbc:
        r[dst] = r[src]!;
        break;
      case 0x55:
        if (r[dst] !== imm) pc += off;
        break;
      case 0x15:
        if (r[dst] === imm) pc += off;
        break;
      case 0x95:
        return r[0]!;
      default:
        throw new Error(`unexpected opcode ${code.toString(16)}`);
    }
  }
  throw new Error("program ran off its end");
}

const denyAll: LinuxDeviceCgroup = { allow: false, access: "rwm" };

test("deny all, then allow listed devices with their access", () => {
  const p = compileDeviceFilter([
    denyAll,
    { allow: true, type: "c", major: 1, minor: 3, access: "rwm" },
    { allow: true, type: "c", major: 136, minor: null, access: "rw" },
    { allow: true, type: "b", major: null, minor: null, access: "m" },
  ]);
  assert.equal(run(p, "c", 1, 3, "rw"), 1);
  assert.equal(run(p, "c", 1, 5, "r"), 0);
  assert.equal(run(p, "c", 136, 7, "rw"), 1);
  assert.equal(run(p, "c", 136, 7, "m"), 0, "access beyond the rule's is denied");
  assert.equal(run(p, "b", 8, 0, "m"), 1);
  assert.equal(run(p, "b", 8, 0, "r"), 0);
});

test("later rules win: a deny after an allow removes access", () => {
  const p = compileDeviceFilter([
    denyAll,
    { allow: true, type: "c", major: 1, minor: null, access: "rwm" },
    { allow: false, type: "c", major: 1, minor: 3, access: "w" },
  ]);
  assert.equal(run(p, "c", 1, 5, "w"), 1);
  assert.equal(run(p, "c", 1, 3, "r"), 1);
  assert.equal(run(p, "c", 1, 3, "w"), 0);
});

test("without a deny-all the default is to allow, and an allow-all resets earlier rules", () => {
  assert.equal(
    run(
      compileDeviceFilter([{ allow: false, type: "c", major: 1, minor: 3, access: "rwm" }]),
      "c",
      1,
      5,
      "r",
    ),
    1,
  );
  const p = compileDeviceFilter([denyAll, { allow: true, access: "rwm" }]);
  assert.equal(run(p, "b", 7, 0, "rwm"), 1);
  assert.equal(p.length, 8 * 8, "rules before the reset are not in the program");
});

test("a bad type or access is refused with the rule named", () => {
  assert.throws(
    () => compileDeviceFilter([{ allow: true, type: "x", access: "r" }]),
    /\[0\]\.type: "x" is not a, b or c/,
  );
  assert.throws(() => compileDeviceFilter([{ allow: true, type: "c", access: "rq" }]), /\[0\]\.access/);
});
