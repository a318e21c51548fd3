// The demo as a cluster, end to end: a real nats-server (JetStream, a free
// loopback port, a temporary store) and two demo-server nodes on it; one
// headless Chromium page on each node, both in the same world.
//
// What it checks: the two players see each other on the board and in the
// presence list (presence merged across the nodes), and a step made on
// node A's page appears on node B's page, and the other way round (one
// log in JetStream, followed by both nodes).
//
// Needs `scripts/demo.sh --build-only` first, and nats-server
// (`scripts/test.sh` installs it). Every wait is on a DOM condition with a
// timeout; the file stops the nodes, nats-server and the browser by itself,
// pass or fail.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  STUCK, agree, avatarAt, clickHex, freeNeighbour, freePort, launch, openPlayer, sharedDigest,
  startNats, startServer, status, until,
} from './lib.mjs';

describe('the demo on two nodes', { timeout: 120_000 }, () => {
  let nats;
  const nodes = [];
  let browser;
  let ann;
  let ben;
  const world = `cluster-${process.pid}`;

  before(async () => {
    nats = await startNats();
    for (let i = 0; i < 2; i += 1) {
      nodes.push(await startServer(await freePort(), { nats: nats.url }));
    }
    browser = await launch();
    ann = await openPlayer(browser, nodes[0].url, { user: 'ann', name: 'Ann', world });
    ben = await openPlayer(browser, nodes[1].url, { user: 'ben', name: 'Ben', world });
  });

  after(async () => {
    await browser?.close();
    for (const node of nodes) {
      await node.kill();
    }
    await nats?.stop();
  });

  it('each page is on its own node', () => {
    assert.notEqual(new URL(ann.url()).port, new URL(ben.url()).port);
  });

  it('the players on different nodes see each other on the board and in presence', async () => {
    for (const page of [ann, ben]) {
      for (const user of ['ann', 'ben']) {
        await page.waitForSelector(`[data-testid="presence"] [data-user="${user}"]`, { timeout: STUCK });
        await page.waitForSelector(`.avatar[data-player="${user}"]`, { timeout: STUCK });
      }
      assert.equal(await status(page), 'open');
    }
    assert.match(await ann.textContent('[data-testid="presence"] [data-user="ben"]'), /Ben/);
    assert.match(await ben.textContent('[data-testid="presence"] [data-user="ann"]'), /Ann/);
  });

  it("a step on node A's page appears on node B's page", async () => {
    const to = await freeNeighbour(ann, 'ann');
    assert.ok(to, 'ann has a free neighbour');
    await clickHex(ann, to);
    await ben.waitForSelector(`.avatar[data-player="ann"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
    assert.deepEqual(await avatarAt(ann, 'ann'), to);
  });

  it("a step on node B's page appears on node A's page, and both pages agree", async () => {
    const to = await freeNeighbour(ben, 'ben');
    assert.ok(to, 'ben has a free neighbour');
    await clickHex(ben, to);
    await ann.waitForSelector(`.avatar[data-player="ben"][data-q="${to.q}"][data-r="${to.r}"]`, {
      timeout: STUCK,
    });
    // With fog of war: the same avatars, and the same items where both see.
    await until('both pages to agree on what both players see', () => agree(ann, 'ann', ben, 'ben'));
    const shared = JSON.parse(await sharedDigest(ann, 'ann', ben, 'ben'));
    assert.ok(shared.avatars.includes(`ben@${to.q},${to.r}`), `${shared.avatars}`);
    assert.equal(shared.avatars.length, 2, `${shared.avatars}`);
  });
});
