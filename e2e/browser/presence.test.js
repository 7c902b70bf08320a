// Two tabs (separate contexts) on the same server see each other in the LAN room, and a closed
// tab disappears from the other's list.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import { openApp, selfName, peerCard, useServerAndBrowser } from '../lib/browser.js';

const env = useServerAndBrowser();

test('two tabs see each other, and a closed tab leaves the list', async () => {
  const a = await openApp(env.browser, env.server.url);
  const b = await openApp(env.browser, env.server.url);
  const nameA = await selfName(a.page);
  const nameB = await selfName(b.page);
  assert.ok(nameA && nameB && nameA !== '…', 'both tabs know their display names');

  await peerCard(a.page, nameB).waitFor();
  await peerCard(b.page, nameA).waitFor();
  assert.equal(await a.page.getByTestId('peer').count(), 1, 'a sees exactly one other peer');
  assert.equal(await b.page.getByTestId('peer').count(), 1);

  await b.context.close();
  // 20 s: the server sees the socket close at once; only a missed-heartbeat timeout (3 × 10 s)
  // would take longer, and that slow path is what this bound rules out.
  await peerCard(a.page, nameB).waitFor({ state: 'detached', timeout: 20_000 });
  assert.equal(await a.page.getByTestId('peer').count(), 0);
  assert.equal(await a.page.getByTestId('no-peers').isVisible(), true);
  await a.context.close();
});

test('a tab reconnects with the same identity after the server restarts', async () => {
  // A restart is a new process on the same port; the shared secret keeps issued tokens valid.
  const own = await startServer(['--secret', 'e2e-restart-secret']);
  const ownPort = new URL(own.url).port;
  const a = await openApp(env.browser, own.url);
  const name = await selfName(a.page);
  await own.stop();
  await a.page.getByTestId('conn-state').and(a.page.locator('[data-state="waiting"]')).waitFor();
  const again = await startServer(['--secret', 'e2e-restart-secret'], { port: ownPort });
  try {
    await a.page.getByTestId('conn-state').and(a.page.locator('[data-state="open"]')).waitFor({ timeout: 30_000 });
    assert.equal(await selfName(a.page), name, 'same token, same name after reconnect');
  } finally {
    await a.context.close();
    await again.stop();
  }
});

test('the language follows the browser and can be switched', async () => {
  const context = await env.browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(env.server.url);
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  assert.equal(await page.getByTestId('create-room').textContent(), '创建房间');
  await page.getByTestId('lang-select').selectOption('en');
  assert.equal(await page.getByTestId('create-room').textContent(), 'Create room');
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
  await context.close();
});
