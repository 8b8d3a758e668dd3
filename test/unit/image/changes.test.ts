import assert from "node:assert/strict";
import { test } from "node:test";
import { applyChanges } from "../../../src/image/changes.js";

test("--change instructions set config fields like docker import's", () => {
  const c = applyChanges({ Env: ["PATH=/bin", "A=1"] }, [
    'CMD ["nginx", "-g", "daemon off;"]',
    "ENTRYPOINT /entry.sh --flag",
    'ENV A=2 B="two words"',
    "ENV C 3",
    "EXPOSE 80 53/udp",
    'LABEL org.example="x y" v=1',
    "USER nobody",
    "WORKDIR /srv",
    'VOLUME ["/data"]',
    "STOPSIGNAL SIGQUIT",
  ]);
  assert.deepEqual(c, {
    Env: ["PATH=/bin", "A=2", "B=two words", "C=3"],
    Cmd: ["nginx", "-g", "daemon off;"],
    Entrypoint: ["/bin/sh", "-c", "/entry.sh --flag"],
    ExposedPorts: { "80/tcp": {}, "53/udp": {} },
    Labels: { "org.example": "x y", v: "1" },
    User: "nobody",
    WorkingDir: "/srv",
    Volumes: { "/data": {} },
    StopSignal: "SIGQUIT",
  });
  assert.throws(() => applyChanges({}, ["RUN rm -rf /"]), /RUN cannot be changed/);
  assert.throws(() => applyChanges({}, ["CMD"]), /expected an instruction/);
});
