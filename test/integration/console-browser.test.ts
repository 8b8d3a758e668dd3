/**
 * The web console in headless Chromium (Debian's, driven by playwright-core) against a real
 * daemon: log in with the token, be refused without it, run a container from the form, follow
 * its logs, type in its terminal, watch its CPU graph move under load, stop it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { startConsole } from "../helpers/console-client.js";
import { DaemonFixture, ok } from "../helpers/daemon.js";
import { until } from "../helpers/wait.js";

const d = new DaemonFixture();
let browser: Browser;
let webConsole: Awaited<ReturnType<typeof startConsole>>;
let base: string;
let page: Page;

before(async () => {
  await d.importBusybox();
  await d.start();
  webConsole = await startConsole(d.socket);
  base = new URL(webConsole.loginUrl).origin;
  // As root, Chromium's own sandbox cannot start; the page only ever loads the console.
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});
after(async () => {
  await browser?.close();
  await webConsole?.stop();
  await d.cleanup();
});

test("without the token the console refuses the page and the API", async () => {
  const visitor = await browser.newPage();
  assert.equal((await visitor.goto(`${base}/`))?.status(), 401);
  assert.equal((await visitor.goto(`${base}/?token=guess`))?.status(), 401);
  assert.equal((await visitor.goto(`${base}/api/containers/json`))?.status(), 401);
  await visitor.close();
});

test("the token logs in, and the address bar keeps no token", async () => {
  const answer = await page.goto(webConsole.loginUrl);
  assert.equal(answer?.status(), 200);
  assert.equal(page.url(), `${base}/`);
  await page.getByTestId("containers").waitFor();
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 1);
  assert.equal(cookies[0]!.httpOnly, true);
  assert.equal(cookies[0]!.sameSite, "Strict");
});

/** The terminal's lines as xterm.js renders them. */
async function terminalLines(): Promise<string[]> {
  return page.locator(".xterm-rows > div").allTextContents();
}

test("run a container from the form: running, logs that follow, a terminal, CPU under load, stop", async () => {
  const form = page.getByTestId("run-form");
  await form.locator("input[name=image]").fill("busybox");
  await form.locator("input[name=name]").fill("console-web");
  await form
    .locator("input[name=command]")
    .fill("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
  await form.getByRole("button", { name: "Run" }).click();
  await page.getByTestId("detail-state").filter({ hasText: "running" }).waitFor({ timeout: 15_000 });

  // Logs follow: a line written after the page opened them arrives.
  await page.getByTestId("logs").filter({ hasText: "tick 3" }).waitFor({ timeout: 10_000 });
  const before = (await page.getByTestId("logs").textContent()) ?? "";
  await until(
    "a new log line",
    async () => ((await page.getByTestId("logs").textContent()) ?? "").length > before.length,
  );

  await page.getByTestId("terminal-state").filter({ hasText: "connected" }).waitFor({ timeout: 10_000 });
  await page.getByTestId("terminal").click();
  await page.keyboard.type("echo hi\n");
  await until("hi in the terminal", async () => (await terminalLines()).some((l) => l.trim() === "hi"));
  assert.ok(
    (await terminalLines()).some((l) => l.includes("echo hi")),
    "the command was echoed",
  );

  // Load from the terminal: the CPU graph's last figure climbs.
  await page.keyboard.type("while :; do :; done &\n");
  await until(
    "the CPU graph above 20%",
    async () => Number((await page.getByTestId("cpu-chart").getAttribute("data-last")) ?? 0) > 20,
    15_000,
  );

  await page.locator(".detail").getByRole("button", { name: "Stop" }).click();
  await page.getByTestId("detail-state").filter({ hasText: "exited" }).waitFor({ timeout: 15_000 });
  await page.goto(`${base}/#/containers`);
  await page.locator('tr[data-name="console-web"][data-state="exited"]').waitFor();
});

test("images list their layers; volumes and networks list theirs, networks with their containers", async () => {
  await page.goto(`${base}/#/images`);
  await page.locator("[data-testid=images] tbody tr", { hasText: "busybox:latest" }).click();
  await page.locator("ol.layers li", { hasText: "berth import" }).waitFor();
  ok(d.berth(["volume", "create", "console-vol"]));
  await page.goto(`${base}/#/volumes`);
  await page.locator("[data-testid=volumes] tr", { hasText: "console-vol" }).first().waitFor();
  ok(d.berth(["network", "create", "console-net"]));
  ok(
    d.berth(["run", "-d", "--name", "console-member", "--network", "console-net", "busybox", "sleep", "300"]),
  );
  await page.goto(`${base}/#/networks`);
  await page
    .locator("[data-testid=networks] tr", { hasText: "console-net" })
    .locator(".chip", { hasText: "console-member" })
    .waitFor();
  await page.goto(`${base}/#/events`);
  ok(d.berth(["rm", "-f", "console-member"]));
  await page.locator("[data-testid=events] tr", { hasText: "destroy" }).first().waitFor();
  ok(d.berth(["network", "rm", "console-net"]));
  ok(d.berth(["volume", "rm", "console-vol"]));
});
