import assert from "node:assert/strict";
import { test } from "node:test";
import { plannedNetworks } from "../../../src/engine/container-create.js";
import type { ContainerRecord } from "../../../src/engine/docker-types.js";
import type { Engine } from "../../../src/engine/engine.js";
import { NotFound } from "../../../src/errors.js";

/** An engine that knows the bridge only: a swarm overlay is unknown until swarm mode is back. */
const engine = {
  network: {
    describeNetwork(key: string) {
      if (key === "bridge" || key === "default") return { id: "b1", name: "bridge", builtin: true };
      throw new NotFound(`network ${key} not found`);
    },
  },
} as unknown as Engine;

/** A task's container on an overlay, as its record keeps it. */
const onOverlay = () =>
  ({
    Id: "c".repeat(64),
    HostConfig: { NetworkMode: "default" },
    Berth: { networkingConfig: { ov1: { Aliases: ["web"] } } },
    NetworkSettings: {
      Networks: {
        bridge: { NetworkID: "b1", IPAddress: "10.91.0.2" },
        chaosnet: { NetworkID: "ov1", IPAddress: "10.0.1.5", Aliases: ["web", "cccccccccccc"] },
      },
    },
  }) as unknown as ContainerRecord;

test("a network the daemon does not know fails a create's plan", () => {
  assert.throws(() => plannedNetworks(engine, onOverlay()), NotFound);
});

test("an exit recorded before the overlay is known keeps the record's entry for it, without its address", () => {
  const planned = plannedNetworks(engine, onOverlay(), { keepUnknown: true });
  assert.deepEqual(Object.keys(planned).sort(), ["bridge", "chaosnet"]);
  assert.equal(planned["chaosnet"]!.NetworkID, "ov1");
  assert.equal(planned["chaosnet"]!.IPAddress, "");
  assert.deepEqual(planned["chaosnet"]!.Aliases, ["web", "cccccccccccc"]);
  assert.equal(planned["bridge"]!.IPAddress, "");
});

test("an unknown network the record never showed is left out, not made up", () => {
  const record = onOverlay();
  record.NetworkSettings.Networks = {};
  assert.deepEqual(Object.keys(plannedNetworks(engine, record, { keepUnknown: true })), ["bridge"]);
});
