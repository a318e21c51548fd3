// The Bevy world example end to end: its Leptos page in headless Chromium
// (Debian's binary through playwright-core) against the real
// bevy-world-server on 127.0.0.1, which runs the simulation at 60 Hz and
// serves the page.
//
// Needs `./scripts/demo.sh bevy --build-only` first (the server binary and
// the built page). Run with `node --test` in this folder. Every wait polls
// the page's DOM with a deadline; the server and browser are stopped when
// done, pass or fail.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { STUCK, chromiumOptions, startProcess, until } from '../../e2e-shared/harness.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const serverBin = process.env.BEVY_WORLD_SERVER ?? `${root}target/debug/bevy-world-server`;
const siteDir = process.env.BEVY_WORLD_SITE ?? `${root}target/bevy-world/site`;

/** Entities the server spawns for the test. */
const ENTITIES = 40;

/**
 * Starts bevy-world-server with the world and the page each on a free
 * loopback port, and resolves with the page's address once it prints it.
 */
function startServer() {
  const args = ['--addr', '127.0.0.1:0', '--site', siteDir, '--site-addr', '127.0.0.1:0',
    '--entities', String(ENTITIES), '--sync-every', '3'];
  return startProcess(serverBin, args, (out) => out.match(/^page: (http:\S+)$/m)?.[1])
    .then(({ ready, kill }) => ({ url: ready, kill }));
}

/** Every drawn entity's id → its SVG transform (where it is drawn). */
function drawn(page) {
  return page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('.mover')].map((g) => [g.dataset.entity, g.getAttribute('transform')]),
  ));
}

/** The inspector's row for `component`: its value as shown. */
function shown(page, component) {
  return page.textContent(`[data-testid="components"] tr[data-component="${component}"] td`);
}

describe('the Bevy world page', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let page;
  const errors = [];
  let entity;

  before(async () => {
    server = await startServer();
    browser = await chromium.launch(chromiumOptions());
    page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${server.url}?user=e2e`);
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
  });

  it('draws every entity, and they move', async () => {
    await until(`${ENTITIES} entities drawn`, async () => {
      const now = await drawn(page);
      return Object.values(now).filter(Boolean).length === ENTITIES;
    });
    assert.equal(await page.getAttribute('[data-testid="status"]', 'data-status'), 'open');
    const first = await drawn(page);
    entity = await until('an entity to move on the page', async () => {
      const now = await drawn(page);
      return Object.keys(first).find((id) => now[id] && now[id] !== first[id]);
    });
    assert.match(first[entity], /^translate\([\d.]+ [\d.]+\)$/);
  });

  it('the inspector shows the selected entity, live', async () => {
    // A DOM click: the dot moves, so clicking at its coordinates could miss.
    await page.dispatchEvent(`.mover[data-entity="${entity}"]`, 'click');
    await page.waitForSelector(`[data-testid="components"][data-entity="${entity}"]`, { timeout: STUCK });
    const rows = await page.$$eval('[data-testid="components"] tr', (trs) => trs.map((tr) => tr.dataset.component));
    assert.deepEqual(rows.sort(), ['Name', 'Position', 'Velocity']);
    assert.equal(await shown(page, 'Name'), await page.getAttribute(`.mover[data-entity="${entity}"]`, 'data-name'));
    const at = await shown(page, 'Position');
    assert.match(at, /^x [\d.]+, y [\d.]+$/);
    await until('the inspected position to change', async () => (await shown(page, 'Position')) !== at);
    assert.equal(await page.getAttribute(`.mover[data-entity="${entity}"]`, 'class'), 'mover selected');
    await until('the highlight drawn on the selected dot', () => page.evaluate((entity) => {
      const dot = document.querySelector(`.mover[data-entity="${entity}"]`);
      const ring = document.querySelector(`[data-testid="highlight"][data-entity="${entity}"]`);
      return ring !== null && ring.getAttribute('transform') === dot.getAttribute('transform');
    }, entity));
  });

  it('a rename round-trips to the inspector and the drawing; a blank name is refused', async () => {
    await page.fill('[data-testid="rename-input"]', '  Blue Comet ');
    await page.click('[data-testid="rename"]');
    await page.waitForSelector('[data-testid="outcome"][data-state="ok"]', { timeout: STUCK });
    await until('the new name in the inspector', async () => (await shown(page, 'Name')) === 'Blue Comet');
    const mover = `.mover[data-entity="${entity}"]`;
    await until('the new name in the drawing', async () =>
      (await page.getAttribute(mover, 'data-name')) === 'Blue Comet'
      && (await page.textContent(`[data-testid="highlight"][data-entity="${entity}"] text`)) === 'Blue Comet');

    await page.fill('[data-testid="rename-input"]', '   ');
    await page.click('[data-testid="rename"]');
    await page.waitForSelector('[data-testid="outcome"][data-state="err"]', { timeout: STUCK });
    assert.match(await page.textContent('[data-testid="outcome"]'), /^Refused \(invalid_name\): a name cannot be empty$/);
    assert.equal(await shown(page, 'Name'), 'Blue Comet', 'a refused rename changes nothing');
    assert.equal(await page.getAttribute(mover, 'data-name'), 'Blue Comet');
    assert.deepEqual(errors, [], 'no errors on the page');
  });
});
