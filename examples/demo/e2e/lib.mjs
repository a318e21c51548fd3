// Shared by the end-to-end test and the screenshot script: the real demo
// server on 127.0.0.1, headless Chromium (Debian's binary through
// playwright-core), and questions asked of the pages' DOM. What every
// example's suite needs (waits, server processes, Chromium's options) is in
// examples/e2e-shared/harness.mjs.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { STUCK, chromiumOptions, startProcess, until } from '../../e2e-shared/harness.mjs';

export { STUCK, until };

/** The repository root. */
export const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Built by `scripts/demo.sh --build-only`. */
export const serverBin = process.env.DEMO_SERVER ?? `${root}target/debug/demo-server`;
export const siteDir = process.env.DEMO_SITE ?? `${root}target/demo/site`;

/** A port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts demo-server on 127.0.0.1:port and resolves once it listens. Its
 * worlds live in memory, so a restart resets them (a new epoch), which the
 * tests of the reset banner rely on; the durable store's restarts are tested
 * in Rust (examples/demo/server/tests/restart.rs). With `{ nats: url }` it
 * is a cluster node instead: the worlds live in that NATS (see startNats).
 * `kill()` ends it abruptly (SIGKILL: no goodbye to the clients).
 */
export function startServer(port, { nats } = {}) {
  const storage = nats ? ['--nats', nats] : ['--memory'];
  const args = ['--addr', `127.0.0.1:${port}`, '--site', siteDir, ...storage];
  return startProcess(serverBin, args, (out) => out.includes('listening on'))
    .then(({ kill }) => ({ url: `http://127.0.0.1:${port}`, kill }));
}

/** Debian's nats-server (`scripts/test.sh` installs it), or UI_FLOW_NATS_SERVER. */
export const natsBin = process.env.UI_FLOW_NATS_SERVER ?? 'nats-server';

/**
 * Starts nats-server with JetStream on a free loopback port, its store in a
 * new temporary folder, and resolves with its client URL once it accepts
 * clients (it writes its ports file then). `stop()` kills it and removes
 * the folder.
 */
