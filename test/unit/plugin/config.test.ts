import assert from "node:assert/strict";
import { test } from "node:test";
import { hasCapability, parseCapabilityId, parsePluginConfig } from "../../../src/plugin/config.js";
import { InvalidPluginConfig } from "../../../src/plugin/errors.js";

/** docker-py's test plugin writes its keys in lower case: Go's decoder matches any case. */
const DOCKER_PY_DUMMY = `{
  "description": "Dummy test plugin for docker python SDK",
  "documentation": "https://github.com/docker/docker-py",
  "entrypoint": ["/dummy"],
  "network": { "type": "host" },
  "interface" : { "types": ["docker.volumedriver/1.0"], "socket": "dummy.sock" },
  "env": [ { "name":"DEBUG", "settable":["value"], "value":"0" } ]
}`;

const refused = (json: unknown, pattern: RegExp) =>
  assert.throws(
    () => parsePluginConfig(JSON.stringify(json)),
    (err: unknown) => err instanceof InvalidPluginConfig && pattern.test((err as Error).message),
  );

const minimal = { Interface: { Types: ["docker.volumedriver/1.0"], Socket: "p.sock" }, Entrypoint: ["/p"] };

test("a config's keys match in any case, and what is missing gets Docker's empty values", () => {
  const c = parsePluginConfig(DOCKER_PY_DUMMY);
  assert.deepEqual(c.Entrypoint, ["/dummy"]);
  assert.equal(c.Network.Type, "host");
  assert.deepEqual(c.Interface, {
    Types: ["docker.volumedriver/1.0"],
    Socket: "dummy.sock",
    ProtocolScheme: "",
  });
  assert.deepEqual(c.Env, [{ Name: "DEBUG", Description: "", Settable: ["value"], Value: "0" }]);
  assert.deepEqual(c.Mounts, []);
  assert.deepEqual(c.Linux, { Capabilities: [], AllowAllDevices: false, Devices: [] });
  assert.deepEqual(c.Args, { Name: "", Description: "", Settable: [], Value: [] });
  assert.equal(c.PropagatedMount, "");
});

test("an interface type Docker does not define is refused, naming the field", () => {
  refused(
    { ...minimal, Interface: { Types: ["docker.nosuchdriver/1.0"], Socket: "p.sock" } },
    /Interface\.Types\[0\]: unknown interface type "docker\.nosuchdriver\/1\.0"/,
  );
  refused(
    { ...minimal, Interface: { Types: ["acme.volumedriver/1.0"], Socket: "p.sock" } },
    /unknown interface type/,
  );
  refused(
    { ...minimal, Interface: { Types: ["docker.volumedriver/2"], Socket: "p.sock" } },
    /unknown interface type/,
  );
});

test("the socket is a file name in /run/docker/plugins, never a path", () => {
  refused(
    { ...minimal, Interface: { Types: ["docker.volumedriver/1.0"], Socket: "../../etc/x.sock" } },
    /Interface\.Socket: .*\(no "\/"\)/,
  );
  refused(
    { ...minimal, Interface: { Types: ["docker.volumedriver/1.0"], Socket: "a/b.sock" } },
    /Interface\.Socket/,
  );
  refused(
    { ...minimal, Interface: { Types: ["docker.volumedriver/1.0"], Socket: ".." } },
    /Interface\.Socket/,
  );
  refused({ ...minimal, Interface: { Types: ["docker.volumedriver/1.0"] } }, /needs a socket name/);
});

test("values of the wrong type are refused with the field's path", () => {
  refused({ ...minimal, Entrypoint: "/p" }, /invalid plugin config: Entrypoint: must be an array/);
  refused({ ...minimal, Entrypoint: ["/p", 3] }, /Entrypoint\[1\]: must be a string/);
  refused({ ...minimal, PidHost: "yes" }, /PidHost: must be true or false/);
  refused(
    { ...minimal, Linux: { Devices: [{ Name: "fuse", Path: 3 }] } },
    /Linux\.Devices\[0\]\.Path: must be a string/,
  );
  refused({ ...minimal, User: { UID: -1 } }, /User\.UID/);
  refused([], /config\.json: must be an object/);
  assert.throws(() => parsePluginConfig("{"), /config\.json is not JSON/);
});

test("paths that the runtime would take relative or as the root are refused", () => {
  refused(
    { ...minimal, Mounts: [{ Name: "m", Destination: "mnt", Source: "/x" }] },
    /Mounts\[0\]\.Destination: "mnt" is not an absolute path/,
  );
  refused(
    { ...minimal, Mounts: [{ Name: "m", Destination: "/", Source: "/x" }] },
    /Mounts\[0\]\.Destination/,
  );
  refused(
    { ...minimal, Mounts: [{ Name: "m", Destination: "/m", Source: "x" }] },
    /Mounts\[0\]\.Source: "x" is not an absolute host path/,
  );
  refused({ ...minimal, PropagatedMount: "data" }, /PropagatedMount: "data" is not an absolute path/);
  refused({ ...minimal, PropagatedMount: "/" }, /PropagatedMount: the plugin's whole root/);
  refused({ ...minimal, WorkDir: "bin" }, /WorkDir/);
  assert.equal(
    parsePluginConfig(JSON.stringify({ ...minimal, PropagatedMount: "/data//vols/" })).PropagatedMount,
    "/data/vols",
  );
});

test("capabilities are Linux's, written with or without CAP_", () => {
  const c = parsePluginConfig(
    JSON.stringify({ ...minimal, Linux: { Capabilities: ["sys_admin", "CAP_NET_ADMIN"] } }),
  );
  assert.deepEqual(c.Linux.Capabilities, ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]);
  refused(
    { ...minimal, Linux: { Capabilities: ["CAP_FLY"] } },
    /Linux\.Capabilities\[0\]: unknown capability "CAP_FLY"/,
  );
});

test("only the fields Docker lets `plugin set` change may be settable", () => {
  refused(
    { ...minimal, Env: [{ Name: "A", Settable: ["source"] }] },
    /Env\[0\]\.Settable: "source" cannot be made settable/,
  );
  refused(
    { ...minimal, Mounts: [{ Name: "m", Destination: "/m", Settable: ["value"] }] },
    /Mounts\[0\]\.Settable/,
  );
  refused({ ...minimal, Env: [{ Name: "A=B" }] }, /Env\[0\]\.Name: "A=B" contains "="/);
  refused({ ...minimal, Network: { Type: "overlay" } }, /Network\.Type: "overlay" is not one of/);
});

test("capability ids split as dockerd reads them", () => {
  assert.deepEqual(parseCapabilityId("docker.volumedriver/1.0"), {
    prefix: "docker",
    capability: "volumedriver",
    version: "1.0",
  });
  assert.deepEqual(parseCapabilityId("a.b.c/2"), { prefix: "a.b", capability: "c", version: "2" });
  const c = parsePluginConfig(JSON.stringify(minimal));
  assert.equal(hasCapability(c, "volumedriver"), true);
  assert.equal(hasCapability(c, "authz"), false);
});
