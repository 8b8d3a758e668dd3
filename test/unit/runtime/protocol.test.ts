import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  Attach,
  FrameReader,
  frame,
  Msg,
  Op,
  PlanTag,
  PROTOCOL_VERSION,
  Stdio,
  Target,
} from "../../../src/runtime/native/protocol.js";

const header = readFileSync(new URL("../../../../native/protocol.h", import.meta.url), "utf8");

function defines(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of header.matchAll(new RegExp(`#define ${prefix}(\\w+) (\\d+)(u|U)?\\b`, "g")))
    out.set(m[1]!, Number(m[2]));
  return out;
}

function assertSame(prefix: string, table: Record<string, number>): void {
  const c = defines(prefix);
  assert.deepEqual(Object.fromEntries(c), table, `${prefix}* in native/protocol.h and protocol.ts differ`);
}

test("every message type, plan tag and op in protocol.ts equals native/protocol.h", () => {
  assertSame("MSG_", Msg);
  assertSame("PLAN_", PlanTag);
  assertSame("OP_", Op);
  assertSame("STDIO_", Stdio);
  assertSame("TARGET_", Target);
  assertSame("ATTACH_", Attach);
  assert.equal(defines("BERTH_PROTOCOL_").get("VERSION"), PROTOCOL_VERSION);
});

test("frames split across chunks are reassembled", () => {
  const reader = new FrameReader();
  const bytes = Buffer.concat([frame(Msg.PID, Buffer.from([1, 0, 0, 0])), frame(Msg.CREATED)]);
  assert.deepEqual(reader.push(bytes.subarray(0, 5)), []);
  const frames = reader.push(bytes.subarray(5));
  assert.equal(frames.length, 2);
  assert.equal(frames[0]!.type, Msg.PID);
  assert.equal(frames[0]!.payload.readUInt32LE(0), 1);
  assert.equal(frames[1]!.type, Msg.CREATED);
});

test("a frame claiming more than 16 MiB is refused", () => {
  const bad = Buffer.alloc(8);
  bad.writeUInt32LE(Msg.STDOUT, 0);
  bad.writeUInt32LE(64 * 1024 * 1024, 4);
  assert.throws(() => new FrameReader().push(bad), /frame of/);
});