export async function startNats() {
  const dir = await mkdtemp(join(tmpdir(), 'ui-flow-e2e-nats-'));
  const proc = spawn(
    natsBin,
    ['--jetstream', '--addr', '127.0.0.1', '--port', '-1', '--store_dir', join(dir, 'jetstream'),
      '--ports_file_dir', dir, '--log', join(dir, 'nats-server.log')],
    { stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const failed = new Promise((resolve) => proc.once('error', resolve));
  const stop = async () => {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const url = await until('nats-server to accept clients', async () => {
      const error = await Promise.race([failed, Promise.resolve(null)]);
      if (error) throw new Error(`cannot run ${natsBin} (${error.message}); install Debian's nats-server`);
      if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}`);
      const ports = await readFile(join(dir, `nats-server_${proc.pid}.ports`), 'utf8');
      return JSON.parse(ports).nats?.[0];
    });
    return { url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Headless Chromium. WebRTC flags: show host candidates as plain addresses
 * rather than mDNS names, and allow loopback candidates, so two pages on
 * one machine connect without STUN or TURN.
 */
export function launch() {
  return chromium.launch(chromiumOptions([
    '--disable-features=WebRtcHideLocalIpsWithMdns',
    '--allow-loopback-in-peer-connection',
  ]));
}

/** Opens the Leptos app as `user` in a fresh browser context (its own storage). */
export async function openPlayer(browser, base, { user, name, world, viewport }) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1280, height: 820 } });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(error.message));
  const query = new URLSearchParams({ user, name, world });
  await page.goto(`${base}/?${query}`);
  return page;
}

/** Where `user`'s avatar stands on this page: `{q, r}`, or null. */
export function avatarAt(page, user) {
  return page.evaluate((user) => {
    const el = document.querySelector(`.avatar[data-player="${user}"]`);
    return el ? { q: Number(el.dataset.q), r: Number(el.dataset.r) } : null;
  }, user);
}

/** A hex next to `user` that the rules allow: on the grid, no wall, nobody and nothing on it. */
export function freeNeighbour(page, user) {
  return page.evaluate((user) => {
    const me = document.querySelector(`.avatar[data-player="${user}"]`);
    const [q, r] = [Number(me.dataset.q), Number(me.dataset.r)];
    const taken = new Set(
      [...document.querySelectorAll('.avatar')].map((a) => `${a.dataset.q},${a.dataset.r}`),
    );
    const items = new Set(
      [...document.querySelectorAll('.item')].map((i) => `${i.dataset.q},${i.dataset.r}`),
    );
    for (const [dq, dr] of [[1, 0], [1, -1], [0, -1], [-1, 0], [-1, 1], [0, 1]]) {
      const key = `${q + dq},${r + dr}`;
      const cell = document.querySelector(`.cell[data-q="${q + dq}"][data-r="${r + dr}"]`);
      if (cell && !cell.classList.contains('wall') && !taken.has(key) && !items.has(key)) {
        return { q: q + dq, r: r + dr };
      }
    }
    return null;
  }, user);
}

/** Clicks the cell at `{q, r}`. */
export function clickHex(page, { q, r }) {
  return page.click(`.cell[data-q="${q}"][data-r="${r}"]`);
}

/** What this page shows of the world, as a string two converged pages agree on. */
export function digest(page) {
  return page.evaluate(() => {
    const avatars = [...document.querySelectorAll('.avatar')]
      .map((a) => `${a.dataset.player}@${a.dataset.q},${a.dataset.r}`)
      .sort();
    const items = [...document.querySelectorAll('.item')].map((i) => i.dataset.item).sort();
    const dug = document.querySelectorAll('.crater').length;
    return JSON.stringify({ avatars, items, dug });
  });
}

/** How far a player sees items and dug hexes with fog of war (`demo_world::SIGHT`). */
export const SIGHT = 2;

/**
 * What two players' pages must agree on with fog of war: every avatar at
 * the same place, and the same items on the hexes both players see (each
 * page shows only the items within SIGHT of its own player). As a string,
 * equal on both pages when they agree.
 */
export async function sharedDigest(page, user, other, otherUser) {
  const [me, them] = [await avatarAt(page, user), await avatarAt(other, otherUser)];
  if (!me || !them) return null;
  const distance = (a, b) => (Math.abs(a.q - b.q) + Math.abs(a.r - b.r) + Math.abs(a.q + a.r - b.q - b.r)) / 2;
  const inBothSights = (hex) => distance(hex, me) <= SIGHT && distance(hex, them) <= SIGHT;
  const { avatars, items } = await page.evaluate(() => ({
    avatars: [...document.querySelectorAll('.avatar')]
      .map((a) => `${a.dataset.player}@${a.dataset.q},${a.dataset.r}`)
      .sort(),
    items: [...document.querySelectorAll('.item')]
      .map((i) => ({ id: i.dataset.item, q: Number(i.dataset.q), r: Number(i.dataset.r) })),
  }));
  const shared = items.filter(inBothSights).map((i) => i.id).sort();
  return JSON.stringify({ avatars, items: shared });
}

/** Whether two players' pages agree on what both see (see sharedDigest). */
export async function agree(a, userA, b, userB) {
  const [one, two] = [await sharedDigest(a, userA, b, userB), await sharedDigest(b, userB, a, userA)];
  return one !== null && one === two;
}

/** The status indicator's state: connecting, open, reconnecting or closed. */
export function status(page) {
  return page.getAttribute('[data-testid="status"]', 'data-status');
}

/** Whether any of the page's hex cells overlaps the element matched by `selector`. */
export function coversAHex(page, selector) {
  return page.evaluate((selector) => {
    const box = document.querySelector(selector).getBoundingClientRect();
    return [...document.querySelectorAll('.cell')].some((cell) => {
      const c = cell.getBoundingClientRect();
      return c.left < box.right && box.left < c.right && c.top < box.bottom && box.top < c.bottom;
    });
  }, selector);
}

/** Rows of the list `selector` that are not shown whole (cut by its box), as their texts. */
export function cutRows(page, selector) {
  return page.evaluate((selector) => {
    const list = document.querySelector(selector);
    const box = list.getBoundingClientRect();
    return [...list.children]
      .filter((row) => {
        const r = row.getBoundingClientRect();
        return r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
      })
      .map((row) => row.textContent);
  }, selector);
}
