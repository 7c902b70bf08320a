// Code rooms from the page: create one (code, link, QR code), join it by link and by typed code.
// All tabs here share the loopback LAN room too, so a peer in both rooms must be listed once.
// (Peers on different networks meeting only through a code room is covered by the Rust hub tests
// with trusted-proxy addresses.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openApp, selfName, peerCard, useServerAndBrowser } from '../lib/browser.js';

const env = useServerAndBrowser();

test('create a room, join it by link and by typed code', async () => {
  const a = await openApp(env.browser, env.server.url);
  await a.page.getByTestId('create-room').click();
  const code = (await a.page.getByTestId('room-code').textContent())?.trim() ?? '';
  assert.match(code, /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/);
  const link = await a.page.getByTestId('room-link').getAttribute('href');
  assert.equal(link, `${env.server.url}/?room=${code}`);
  assert.equal(await a.page.getByTestId('room-qr').locator('svg').count(), 1, 'a QR code is drawn');
  assert.equal(await a.page.getByTestId('room-members').getAttribute('data-count'), '0');

  const b = await openApp(env.browser, link ?? '');
  await b.page.getByTestId('room').and(b.page.locator(`[data-room="${code}"]`)).waitFor();

  const c = await openApp(env.browser, env.server.url);
  await c.page.getByTestId('join-code-input').fill(`${code.slice(0, 3).toLowerCase()}-${code.slice(3)}`);
  await c.page.getByTestId('join-code-submit').click();
  await c.page.getByTestId('room').and(c.page.locator(`[data-room="${code}"]`)).waitFor();

  const nameB = await selfName(b.page);
  const nameC = await selfName(c.page);
  await peerCard(a.page, nameB).waitFor();
  await peerCard(a.page, nameC).waitFor();
  // The room's owner sees who joined by the code.
  const members = a.page.getByTestId('room-members');
  await a.page.locator('[data-testid="room-members"][data-count="2"]').waitFor();
  const text = await members.innerText();
  assert.ok(text.includes(nameB) && text.includes(nameC), text);
  // b and c share the LAN room and the code room with a: still one card each.
  await a.page.waitForFunction(() => document.querySelectorAll('[data-testid="peer"]').length === 2);
  assert.equal(await peerCard(a.page, nameB).count(), 1);

  await c.page.getByTestId('room-leave').click();
  await c.page.getByTestId('room').waitFor({ state: 'detached' });
  for (const x of [a, b, c]) await x.context.close();
});

test('an unknown code shows an error', async () => {
  const a = await openApp(env.browser, env.server.url);
  await a.page.getByTestId('join-code-input').fill('ZZZZZZ');
  await a.page.getByTestId('join-code-submit').click();
  await a.page.getByTestId('room-error').waitFor({ state: 'visible' });
  assert.match((await a.page.getByTestId('room-error').textContent()) ?? '', /no room/i);
  assert.equal(await a.page.getByTestId('room').count(), 0);
  await a.context.close();
});
