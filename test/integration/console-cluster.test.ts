/**
 * The console's cluster view in headless Chromium against a 3-node test cluster: a column per
 * node with its tasks; scaled from the page; a node's host dies and its tasks move to the other
 * columns; a node drained from the page gives its tasks away.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { TestCluster } from "../helpers/cluster.js";
import { startConsole } from "../helpers/console-client.js";
import { ok } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const cluster = new TestCluster(3);
const [n1, n2, n3] = [cluster.node(1), cluster.node(2), cluster.node(3)];
let browser: Browser;
let webConsole: Awaited<ReturnType<typeof startConsole>>;
let page: Page;

before(async () => {
  await cluster.start();
  ok(n1.docker(["swarm", "init"]));
  const token = ok(n1.docker(["swarm", "join-token", "-q", "worker"])).stdout.trim();
  for (const n of [n2, n3]) ok(n.docker(["swarm", "join", "--token", token, `${n1.address}:2377`]));
  webConsole = await startConsole(n1.socket);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(webConsole.loginUrl);
});

after(async () => {
  await browser?.close();
  await webConsole?.stop();
  for (const n of cluster.nodes) n.docker(["swarm", "leave", "--force"]);
  await cluster.cleanup();
});

/** The number of task boxes of `service` in each node's column, node1 to node3. */
async function columns(service: string): Promise<number[]> {
  return Promise.all(
    ["node1", "node2", "node3"].map((name) =>
      page.locator(`[data-node="${name}"] .task[data-service="${service}"]`).count(),
    ),
  );
}

async function untilColumns(
  service: string,
  expected: (c: number[]) => boolean,
  ms = 40_000,
): Promise<number[]> {
  let last: number[] = [];
  await until(
    `${service}'s boxes`,
    async () => {
      last = await columns(service);
      return expected(last);
    },
    ms,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: last ${last.join("-")}`);
  });
  return last;
}

const sum = (c: number[]) => c.reduce((a, b) => a + b, 0);

/** With CONSOLE_SCREENSHOTS=DIR, the view at a desktop and a narrow width (the README's pictures). */
async function picture(name: string): Promise<void> {
  const dir = process.env["CONSOLE_SCREENSHOTS"];
  if (!dir) return;
  for (const [size, viewport] of [
    ["desktop", { width: 1280, height: 800 }],
    ["narrow", { width: 420, height: 860 }],
  ] as const) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(dir, `${name}-${size}.png`) });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

test("nodes as columns, tasks as boxes; scaled from the page; a dead node's tasks move to the others; drain", async () => {
  ok(
    n1.docker([
      "service",
      "create",
      "--detach",
      "--name",
      "web",
      "--stop-grace-period",
      "1s",
      "--replicas",
      "3",
      "busybox",
      "sleep",
      "1000",
    ]),
  );
  await page.goto(`${new URL(webConsole.loginUrl).origin}/#/cluster`);
  await untilColumns("web", (c) => c.join() === "1,1,1");

  const row = page.locator('[data-testid=services] tr[data-service="web"]');
  await row.locator("input[name=replicas]").fill("6");
  await row.getByRole("button", { name: "Scale" }).click();
  assert.deepEqual(await untilColumns("web", (c) => c.join() === "2,2,2"), [2, 2, 2]);

  await picture("cluster");
  await n3.powerOff();
  await page.locator('[data-node="node3"][data-state="down"]').waitFor({ timeout: 30_000 });
  const moved = await untilColumns("web", (c) => c[2] === 0 && sum(c) === 6);
  assert.deepEqual(moved, [3, 3, 0]);
  await picture("cluster-node-down");

  await page.locator('[data-node="node2"]').getByRole("button", { name: "Drain" }).click();
  assert.deepEqual(await untilColumns("web", (c) => c[1] === 0 && c[0] === 6), [6, 0, 0]);
  ok(n1.docker(["service", "rm", "web"]));
});
