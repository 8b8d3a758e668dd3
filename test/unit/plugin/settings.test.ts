import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPluginConfig } from "../../../src/plugin/config.js";
import { InvalidPluginSetting } from "../../../src/plugin/errors.js";
import { applySettings, initialSettings, parseSetArgument } from "../../../src/plugin/settings.js";

const config = checkPluginConfig({
  Interface: { Types: ["docker.volumedriver/1.0"], Socket: "p.sock" },
  Entrypoint: ["/p"],
  Env: [
    { Name: "DEBUG", Settable: ["value"], Value: "0" },
    { Name: "FIXED", Value: "1" },
    { Name: "UNSET", Settable: ["value"], Value: null },
  ],
  Mounts: [
    { Name: "state", Destination: "/state", Source: "/var/lib/p", Settable: ["source"], Options: ["rbind"] },
  ],
  Linux: { Devices: [{ Name: "fuse", Path: "/dev/fuse", Settable: ["path"] }] },
  Args: { Name: "args", Settable: ["value"], Value: ["-v"] },
});

test("a plugin starts with its config's values as settings", () => {
  const s = initialSettings(config);
  assert.deepEqual(s.Env, ["DEBUG=0", "FIXED=1"]);
  assert.deepEqual(s.Args, ["-v"]);
  assert.equal(s.Mounts[0]!.Source, "/var/lib/p");
  assert.equal(s.Devices[0]!.Path, "/dev/fuse");
});

test("set arguments read as name[.field][=value]", () => {
  assert.deepEqual(parseSetArgument("DEBUG=1"), { name: "DEBUG", field: "", value: "1" });
  assert.deepEqual(parseSetArgument("state.source=/x"), { name: "state", field: "source", value: "/x" });
  assert.deepEqual(parseSetArgument("args=a b=c"), { name: "args", field: "", value: "a b=c" });
  assert.deepEqual(parseSetArgument("FLAG"), { name: "FLAG", field: "", value: "" });
  assert.throws(() => parseSetArgument("=1"), InvalidPluginSetting);
});

test("settable env, mount sources, device paths and args change", () => {
  const s = applySettings(config, initialSettings(config), [
    "DEBUG=1",
    "UNSET=x",
    "state.source=/srv/state",
    "fuse=/dev/fuse2",
    "args=-a -b",
  ]);
  assert.deepEqual(s.Env, ["DEBUG=1", "FIXED=1", "UNSET=x"]);
  assert.equal(s.Mounts[0]!.Source, "/srv/state");
  assert.equal(s.Devices[0]!.Path, "/dev/fuse2");
  assert.deepEqual(s.Args, ["-a", "-b"]);
});

test("a field that is not settable, or unknown, is refused and nothing changes", () => {
  const before = initialSettings(config);
  const refused = (args: unknown, pattern: RegExp) =>
    assert.throws(
      () => applySettings(config, before, args),
      (err: unknown) => err instanceof InvalidPluginSetting && pattern.test((err as Error).message),
    );
  refused(["DEBUG=1", "FIXED=2"], /"FIXED" is not settable/);
  refused(["state.destination=/y"], /"state\.destination" is not settable/);
  refused(["DEBUG.source=1"], /"DEBUG\.source" is not settable/);
  refused(["NOPE=1"], /setting "NOPE" not found in the plugin configuration/);
  refused(["state=relative"], /not an absolute host path/);
  refused("DEBUG=1", /JSON array of strings/);
  refused([1], /JSON array of strings/);
  assert.deepEqual(before.Env, ["DEBUG=0", "FIXED=1"], "the first, valid, argument was not applied either");
});
