/** The console page's pure parts: stats figures, log frames, and lines of a stream in pieces. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { LogDemuxer } from "../../../src/console/web/log-frames.js";
import { type DockerStats, pointOf } from "../../../src/console/web/stats.js";
import { takeLines } from "../../../src/util/lines.js";

function sample(
  read: string,
  cpu: number,
  precpu: number,
  system: number,
  presystem: number,
  rx: number,
  write: number,
) {
  return {
    read,
    cpu_stats: { cpu_usage: { total_usage: cpu }, system_cpu_usage: system, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: precpu }, system_cpu_usage: presystem },
    memory_stats: { usage: 4096 },
    networks: { eth0: { rx_bytes: rx, tx_bytes: 0 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: "write", value: write }] },
  } satisfies DockerStats;
}

test("a stats sample gives docker's CPU percentage and rates against the previous one", () => {
  const first = pointOf(sample("2026-01-01T00:00:00Z", 100, 0, 1000, 0, 1000, 0), undefined);
  assert.equal(first.point.cpuPercent, 0, "the first sample of a stream has no previous CPU figure");
  assert.equal(first.point.netRx, 0, "no rate without a previous sample");
  const second = pointOf(sample("2026-01-01T00:00:02Z", 600, 100, 2000, 1000, 5000, 8000), first.counters);
  assert.equal(second.point.cpuPercent, 100, "half the host's time on 2 CPUs");
  assert.equal(second.point.netRx, 2000);
  assert.equal(second.point.blockWrite, 4000);
  assert.equal(second.point.memoryBytes, 4096);
});

test("log frames split across chunks come out whole, each with its stream", () => {
  const frame = (stream: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const all = Buffer.concat([frame(1, "out\n"), frame(2, "err\n")]);
  const demux = new LogDemuxer();
  const got = [
    ...demux.push(all.subarray(0, 5)),
    ...demux.push(all.subarray(5, 15)),
    ...demux.push(all.subarray(15)),
  ];
  assert.deepEqual(
    got.map((f) => [f.stream, Buffer.from(f.data).toString()]),
    [
      ["stdout", "out\n"],
      ["stderr", "err\n"],
    ],
  );
});

test("lines of a stream in pieces: whole lines out, the rest kept", () => {
  assert.deepEqual(takeLines('{"a":1}\n\n{"b"'), { lines: ['{"a":1}'], rest: '{"b"' });
  assert.deepEqual(takeLines("partial"), { lines: [], rest: "partial" });
});
