/** Reading json-file logs: --tail from the end of the newest file, across rotated files. */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { linesBackward, readLogs } from "../../../src/engine/logs.js";

const entry = (i: number, stream = "stdout") =>
  `${JSON.stringify({ log: `line ${i}\n`, stream, time: `2026-01-01T00:00:${String(i % 60).padStart(2, "0")}.000000001Z` })}\n`;

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test("lines come back last first, whatever the block boundaries and line lengths", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-logs-"));
  try {
    const lines = ["", "a", "b".repeat(200), "c", "d".repeat(70_000), "e"];
    writeFileSync(join(dir, "f"), `${lines.join("\n")}\n`);
    for (const block of [7, 64, 4096, 65_536])
      assert.deepEqual(await collect(linesBackward(join(dir, "f"), block)), lines.filter(Boolean).reverse());
    writeFileSync(join(dir, "g"), "no newline at the end");
    assert.deepEqual(await collect(linesBackward(join(dir, "g"), 4)), ["no newline at the end"]);
    writeFileSync(join(dir, "h"), "");
    assert.deepEqual(await collect(linesBackward(join(dir, "h"))), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--tail N gives the last N selected entries, in order, across rotated files", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-logs-"));
  try {
    const log = join(dir, "c-json.log");
    writeFileSync(`${log}.1`, [0, 1, 2, 3].map((i) => entry(i)).join(""));
    writeFileSync(log, [4, 5].map((i) => entry(i)).join("") + entry(6, "stderr") + entry(7));
    const read = (tail: number, stderr = true) =>
      collect(readLogs(log, { stdout: true, stderr, tail, follow: false, stopped: () => true }));
    const text = (es: { log: string }[]) => es.map((e) => e.log.trim());
    assert.deepEqual(text(await read(2)), ["line 6", "line 7"]);
    assert.deepEqual(text(await read(3, false)), ["line 4", "line 5", "line 7"]);
    assert.deepEqual(text(await read(6)), ["line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]);
    assert.deepEqual((await read(100)).length, 8);
    assert.deepEqual(await read(0), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("following goes on from where the first read stopped: lines written meanwhile, and a line half-written, all come once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "berth-logs-"));
  try {
    const path = join(dir, "c-json.log");
    writeFileSync(path, entry(1));
    const third = entry(3);
    let stop = false;
    const seen: string[] = [];
    for await (const e of readLogs(path, { stdout: true, stderr: true, follow: true, stopped: () => stop })) {
      seen.push(e.log);
      // Written after the first read has reached the end of the file (a RUN step's last output),
      // and a line whose end is not written yet.
      if (e.log === "line 1\n") appendFileSync(path, entry(2) + third.slice(0, 10));
      if (e.log === "line 2\n") {
        appendFileSync(path, third.slice(10));
        stop = true;
      }
    }
    assert.deepEqual(seen, ["line 1\n", "line 2\n", "line 3\n"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
