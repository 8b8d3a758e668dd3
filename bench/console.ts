/**
 * `npm run bench console`: the web console with many containers — time from opening the login
 * address to the containers table showing every one of them, first contentful paint, and the
 * page's JavaScript heap (CDP's JSHeapUsedSize, after a collection), in headless Chromium.
 * BENCH_CONSOLE_CONTAINERS containers (default 500) are made with `berth create` of busybox
 * (not started) and removed at the end. With BENCH_CONSOLE_SCREENSHOTS=DIR it first takes a
 * screenshot of each view at a desktop and a narrow width into DIR (the README's pictures).
 */
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { startConsole } from "../test/helpers/console-client.js";
import { BERTH, DaemonFixture, ok } from "../test/helpers/daemon.js";
import { until } from "../test/helpers/wait.js";

const COUNT = Number(process.env["BENCH_CONSOLE_CONTAINERS"] || 500);
const SIZES = { desktop: { width: 1280, height: 800 }, narrow: { width: 420, height: 860 } };

/** `berth create` run `count` times, four at a time (each is a CLI process of its own). */
async function createMany(socket: string, count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      await new Promise<void>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [
            BERTH,
            "-H",
            `unix://${socket}`,
            "create",
            "--network",
            "none",
            "--name",
            `idle-${i}`,
            "busybox",
            "sleep",
            "1",
          ],
          {
            stdio: "ignore",
          },
        );
        child.on("exit", (code) =>
          code === 0 ? resolve() : reject(new Error(`berth create exited ${code}`)),
        );
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

async function screenshots(browser: Browser, d: DaemonFixture, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  ok(d.berth(["volume", "create", "app-data"]));
  ok(d.berth(["network", "create", "backend"]));
  ok(
    d.berth([
      "run",
      "-d",
      "--name",
      "api",
      "--network",
      "backend",
      "-v",
      "app-data:/data",
      "busybox",
      "sh",
      "-c",
      "i=0; while true; do echo request $i served; i=$((i+1)); sleep 0.5; done",
    ]),
  );
  ok(
    d.berth([
      "run",
      "-d",
      "--name",
      "worker",
      "--network",
      "backend",
      "busybox",
      "sh",
      "-c",
      "while :; do :; done",
    ]),
  );
  ok(d.berth(["create", "--name", "batch", "busybox", "true"]));
  const api = ok(d.berth(["inspect", "-f", "{{.Id}}", "api"])).stdout.trim();
  const webConsole = await startConsole(d.socket);
  try {
    await takeViews(browser, d, dir, webConsole.loginUrl, api);
  } finally {
    await webConsole.stop();
  }
  ok(d.berth(["rm", "-f", "api", "worker", "batch"]));
  ok(d.berth(["volume", "rm", "app-data"]));
  ok(d.berth(["network", "rm", "backend"]));
}

async function takeViews(
  browser: Browser,
  d: DaemonFixture,
  dir: string,
  loginUrl: string,
  api: string,
): Promise<void> {
  const views: [string, string][] = [
    ["containers", "#/containers"],
    ["container", `#/containers/${api}`],
    ["images", "#/images"],
    ["volumes", "#/volumes"],
    ["networks", "#/networks"],
    ["events", "#/events"],
  ];
  const origin = new URL(loginUrl).origin;
  const page = await browser.newPage({ viewport: SIZES.desktop });
  await page.goto(loginUrl);
  // Events since the page opened: make a few.
  ok(d.berth(["restart", "-t", "1", "worker"]));
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    for (const [name, hash] of views) {
      await page.goto(`${origin}/${hash}`);
      if (name === "container") {
        await page.getByTestId("terminal-state").filter({ hasText: "connected" }).waitFor();
        await page.getByTestId("terminal").click();
        await page.keyboard.type("ls /data && uname -a\n");
        await page.waitForTimeout(6000);
      } else if (name === "images") {
        await page.locator("[data-testid=images] tbody tr").first().click();
        await page.locator("ol.layers").waitFor();
      } else if (name === "events") {
        ok(d.berth(["restart", "-t", "1", "worker"]));
        await page.locator("[data-testid=events] tbody tr").first().waitFor();
      } else await page.waitForTimeout(800);
      await page.screenshot({ path: join(dir, `${name}-${size}.png`) });
    }
  }
  await page.close();
}

async function measure(browser: Browser, d: DaemonFixture): Promise<void> {
  const t0 = Date.now();
  await createMany(d.socket, COUNT);
  process.stdout.write(
    `${COUNT} containers made with berth create in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  const webConsole = await startConsole(d.socket);
  try {
    await renderMany(browser, webConsole.loginUrl);
  } finally {
    await webConsole.stop();
  }
}

async function renderMany(browser: Browser, loginUrl: string): Promise<void> {
  const page: Page = await browser.newPage({ viewport: SIZES.desktop });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable");
  const opened = Date.now();
  await page.goto(loginUrl);
  await until(
    "every container in the table",
    async () => (await page.locator("tr[data-name]").count()) >= COUNT,
    60_000,
  );
  const rendered = Date.now() - opened;
  // The page's own clock: its paint entries (a type Node's performance does not know).
  const fcp = await page.evaluate(() => {
    const entries = (
      performance as unknown as { getEntriesByType(t: string): { name: string; startTime: number }[] }
    ).getEntriesByType("paint");
    return entries.find((e) => e.name === "first-contentful-paint")?.startTime ?? 0;
  });
  await page.waitForTimeout(3000);
  await cdp.send("HeapProfiler.collectGarbage");
  const metrics = (await cdp.send("Performance.getMetrics")).metrics;
  const metric = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
  const mib = (v: number) => `${(v / 1024 / 1024).toFixed(1)} MiB`;
  process.stdout.write(
    [
      `\n## console: the containers view with ${COUNT} containers (headless Chromium)`,
      `login address opened → all ${COUNT} rows rendered: ${rendered} ms`,
      `first contentful paint: ${Math.round(fcp)} ms`,
      `JS heap used (after GC): ${mib(metric("JSHeapUsedSize"))} of ${mib(metric("JSHeapTotalSize"))} total`,
      `DOM nodes: ${metric("Nodes")}`,
      "",
    ].join("\n"),
  );
  await page.close();
}

export async function consoleBench(): Promise<void> {
  const d = new DaemonFixture();
  let browser: Browser | undefined;
  try {
    await d.importBusybox();
    await d.start();
    browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
    const dir = process.env["BENCH_CONSOLE_SCREENSHOTS"];
    if (dir) await screenshots(browser, d, dir);
    await measure(browser, d);
  } finally {
    await browser?.close();
    await d.cleanup();
  }
}
