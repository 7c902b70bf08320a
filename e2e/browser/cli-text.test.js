// Text messages between the native peer and the web app in real Chromium: `ferry send --text`
// shows up in the browser's chat with that peer; a chat message from the browser is printed by
// `ferry receive` (a `text` JSON line), which then still receives the files that follow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { runFerry } from '../lib/cli.js';
import { openApp, peerCard, useServerAndBrowser } from '../lib/browser.js';
import { makeFiles, tempDir } from '../lib/transfer.js';

const env = useServerAndBrowser();

/** @param {string[]} args */
const ferry = (args) => runFerry(args, env.server.url);

test('ferry send --text → the browser shows the message', { timeout: 120_000 }, async () => {
  const message = 'from the terminal 👋 终端';
  const sender = ferry(['send', '--yes', '--text', message]);
  const room = await sender.event('room');
  const welcome = await sender.event('welcome');
  const b = await openApp(env.browser, room.link);
  const card = peerCard(b.page, welcome.name);
  const got = card.getByTestId('chat-message').and(b.page.locator('[data-mine="false"]')).getByTestId('chat-text');
  await got.first().waitFor({ timeout: 60_000 });
  assert.equal(await got.first().textContent(), message);
  assert.equal(await sender.exit(), 0, sender.stderr());
  await b.context.close();
});

test('a browser chat message → ferry receive prints it, then gets the files', { timeout: 120_000 }, async () => {
  const a = await openApp(env.browser, env.server.url);
  await a.page.getByTestId('create-room').click();
  const code = (await a.page.getByTestId('room-code').textContent())?.trim() ?? '';
  const out = tempDir('ferry-e2e-cli-text-');
  const receiver = ferry(['receive', code, '--out', out, '--yes']);
  const welcome = await receiver.event('welcome');
  const card = peerCard(a.page, welcome.name);
  await card.waitFor({ timeout: 30_000 });
  await card.getByTestId('chat-input').fill('hello CLI 🚢');
  await card.getByTestId('chat-send').click();
  const text = await receiver.event('text');
  assert.equal(text.text, 'hello CLI 🚢');
  const files = makeFiles({ 'after-text.bin': 1000 });
  await card.getByTestId('peer-send-files').setInputFiles(files.paths);
  assert.equal(await receiver.exit(), 0, receiver.stderr());
  assert.deepEqual(readdirSync(out), ['after-text.bin']);
  await a.context.close();
});
