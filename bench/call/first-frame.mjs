#!/usr/bin/env node
// Time from the caller's "Call" click to the first remote video frame, two Chromium tabs on a
// real `ferry serve` on loopback, Chromium's fake camera and microphone.
//
//   cargo build -p ferry && (cd e2e && npm ci) && node bench/call/first-frame.mjs [rounds]
//
// Each round is a fresh pair of tabs with no peer connection yet, so the click also connects
// (signaling, ICE, DTLS, the ferry/1 channel, hello) before the invite goes. The callee answers
// as soon as its prompt shows (a robot, not a human: the answer's delay is not measured). Times
// are the pages' own clocks (Date.now(), one machine):
//   prompt   click → the callee's incoming-call prompt is shown
//   callee   the callee's answer click → its first frame of the caller's video
//   caller   click → the caller's first frame of the callee's video (the whole round trip)
// A frame is "first" when requestVideoFrameCallback fires on the remote <video>. Medians printed.

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const e2e = path.resolve(here, '..', '..', 'e2e');
const require = createRequire(path.join(e2e, 'package.json'));
require.resolve('playwright-core'); // fail early with a clear message if e2e deps are missing
const { startServer } = await import(path.join(e2e, 'lib', 'server.js'));
const { launchBrowser, openPair } = await import(path.join(e2e, 'lib', 'browser.js'));
const { FAKE_MEDIA_ARGS } = await import(path.join(e2e, 'lib', 'call.js'));

const ROUNDS = Number(process.argv[2] ?? 5);

/** In the page: resolves with Date.now() at the first frame shown by the card's remote video. */
const firstFrameAt = (/** @type {Element} */ card) =>
  new Promise((resolve) => {
    const v = /** @type {HTMLVideoElement} */ (card.querySelector('[data-testid="call-remote-video"]'));
    v.requestVideoFrameCallback(() => resolve(Date.now()));
  });

const server = await startServer();
const browser = await launchBrowser(FAKE_MEDIA_ARGS);
/** @type {{prompt: number, callee: number, caller: number}[]} */
const rounds = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    const p = await openPair(browser, server.url);
    const aFrame = p.cardAB.evaluate(firstFrameAt);
    const bFrame = p.cardBA.evaluate(firstFrameAt);
    const clickAt = await p.a.page.evaluate(() => Date.now());
    await p.cardAB.getByTestId('call-start').click();
    await p.cardBA.getByTestId('call-incoming').waitFor({ timeout: 60_000 });
    const promptAt = await p.b.page.evaluate(() => Date.now());
    const answerAt = promptAt; // the answer click follows at once
    await p.cardBA.getByTestId('call-accept').click();
    const [a, b] = await Promise.all([aFrame, bFrame]);
    rounds.push({ prompt: promptAt - clickAt, callee: /** @type {number} */ (b) - answerAt, caller: /** @type {number} */ (a) - clickAt });
    console.log(`round ${i + 1}: prompt ${promptAt - clickAt} ms, callee first frame ${/** @type {number} */ (b) - answerAt} ms after answering, caller first frame ${/** @type {number} */ (a) - clickAt} ms after clicking`);
    await p.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
const median = (/** @type {number[]} */ xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
console.log(
  `median of ${ROUNDS}: prompt ${median(rounds.map((r) => r.prompt))} ms, callee ${median(rounds.map((r) => r.callee))} ms, caller ${median(rounds.map((r) => r.caller))} ms`,
);
