import assert from "node:assert/strict";
import { test } from "node:test";
import { AmbiguousPlugin, NoSuchPlugin } from "../../../src/plugin/errors.js";
import { findPlugin, pluginName } from "../../../src/plugin/names.js";

test("plugin names normalise like image references, with a tag", () => {
  assert.equal(pluginName("docker-sdk-py/dummy"), "docker-sdk-py/dummy:latest");
  assert.equal(pluginName("docker.io/vieux/sshfs:1.2"), "vieux/sshfs:1.2");
  assert.equal(pluginName("localhost:5000/vd"), "localhost:5000/vd:latest");
  assert.equal(pluginName("sshfs"), "sshfs:latest");
  assert.throws(() => pluginName(`vd@sha256:${"a".repeat(64)}`), /a plugin name has no digest/);
  assert.throws(() => pluginName("Bad/Name"), /invalid reference format/);
});

const a = { Id: "ab".repeat(32), Name: "vieux/sshfs:latest" };
const b = { Id: `a${"c".repeat(63)}`, Name: "localhost:5000/vd:1" };

test("a plugin is found by full id, by name as typed, or by an id prefix only it has", () => {
  assert.equal(findPlugin([a, b], a.Id), a);
  assert.equal(findPlugin([a, b], "vieux/sshfs"), a);
  assert.equal(findPlugin([a, b], "docker.io/vieux/sshfs:latest"), a);
  assert.equal(findPlugin([a, b], "localhost:5000/vd:1"), b);
  assert.equal(findPlugin([a, b], "ab"), a);
  assert.equal(findPlugin([a, b], "ac"), b);
});

test("a prefix two plugins share is ambiguous; anything else is not found", () => {
  assert.throws(() => findPlugin([a, b], "a"), AmbiguousPlugin);
  assert.throws(
    () => findPlugin([a, b], "zz"),
    (err: unknown) => err instanceof NoSuchPlugin && /plugin "zz" not found/.test((err as Error).message),
  );
  assert.throws(() => findPlugin([a, b], "localhost:5000/vd"), NoSuchPlugin);
  assert.throws(() => findPlugin([a, b], ""), NoSuchPlugin);
});
