// Text messages both ways over the data channel, including emoji and 10 KB of text.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPair, useServerAndBrowser } from '../lib/browser.js';

const env = useServerAndBrowser();

/** @param {import('playwright-core').Locator} card */
const received = (card) => card.getByTestId('chat-message').and(card.page().locator('[data-mine="false"]')).getByTestId('chat-text');

test('text both ways, emoji and 10 KB', { timeout: 60_000 }, async () => {
  const p = await openPair(env.browser, env.server.url);
  await p.cardAB.getByTestId('chat-input').fill('hello 👋 你好');
  await p.cardAB.getByTestId('chat-send').click();
  await received(p.cardBA).first().waitFor();
  assert.equal(await received(p.cardBA).first().textContent(), 'hello 👋 你好');

  const big = 'ferry 🚢 渡船 '.repeat(800).slice(0, 10_000);
  await p.cardBA.getByTestId('chat-input').fill(big);
  await p.cardBA.getByTestId('chat-input').press('Enter');
  await received(p.cardAB).first().waitFor();
  assert.equal(await received(p.cardAB).first().textContent(), big);
  assert.equal(await p.cardBA.getByTestId('chat-message').count(), 2, 'history keeps both messages');
  await p.close();
});
