// A crowded network (more devices behind one address than a LAN room shows) is split into rooms
// of bounded size; a page in it says so and suggests pairing by code.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import { launchBrowser, openApp } from '../lib/browser.js';

/** @type {{url: string, stop: () => Promise<void>}} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
before(async () => {
  server = await startServer(['--lan-room-size', '2']);
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('a page beyond the LAN room size sees a bounded room and the pair-by-code hint', async () => {
  const a = await openApp(browser, server.url);
  const b = await openApp(browser, server.url);
  await a.page.getByTestId('peer').first().waitFor();
  assert.equal(await a.page.getByTestId('crowded-hint').isVisible(), false);
  assert.equal(await b.page.getByTestId('crowded-hint').isVisible(), false);

  const c = await openApp(browser, server.url);
  await c.page.getByTestId('crowded-hint').waitFor();
  assert.match(await c.page.getByTestId('crowded-hint').innerText(), /room/i);
  // The third device is in a room of its own; the first two still see only each other.
  assert.equal(await c.page.getByTestId('peer').count(), 0);
  assert.equal(await a.page.getByTestId('peer').count(), 1);
  for (const p of [a, b, c]) await p.context.close();
});
