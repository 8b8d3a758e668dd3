/**
 * `docker stop` on a full disk: the container's record cannot be written, and the container is
 * stopped all the same (as dockerd does) — a swarm task that could not be stopped kept its
 * replacement from ever starting in the chaos test.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { stopContainer } from "../../../src/engine/container-stop.js";
import type { ContainerRecord } from "../../../src/engine/docker-types.js";
import type { Engine } from "../../../src/engine/engine.js";

test("a stop whose record cannot be written still signals the container, and says why in the log", async () => {
  const signals: number[] = [];
  const logged: string[] = [];
  const record = {
    Id: "c1",
    Config: {},
    State: { Running: true, Restarting: false, Paused: false },
    Berth: { manuallyStopped: false },
  } as unknown as ContainerRecord;
  const engine = {
    running: new Map(),
    save: () => {
      throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    },
    log: (m: string) => logged.push(m),
    events: { container: () => {} },
    runtime: {
      kill: async (_id: string, sig: number) => {
        signals.push(sig);
      },
    },
  } as unknown as Engine;
  assert.equal(await stopContainer(engine, record, 1), "stopped");
  assert.deepEqual(signals, [15], "SIGTERM sent");
  assert.equal(record.Berth.manuallyStopped, true, "its restart policy no longer applies (in memory)");
  assert.match(logged.join("\n"), /container c1: recording its stop: .*no space left on device/);
});
