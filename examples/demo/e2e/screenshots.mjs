// Takes the demo's screenshots (docs/screenshots/*.png) with headless
// Chromium: three people in one world, a chat, a refused step, a dig in
// progress, the plain JavaScript page, the page while the server is down,
// and the page after a restart that reset the world.
//
//   ./scripts/demo.sh --build-only
//   node examples/demo/e2e/screenshots.mjs [OUT_DIR]
//
// Like the test, every wait is on a DOM condition with a timeout.

import { mkdir } from 'node:fs/promises';

import {
  STUCK, clickHex, freePort, launch, openPlayer, root, startServer, until,
} from './lib.mjs';

const out = process.argv[2] ?? `${root}docs/screenshots`;
await mkdir(out, { recursive: true });

const port = await freePort();
let server = await startServer(port);
const browser = await launch();
const world = 'tour';
const viewport = { width: 1440, height: 760 };

/** Scrolled to the top, nothing focused or hovered. */
async function settle(page) {
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  await page.mouse.move(1, 1);
}

try {
  const ann = await openPlayer(browser, server.url, { user: 'ann', name: 'Ann', world, viewport });
  await ann.waitForSelector('.avatar[data-player="ann"]', { timeout: STUCK });
  const ben = await openPlayer(browser, server.url, { user: 'ben', name: 'Ben', world, viewport });
  await ben.waitForSelector('.avatar[data-player="ben"]', { timeout: STUCK });
  const cara = await openPlayer(browser, server.url, { user: 'cara', name: 'Cara', world });
  await cara.waitForSelector('.avatar[data-player="cara"]', { timeout: STUCK });
  await cara.evaluate(() => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await ann.waitForSelector('[data-user="cara"][data-status="away"]', { timeout: STUCK });

  // Ann walks to the berry at (-1, -1) and picks it up.
  for (const to of [{ q: 0, r: -1 }, { q: -1, r: -1 }]) {
    await clickHex(ann, to);
    await ann.waitForSelector(`.avatar[data-player="ann"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
  }
  await ann.waitForSelector('.note.rewards', { timeout: STUCK });

  // Ben digs where he stands, to the end.
  await ben.click('button.dig');
  await ben.waitForSelector('[data-testid="actions"] .op[data-state="ok"]:has-text("dig")', {
    timeout: STUCK,
  });

  // A direct chat, both ways.
  await ann.click('[data-user="ben"] .chat-open');
  for (const page of [ann, ben]) {
    await page.waitForSelector('.chat-body[data-state="open"]', { timeout: STUCK });
  }
  await ann.fill('.chat-body input', 'Found a berry by the ridge!');
  await ann.press('.chat-body input', 'Enter');
  await ben.waitForSelector('.line:not(.ours)', { timeout: STUCK });
  await ben.fill('.chat-body input', 'Nice. Digging over here.');
  await ben.press('.chat-body input', 'Enter');
  await ann.waitForSelector('.line:not(.ours)', { timeout: STUCK });

  // A step into the wall at (-2, -2): refused, flashed, rolled back.
  await clickHex(ann, { q: -2, r: -2 });
  await ann.waitForSelector('.toast.refused', { timeout: STUCK });
  await settle(ann);
  await ann.locator('.board-wrap').screenshot({ path: `${out}/refused-step.png` });
  await until('the flash to end', async () => !(await ann.$('.flash')));

  // Most of a minute of round trips for the sparkline (one per 5 s ping).
  await ann.waitForFunction(
    () => Number(document.querySelector('[data-testid="rtt"]')?.dataset.samples) >= 9,
    null,
    { timeout: 2 * STUCK },
  );

  // Ann digs; shoot while it reports progress.
  await ann.click('button.dig');
  await ann.waitForSelector('[data-testid="dig-progress"]:has-text("50%")', { timeout: STUCK });
  await settle(ann);
  await ann.screenshot({ path: `${out}/two-players.png` });
  await settle(ben);
  await ben.screenshot({ path: `${out}/other-player.png` });

  // The plain JavaScript page in the same world.
  const dev = await openPlayer(browser, server.url, { user: 'dev', name: 'Dev', world, viewport: { width: 1280, height: 760 } });
  await dev.goto(`${server.url}/plain/?user=dev&name=Dev&world=${world}`);
  await dev.waitForSelector('#board [data-player="dev"]', { timeout: STUCK });
  await clickHex(ben, await ben.evaluate(() => {
    const near = document.querySelector('.cell.near');
    return { q: Number(near.dataset.q), r: Number(near.dataset.r) };
  }));
  await dev.waitForSelector('#log .delta:has-text("moved")', { timeout: STUCK });
  // Open one long row in full, as a reader would.
  await dev.click('#log li.cut.delta');
  await dev.mouse.move(1, 1);
  await dev.screenshot({ path: `${out}/plain-js.png` });

  // The server goes away: the page dims what may be stale, pauses moves,
  // and the indicator counts down to the next attempt.
  await server.kill();
  server = null;
  // Wait for a countdown long enough to read (attempts back off: 0.5 s, 1 s, 2 s...).
  await ann.waitForFunction(
    () => /in [1-9][0-9]*\.[0-9] s \(attempt [2-9]\)/.test(
      document.querySelector('[data-testid="status"]')?.textContent ?? '',
    ),
    null,
    { timeout: STUCK, polling: 50 },
  );
  await settle(ann);
  await ann.screenshot({ path: `${out}/reconnecting.png` });

  // A new server: a new epoch, a fresh world. The page says so.
  server = await startServer(port);
  await ann.waitForSelector('[data-testid="reset-banner"]', { timeout: STUCK });
  for (const user of ['ann', 'ben', 'cara', 'dev']) {
    await ann.waitForSelector(`.avatar[data-player="${user}"]`, { timeout: STUCK });
  }
  await ann.waitForSelector('[data-testid="reset-divider"]', { timeout: STUCK });
  // Ann's feed mixes world and rewards rows: every row below the divider
  // must be marked as older, whatever its domain.
  const eras = await ann.$$eval('[data-testid="news"] > li', (rows) => rows.map((row) =>
    (row.dataset.testid === 'reset-divider' ? '|' : row.classList.contains('before-reset') ? 'o' : 'n')).join(''));
  if (!/^n*\|o+$/.test(eras)) throw new Error(`rows out of order around the divider: ${eras}`);
  await until('the new world\'s first notifications', async () =>
    (await ann.$$('[data-testid="news"] .note:not(.before-reset)')).length >= 2);
  await settle(ann);
  await ann.screenshot({ path: `${out}/world-reset.png` });
  console.log(`screenshots written to ${out}`);
} finally {
  await browser.close();
  await server?.kill();
}
