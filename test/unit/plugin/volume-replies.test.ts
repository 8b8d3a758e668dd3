import assert from "node:assert/strict";
import { test } from "node:test";
import { readReply } from "../../../src/plugin/client.js";
import { PluginCallFailed } from "../../../src/plugin/errors.js";
import { scopeMountpoint } from "../../../src/plugin/volume-driver.js";

const M = "VolumeDriver.Mount";

test("a reply's fields come back; its Err is the call's error", () => {
  assert.deepEqual(readReply(M, { status: 200, body: '{"Mountpoint":"/data/v","Err":""}' }), {
    Mountpoint: "/data/v",
    Err: "",
  });
  assert.throws(
    () => readReply(M, { status: 200, body: '{"Err":"no such volume"}' }),
    (err: unknown) =>
      err instanceof PluginCallFailed && (err as Error).message === "VolumeDriver.Mount: no such volume",
  );
  assert.throws(() => readReply(M, { status: 500, body: '{"Err":"boom"}' }), /VolumeDriver\.Mount: boom$/);
});

test("a bad answer is an error that says what was wrong", () => {
  assert.throws(
    () => readReply(M, { status: 404, body: "404 page not found" }),
    /does not implement it \(404\)/,
  );
  assert.throws(() => readReply(M, { status: 502, body: "bad gateway" }), /HTTP 502: bad gateway/);
  assert.throws(() => readReply(M, { status: 200, body: "<html>" }), /not a JSON object/);
  assert.throws(() => readReply(M, { status: 200, body: "[1]" }), /not a JSON object/);
  assert.throws(() => readReply(M, { status: 200, body: '{"Err":7}' }), /Err is not a string/);
  assert.deepEqual(readReply(M, { status: 200, body: "" }), {});
});

test("a Mountpoint under the propagated mount is kept, relative to it", () => {
  assert.deepEqual(scopeMountpoint(M, "/data", "/data/volumes/v1"), {
    tree: "propagated",
    relative: "volumes/v1",
  });
  assert.deepEqual(scopeMountpoint(M, "/data", "/data"), { tree: "propagated", relative: "" });
  assert.deepEqual(scopeMountpoint(M, "/data", "//data/./v//"), { tree: "propagated", relative: "v" });
  assert.deepEqual(scopeMountpoint(M, "", "/srv/v1"), { tree: "rootfs", relative: "srv/v1" });
});

test("a Mountpoint that escapes, or is no absolute path, is refused", () => {
  const refused = (mp: unknown, pattern: RegExp) =>
    assert.throws(
      () => scopeMountpoint(M, "/data", mp),
      (err: unknown) => err instanceof PluginCallFailed && pattern.test((err as Error).message),
    );
  refused("/data/../../etc", /climbs with "\.\."/);
  refused("/data/v/../../etc", /climbs/);
  refused("/etc", /outside its propagated mount \/data/);
  refused("/database", /outside its propagated mount/);
  refused("data/v", /not an absolute path/);
  refused("", /not a path/);
  refused(42, /not a path/);
  refused("/data/v\0x", /NUL/);
  assert.throws(() => scopeMountpoint(M, "", "/../etc"), /climbs/);
});
