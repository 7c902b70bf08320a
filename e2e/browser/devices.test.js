// Devices people recognise: each page tells the server what it is (phone, tablet, desktop, from
// UA client hints or the user agent) and every other page draws that as an icon with a spoken
// label; a CLI peer is drawn as a terminal. Renaming this device changes the name on every other
// page, and the name survives a reload (localStorage, sent again after each welcome).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, openApp, peerCard, selfName } from '../lib/browser.js';
import { runFerry } from '../lib/cli.js';

const env = useServerAndBrowser();

const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const IPAD_UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';

/**
 * A page in a context that looks like another device.
 * @param {import('playwright-core').BrowserContextOptions} opts @param {number} [touchPoints] what `navigator.maxTouchPoints` says
 */
async function openAs(opts, touchPoints) {
  const context = await env.browser.newContext({ locale: 'en-US', ...opts });
  const page = await context.newPage();
  if (touchPoints) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Emulation.setTouchEmulationEnabled', { enabled: true, maxTouchPoints: touchPoints });
  }
  await page.goto(env.server.url);
  await page.getByTestId('conn-state').and(page.locator('[data-state="open"]')).waitFor();
  return { context, page, name: await selfName(page) };
}

test('each page shows the others as phone, tablet, computer or command line', { timeout: 120_000 }, async () => {
  const desk = await openApp(env.browser, env.server.url);
  const phone = await openAs({ userAgent: IPHONE_UA, hasTouch: true, viewport: { width: 390, height: 844 } });
  // iPadOS says "Macintosh"; its touch points give it away.
  const tablet = await openAs({ userAgent: IPAD_UA, hasTouch: true, viewport: { width: 820, height: 1180 } }, 5);
  try {
    const deskName = await selfName(desk.page);
    for (const [name, kind, label] of [[phone.name, 'phone', '(phone)'], [tablet.name, 'tablet', '(tablet)']]) {
      const card = peerCard(desk.page, name);
      await card.waitFor();
      assert.equal(await card.getByTestId('peer-icon').getAttribute('data-device'), kind, `${name} is drawn as a ${kind}`);
      assert.equal(await card.getByTestId('peer-device').textContent(), label, 'and said so to a screen reader');
      assert.ok(await card.getByTestId('peer-icon').locator('svg').isVisible());
    }
    const onPhone = peerCard(phone.page, deskName);
    await onPhone.waitFor();
    assert.equal(await onPhone.getByTestId('peer-icon').getAttribute('data-device'), 'desktop');
    assert.equal(await onPhone.getByTestId('peer-device').textContent(), '(computer)');

    // A CLI in a room with the desktop page.
    await desk.page.getByTestId('create-room').click();
    const code = ((await desk.page.getByTestId('room-code').textContent()) ?? '').trim();
    const receiver = runFerry(['receive', '--yes', code], env.server.url);
    const welcome = await receiver.event('welcome');
    const cliCard = peerCard(desk.page, welcome.name);
    await cliCard.waitFor({ timeout: 30_000 });
    assert.equal(await cliCard.getByTestId('peer-icon').getAttribute('data-device'), 'cli');
    assert.equal(await cliCard.getByTestId('peer-device').textContent(), '(command line)');
    receiver.proc.kill();
    await receiver.exit();
  } finally {
    for (const c of [desk.context, phone.context, tablet.context]) await c.close();
  }
});

test('a renamed device is renamed everywhere and keeps its name over a reload', { timeout: 120_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  const b = await openApp(env.browser, env.server.url);
  try {
    const oldName = await selfName(a.page);
    await peerCard(b.page, oldName).waitFor();
    await a.page.getByTestId('rename').click();
    const input = a.page.getByTestId('name-input');
    assert.equal(await input.inputValue(), oldName, 'the form starts from the current name');
    assert.equal(await a.page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'name-input', 'focus moves into the form');
    await input.fill('  Kitchen   laptop ');
    await input.press('Enter');
    await a.page.getByTestId('self-name').getByText('Kitchen laptop', { exact: true }).waitFor();
    await peerCard(b.page, 'Kitchen laptop').waitFor();
    assert.equal(await peerCard(b.page, oldName).count(), 0);

    await a.page.reload();
    await a.page.getByTestId('self-name').getByText('Kitchen laptop', { exact: true }).waitFor();
    await peerCard(b.page, 'Kitchen laptop').waitFor();

    // Escape leaves the name as it was.
    await a.page.getByTestId('rename').click();
    await a.page.getByTestId('name-input').fill('Something else');
    await a.page.getByTestId('name-input').press('Escape');
    assert.equal(await a.page.getByTestId('rename-form').isVisible(), false);
    assert.equal(await selfName(a.page), 'Kitchen laptop');
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
