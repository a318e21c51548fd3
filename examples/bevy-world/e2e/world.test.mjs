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
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const serverBin = process.env.BEVY_WORLD_SERVER ?? `${root}target/debug/bevy-world-server`;
const siteDir = process.env.BEVY_WORLD_SITE ?? `${root}target/bevy-world/site`;

/** The longest any single wait may take before the test fails. */
const STUCK = 30_000;
/** Entities the server spawns for the test. */
const ENTITIES = 40;

/**
 * Starts bevy-world-server with the world and the page each on a free
 * loopback port, and resolves with the page's address once it prints it.
 */
function startServer() {
  const proc = spawn(
    serverBin,
    ['--addr', '127.0.0.1:0', '--site', siteDir, '--site-addr', '127.0.0.1:0',
      '--entities', String(ENTITIES), '--sync-every', '3'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const started = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`bevy-world-server did not start:\n${out}`)), STUCK);
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      const page = out.match(/^page: (http:\S+)$/m);
      if (page) {
        clearTimeout(timer);
        resolve(page[1]);
      }
    });
    proc.stderr.on('data', (chunk) => { out += chunk; });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bevy-world-server exited with ${code}:\n${out}`));
    });
  });
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
    }
    await exited;
  };
  return started.then((url) => ({ url, kill }), async (error) => {
    await kill();
    throw error;
  });
}

/** Polls `check` until it returns something truthy, or fails after STUCK ms. */
async function until(what, check) {
  const deadline = Date.now() + STUCK;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what} (last: ${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
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
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      timeout: STUCK,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
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
