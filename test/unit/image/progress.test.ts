import assert from "node:assert/strict";
import { test } from "node:test";
import { progressBar } from "../../../src/image/progress.js";
import { plainRenderer, terminalRenderer } from "../../../src/image/progress-render.js";
import { humanSize } from "../../../src/util/human.js";

test("progress bars look like docker's", () => {
  assert.equal(humanSize(512), "512B");
  assert.equal(humanSize(2_150_000), "2.15MB");
  assert.equal(progressBar(50, 100), `[${"=".repeat(25)}>${" ".repeat(24)}]          50B/100B`);
  assert.equal(progressBar(100, 100), `[${"=".repeat(50)}]         100B/100B`);
});

test("plain output has one line per status change, terminal output redraws a layer's line", () => {
  let plain = "";
  const p = plainRenderer({ write: (s) => (plain += s) });
  p({ status: "Pulling from library/busybox", id: "latest" });
  p({ status: "Pulling fs layer", id: "abc" });
  p({
    status: "Downloading",
    id: "abc",
    progressDetail: { current: 1, total: 10 },
    progress: progressBar(1, 10),
  });
  p({
    status: "Downloading",
    id: "abc",
    progressDetail: { current: 5, total: 10 },
    progress: progressBar(5, 10),
  });
  p({ status: "Pull complete", id: "abc" });
  p({ status: "Digest: sha256:x" });
  assert.equal(
    plain,
    "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Downloading\nabc: Pull complete\nDigest: sha256:x\n",
  );

  let tty = "";
  const t = terminalRenderer({ write: (s) => (tty += s), isTTY: true });
  t({ status: "Pulling fs layer", id: "a" });
  t({ status: "Pulling fs layer", id: "b" });
  t({ status: "Downloading", id: "a", progress: progressBar(1, 2) });
  assert.ok(
    tty.endsWith(`\x1b[2A\r\x1b[2Ka: Downloading ${progressBar(1, 2)}\r\x1b[2B`),
    JSON.stringify(tty),
  );
});
