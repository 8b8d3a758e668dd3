import assert from "node:assert/strict";
import { test } from "node:test";
import { checkPluginConfig } from "../../../src/plugin/config.js";
import { PrivilegesMismatch } from "../../../src/plugin/errors.js";
import { checkPrivileges, requiredPrivileges } from "../../../src/plugin/privileges.js";

/** vieux/sshfs's config, as its privileges show it. */
const sshfs = checkPluginConfig({
  Interface: { Types: ["docker.volumedriver/1.0"], Socket: "sshfs.sock" },
  Entrypoint: ["/docker-volume-sshfs"],
  Network: { Type: "host" },
  Mounts: [
    { Name: "state", Source: "/var/lib/docker/plugins/", Destination: "/mnt/state", Options: ["rbind"] },
  ],
  Linux: { Capabilities: ["CAP_SYS_ADMIN"], Devices: [{ Path: "/dev/fuse" }] },
  PropagatedMount: "/mnt/volumes",
});

test("a plugin asks for its network, host mounts, devices and capabilities", () => {
  assert.deepEqual(
    requiredPrivileges(sshfs).map((p) => [p.Name, p.Value]),
    [
      ["network", ["host"]],
      ["mount", ["/var/lib/docker/plugins/"]],
      ["device", ["/dev/fuse"]],
      ["capabilities", ["CAP_SYS_ADMIN"]],
    ],
  );
  assert.deepEqual(requiredPrivileges(checkPluginConfig({ Entrypoint: ["/p"] })), []);
});

test("a grant must be exactly what is asked, in any order", () => {
  const asked = requiredPrivileges(sshfs);
  checkPrivileges(asked, [...asked].reverse());
  checkPrivileges([], null);
  checkPrivileges([], []);
  assert.throws(() => checkPrivileges(asked, asked.slice(1)), PrivilegesMismatch);
  assert.throws(
    () =>
      checkPrivileges(
        asked,
        asked.map((p) => (p.Name === "network" ? { ...p, Value: ["bridge"] } : p)),
      ),
    /incorrect privileges: the plugin asks for \[/,
  );
  assert.throws(() => checkPrivileges(asked, { Name: "network" }), /JSON array/);
});
