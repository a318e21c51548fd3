// Smoke test of the four adapter examples (examples/{leptos,yew,seed,js}-todo):
// each page, served by examples/adapter-server with --static examples, loads
// in headless Chromium, shows the seeded list live, adds an item through its
// form, and shows the server's rejection of a blank title. Run through
// adapters/test.sh, which builds the examples and starts the server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const SERVER = process.env.UI_FLOW_ADAPTER_SERVER;
const WAIT = { timeout: 15_000 };

let browser;

before(async () => {
  assert.ok(SERVER, "UI_FLOW_ADAPTER_SERVER is not set: run adapters/test.sh, which starts the server");
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 30_000,
  });
});

after(async () => {
  await browser?.close();
});

for (const name of ["leptos", "yew", "seed", "js"]) {
  test(`the ${name} example shows a live list, adds an item, and shows a rejection`, async () => {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    try {
      const list = `${name}-smoke-${crypto.randomUUID()}`;
      const http = SERVER.replace(/^ws/, "http");
      await page.goto(`${http}/${name}-todo/index.html?list=${list}&user=ann`, WAIT);
      await page.waitForSelector('[data-id="1"]', WAIT);
      await page.waitForSelector('[data-id="2"]', WAIT);
      await page.waitForFunction(() => document.querySelector(".status")?.textContent.includes("live"), null, WAIT);

      await page.fill("form input", "From the smoke test");
      await page.click('form button[type="submit"]');
      await page.waitForFunction(
        () => [...document.querySelectorAll("[data-id]")].some((li) => li.textContent.includes("From the smoke test")),
        null,
        WAIT,
      );

      await page.fill("form input", "   ");
      await page.click('form button[type="submit"]');
      await page.waitForFunction(
        () => [...document.querySelectorAll(".note")].some((p) => p.textContent.startsWith("Rejected:")),
        null,
        WAIT,
      );
      assert.equal(await page.locator("[data-id]").count(), 3, "the rejected item was rolled back");
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
    }
  });
}
