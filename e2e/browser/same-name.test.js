// Display names come from a hash of the peer id (crates/ferry-server/src/display_name.rs), so
// two peers in one list can share a name. The list then shows the start of each one's id beside
// it (`peer-name-tag`), and only while the name is shared. Two such peers cannot be made on
// purpose, so the real list module runs in the real page on peers given to it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, peerCard, selfName, useServerAndBrowser } from '../lib/browser.js';

const env = useServerAndBrowser();

test('two listed peers with the same name are told apart by the start of their ids', { timeout: 60_000 }, async () => {
  const { context, page } = await openApp(env.browser, env.server.url);
  try {
    const tags = await page.evaluate(async () => {
      const { PeerListView, simplePeerCard } = await import('/app/js/ui/peer-list-view.js');
      const list = document.createElement('ul');
      const view = new PeerListView(list, document.createElement('p'), simplePeerCard);
      const peer = (/** @type {string} */ id, /** @type {string} */ name) => ({ info: { id, name, client: 'browser' }, rooms: [] });
      const read = () =>
        Object.fromEntries(
          [...list.querySelectorAll('[data-testid="peer"]')].map((el) => {
            const tag = /** @type {HTMLElement} */ (el.querySelector('[data-testid="peer-name-tag"]'));
            return [/** @type {HTMLElement} */ (el).dataset.peerId, tag.hidden ? '' : tag.textContent];
          }),
        );
      view.render([peer('8d9d0fc798027206', 'Dusky Raven'), peer('994362b084e089b4', 'Dusky Raven'), peer('0123456789abcdef', 'Swift Otter')]);
      const shared = read();
      // One of the two leaves: the name is no longer shared, so the tag goes.
      view.render([peer('8d9d0fc798027206', 'Dusky Raven'), peer('0123456789abcdef', 'Swift Otter')]);
      return { shared, alone: read() };
    });
    assert.deepEqual(tags.shared, { '8d9d0fc798027206': '#8d9d', '994362b084e089b4': '#9943', '0123456789abcdef': '' });
    assert.deepEqual(tags.alone, { '8d9d0fc798027206': '', '0123456789abcdef': '' });
    // The app's own cards carry the tag, hidden while no name is shared (two random names
    // collide once in ~18,000).
    const other = await openApp(env.browser, env.server.url);
    try {
      const card = peerCard(page, await selfName(other.page));
      await card.waitFor();
      assert.equal(await card.getByTestId('peer-name-tag').count(), 1);
      assert.equal(await card.getByTestId('peer-name-tag').isHidden(), true);
    } finally {
      await other.context.close();
    }
  } finally {
    await context.close();
  }
});
