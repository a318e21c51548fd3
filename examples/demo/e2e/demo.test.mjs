// The demo end to end: two headless Chromium pages (alice and bob) on the
// Leptos app, against the real demo-server on 127.0.0.1.
//
// Needs `scripts/demo.sh --build-only` first (the server binary and the
// built site). Run with `node --test` in this folder. Every wait is on a DOM
// condition with a timeout; the whole file is bounded by the test timeouts
// below and stops the server and browser when done, pass or fail.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  STUCK, agree, avatarAt, clickHex, coversAHex, cutRows, freeNeighbour, freePort, launch,
  openPlayer, startServer, status, until,
} from './lib.mjs';

describe('the demo with two players', { timeout: 180_000 }, () => {
  let port;
  let server;
  let browser;
  let alice;
  let bob;
  let jess;
  const world = `e2e-${process.pid}`;

  before(async () => {
    port = await freePort();
    server = await startServer(port);
    browser = await launch();
    alice = await openPlayer(browser, server.url, { user: 'alice', name: 'Alice', world });
    bob = await openPlayer(browser, server.url, { user: 'bob', name: 'Bob', world });
  });

  after(async () => {
    await browser?.close();
    await server?.kill();
  });

  it('each sees the other in the presence list and on the board', async () => {
    for (const page of [alice, bob]) {
      for (const user of ['alice', 'bob']) {
        await page.waitForSelector(`[data-testid="presence"] [data-user="${user}"]`, { timeout: STUCK });
        await page.waitForSelector(`.avatar[data-player="${user}"]`, { timeout: STUCK });
      }
      assert.equal(await status(page), 'open');
    }
    const row = await alice.textContent('[data-testid="presence"] [data-user="bob"]');
    assert.match(row, /Bob/);
    assert.match(row, /active/);
    assert.equal(await alice.$('.app.stale'), null, 'a connected page does not look stale');
    assert.equal(await alice.$('[data-testid="offline"]'), null);
  });

  it('the status line draws the round trips of the last minute', async () => {
    // One sample per ping (every 5 s in the demo): wait for two.
    await alice.waitForSelector('[data-testid="rtt"]:not([data-samples="0"]):not([data-samples="1"])', {
      timeout: STUCK,
    });
    const { samples, points, text } = await alice.evaluate(() => {
      const rtt = document.querySelector('[data-testid="rtt"]');
      return {
        samples: Number(rtt.dataset.samples),
        points: rtt.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length,
        text: rtt.textContent,
      };
    });
    assert.equal(points, samples, 'one point per sample');
    assert.match(text, /^\d+ ms$/);
    assert.match(await alice.getAttribute('[data-testid="rtt"]', 'title'), /last minute \(\d+ samples\)/);
  });

  it("a step by one appears on the other's board", async () => {
    const to = await freeNeighbour(alice, 'alice');
    assert.ok(to, 'alice has a free neighbour');
    await clickHex(alice, to);
    await bob.waitForSelector(`.avatar[data-player="alice"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
    assert.deepEqual(await avatarAt(alice, 'alice'), to);
    await alice.waitForSelector('[data-testid="actions"] .op[data-state="ok"]', { timeout: STUCK });
  });

  it('a step into a wall shows at once, is refused, flashes and rolls back', async () => {
    const from = await avatarAt(alice, 'alice');
    const wall = await alice.evaluate(() => {
      const cell = document.querySelector('.cell.wall');
      return { q: Number(cell.dataset.q), r: Number(cell.dataset.r) };
    });
    // Record every position the avatar takes, to see the optimistic step.
    await alice.evaluate(() => {
      const avatar = document.querySelector('.avatar[data-player="alice"]');
      window.seenAt = [];
      new MutationObserver(() => {
        window.seenAt.push(`${avatar.dataset.q},${avatar.dataset.r}`);
      }).observe(avatar, { attributes: true, attributeFilter: ['data-q', 'data-r'] });
    });
    await clickHex(alice, wall);
    await alice.waitForSelector('.flash', { timeout: STUCK });
    const toast = await alice.waitForSelector('.toast.refused', { timeout: STUCK });
    assert.match(await toast.textContent(), /wall/);
    assert.equal(await coversAHex(alice, '.toast.refused'), false, 'the toast leaves every hex visible');
    await alice.waitForSelector('[data-testid="actions"] .op[data-state="err"]', { timeout: STUCK });
    await until('the avatar back where it was', async () => {
      const at = await avatarAt(alice, 'alice');
      return at.q === from.q && at.r === from.r;
    });
    const seen = await alice.evaluate(() => window.seenAt);
    assert.ok(seen.includes(`${wall.q},${wall.r}`), `the step showed before the refusal: ${seen}`);
    assert.equal(seen.at(-1), `${from.q},${from.r}`);
    // bob never saw alice on the wall.
    assert.deepEqual(await avatarAt(bob, 'alice'), from);
  });

  it('a chat message arrives over a WebRTC data channel set up through the relay', async () => {
    await alice.click('[data-testid="presence"] [data-user="bob"] .chat-open');
    for (const page of [alice, bob]) {
      await page.waitForSelector('.chat-body[data-state="open"]', { timeout: STUCK });
    }
    assert.equal(await bob.getAttribute('.chat-body', 'data-peer'), 'alice');
    await alice.fill('.chat-body input', 'hello over webrtc');
    await alice.press('.chat-body input', 'Enter');
    const line = await bob.waitForSelector('[data-testid="chat-lines"] .line:not(.ours)', {
      timeout: STUCK,
    });
    assert.equal(await line.textContent(), 'hello over webrtc');
    await alice.waitForSelector('[data-testid="chat-lines"] .line.ours', { timeout: STUCK });
  });

  it('a hidden tab shows as away, and active again when shown', async () => {
    const setHidden = (hidden) => bob.evaluate((hidden) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await setHidden(true);
    await alice.waitForSelector('[data-testid="presence"] [data-user="bob"][data-status="away"]', {
      timeout: STUCK,
    });
    await setHidden(false);
    await alice.waitForSelector('[data-testid="presence"] [data-user="bob"][data-status="active"]', {
      timeout: STUCK,
    });
  });

  it('the plain JavaScript page (ui-flow-js) joins the same world', async () => {
    const context = await browser.newContext();
    jess = await context.newPage();
    jess.errors = [];
    jess.on('pageerror', (error) => jess.errors.push(error.message));
    await jess.goto(`${server.url}/plain/?${new URLSearchParams({ user: 'jess', name: 'Jess', world })}`);
    for (const user of ['alice', 'bob', 'jess']) {
      await jess.waitForSelector(`#board [data-player="${user}"]`, { timeout: STUCK });
    }
    await alice.waitForSelector('[data-testid="presence"] [data-user="jess"]', { timeout: STUCK });
    await alice.waitForSelector('.avatar[data-player="jess"]', { timeout: STUCK });
    assert.ok(await jess.$('#log .snapshot'), 'the plain page logged its snapshot');
  });

  it("the plain page's log opens a cut row in full on a click", async () => {
    const row = await jess.waitForSelector('#log li.cut', { timeout: STUCK });
    const before = await row.evaluate((li) => ({ height: li.clientHeight, cut: li.scrollWidth > li.clientWidth }));
    assert.ok(before.cut, 'the row is cut at first');
    await row.click();
    const after = await row.evaluate((li) => ({
      height: li.clientHeight,
      cut: li.scrollWidth > li.clientWidth,
      expanded: li.getAttribute('aria-expanded'),
    }));
    assert.equal(after.expanded, 'true');
    assert.equal(after.cut, false, 'all of it shows');
    assert.ok(after.height > before.height, `it grew: ${before.height} -> ${after.height}`);
  });

  it('while the server is down no page looks live; a restart that reset the world says so', async () => {
    for (const page of [alice, bob]) {
      await page.evaluate(() => { window.sameDocument = true; });
    }
    await alice.waitForSelector('[data-testid="news"] .note', { timeout: STUCK });
    const dug = await alice.$('button.dig:disabled');
    assert.equal(dug, null, 'dig is enabled while connected (on an undug hex)');
    assert.equal(await alice.getAttribute('.app', 'data-live'), 'true');
    await server.kill();
    for (const page of [alice, bob]) {
      await until('the page to notice', async () => (await status(page)) === 'reconnecting');
      await page.waitForSelector('.app.stale[data-live="false"]', { timeout: STUCK });
      await page.waitForSelector('[data-testid="offline"]', { timeout: STUCK });
      await page.waitForSelector('button.dig:disabled', { timeout: STUCK });
      assert.ok(await page.$('[data-testid="presence"] .person.stale'), 'presence is marked stale');
      assert.ok(await page.$('[data-testid="rtt"].stale'), 'the round trips are marked stale');
    }
    assert.match(await alice.textContent('[data-testid="offline"]'), /Connection lost/);
    // A step while down is not shown as if it happened.
    const from = await avatarAt(alice, 'alice');
    await clickHex(alice, await freeNeighbour(alice, 'alice'));
    assert.deepEqual(await avatarAt(alice, 'alice'), from);
    assert.equal(await status(alice), 'reconnecting', 'still down after the click');
    // The plain page dims too, and counts its retries on one row.
    await jess.waitForSelector('body.stale', { timeout: STUCK });
    const retries = await until('a second retry on the plain page', async () => {
      const rows = await jess.$$eval('#log li[data-kind="status"]', (lis) => lis
        .filter((li) => li.dataset.text.includes('reconnecting'))
        .map((li) => ({ count: Number(li.dataset.count), shown: li.querySelector('.repeat').textContent })));
      return rows.length === 1 && rows[0].count >= 2 && rows[0];
    });
    assert.equal(retries.shown, `×${retries.count}`);

    server = await startServer(port);
    for (const page of [alice, bob]) {
      await until('reconnected', async () => (await status(page)) === 'open');
      // A new server, a new epoch: the page says the world was reset, and
      // the notifications from before are set apart.
      const banner = await page.waitForSelector('[data-testid="reset-banner"]', { timeout: STUCK });
      assert.match(await banner.textContent(), /world was reset/);
      await page.waitForSelector('[data-testid="reset-divider"] ~ .note.before-reset', { timeout: STUCK });
      // Everything below the divider (newest first) predates the reset, nothing above it does.
      const eras = await page.$$eval('[data-testid="news"] > li', (rows) => rows.map((row) =>
        (row.dataset.testid === 'reset-divider' ? '|' : row.classList.contains('before-reset') ? 'o' : 'n')).join(''));
      assert.match(eras, /^n*\|o+$/, `new rows, the divider, old rows: ${eras}`);
      await page.waitForSelector('.app:not(.stale)', { timeout: STUCK });
      assert.equal(await page.$('[data-testid="offline"]'), null);
      // The new server's world is fresh: each page enters it again.
      for (const user of ['alice', 'bob']) {
        await page.waitForSelector(`.avatar[data-player="${user}"]`, { timeout: STUCK });
      }
      assert.equal(await page.evaluate(() => window.sameDocument), true, 'no reload');
    }
    // With fog of war each page shows the items near its own player: the
    // pages agree on the avatars and on what both players see.
    await until('both pages to show the same world', () => agree(alice, 'alice', bob, 'bob'));
    // And the world still works: a step by bob reaches alice.
    const to = await freeNeighbour(bob, 'bob');
    await clickHex(bob, to);
    await alice.waitForSelector(`.avatar[data-player="bob"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
    await until('both pages to agree again', () => agree(alice, 'alice', bob, 'bob'));
    // Dismissed, the banner goes; a reconnect within the same epoch would not bring it back.
    await alice.click('[data-testid="reset-banner"] .dismiss');
    assert.equal(await alice.$('[data-testid="reset-banner"]'), null);
  });

  it('the plain page is back in the new world, and its steps reach the Leptos pages', async () => {
    for (const user of ['alice', 'bob', 'jess']) {
      await jess.waitForSelector(`#board [data-player="${user}"]`, { timeout: STUCK });
    }
    await jess.waitForSelector('body:not(.stale)', { timeout: STUCK });
    await alice.waitForSelector('.avatar[data-player="jess"]', { timeout: STUCK });
    // A step on the plain page reaches the Leptos pages.
    const to = await jess.evaluate(() => {
      const me = document.querySelector('#board [data-player="jess"]');
      const [q, r] = [Number(me.dataset.q), Number(me.dataset.r)];
      const taken = new Set([...document.querySelectorAll('#board [data-player]')]
        .map((p) => `${p.dataset.q},${p.dataset.r}`));
      for (const [dq, dr] of [[1, 0], [1, -1], [0, -1], [-1, 0], [-1, 1], [0, 1]]) {
        const cell = document.querySelector(`#board .cell[data-q="${q + dq}"][data-r="${r + dr}"]`);
        if (cell && !cell.classList.contains('wall') && !taken.has(`${q + dq},${r + dr}`)) {
          return { q: q + dq, r: r + dr };
        }
      }
      return null;
    });
    await jess.click(`#board .cell[data-q="${to.q}"][data-r="${to.r}"]`);
    await bob.waitForSelector(`.avatar[data-player="jess"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
  });

  it('the notification feed shows every row whole, however many there are', async () => {
    // Nine more people enter: a notification each for everyone, so the feed
    // is full whatever else alice heard (with fog of war she hears of a dig
    // only when she sees its hex).
    const context = await browser.newContext();
    for (const user of ['kim', 'lee', 'max', 'ned', 'oda', 'pia', 'quy', 'rex', 'sol']) {
      const page = await context.newPage();
      await page.goto(`${server.url}/plain/?${new URLSearchParams({ user, name: user, world })}`);
      await alice.waitForSelector(`.avatar[data-player="${user}"]`, { timeout: STUCK });
    }
    await until('a full feed', async () => (await alice.$$('[data-testid="news"] .note')).length >= 9);
    assert.deepEqual(await cutRows(alice, '[data-testid="news"]'), []);
    const fits = await alice.evaluate(() => {
      const feed = document.querySelector('[data-testid="news"]');
      return feed.scrollHeight <= feed.clientHeight + 1;
    });
    assert.ok(fits, 'nothing hidden below the fold of the feed');
    await context.close();
  });

  it('no page raised an error', () => {
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
    assert.deepEqual(jess.errors, []);
  });
});
