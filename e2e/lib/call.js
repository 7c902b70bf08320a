// Helpers for call tests: Chromium's fake camera (640×480), microphone (a beep) and screen
// (1280×720) are real media pipelines, so what the other side decodes shows in getStats().

import { peerCard } from './browser.js';

/** The flags that give Chromium fake devices, no permission prompts and a screen to capture. */
export const FAKE_MEDIA_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--auto-select-desktop-capture-source=Entire screen',
];

/**
 * The RTP stats of the page's connection to `peerName` (needs `?test=1`, which exposes the links).
 * @param {import('playwright-core').Page} page @param {string} peerName
 * @returns {Promise<{inVideo: any, inAudio: any, outbound: any[]}>}
 */
export async function rtpStats(page, peerName) {
  const peerId = await peerCard(page, peerName).getAttribute('data-peer-id');
  return page.evaluate(async (id) => {
    const link = /** @type {any} */ (window).__ferryTest.links.get(id);
    /** @type {any[]} */
    const all = [];
    if (link?.pc) (await link.pc.getStats()).forEach((/** @type {any} */ s) => all.push(s));
    // After a renegotiation there may be stopped receivers too: take the busiest one.
    const best = (/** @type {string} */ kind, /** @type {string} */ key) =>
      all.filter((s) => s.type === 'inbound-rtp' && s.kind === kind).sort((x, y) => (y[key] ?? 0) - (x[key] ?? 0))[0] ?? null;
    return {
      inVideo: best('video', 'framesDecoded'),
      inAudio: best('audio', 'packetsReceived'),
      outbound: all.filter((s) => s.type === 'outbound-rtp').map((s) => ({ kind: s.kind, packetsSent: s.packetsSent, frameWidth: s.frameWidth })),
    };
  }, peerId);
}

/**
 * Polls `read` until `ok(value)` holds (every 250 ms, at most `timeoutMs`: a bound that only
 * catches hangs), and returns the value.
 * @template T
 * @param {() => Promise<T>} read @param {(v: T) => boolean} ok @param {string} what
 * @param {number} [timeoutMs]
 */
export async function pollUntil(read, ok, what, timeoutMs = 60_000) {
  const t0 = Date.now();
  let v = await read();
  while (!ok(v)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 250));
    v = await read();
  }
  return v;
}

/**
 * Waits until the peer's video decodes new frames: framesDecoded grows past what it was.
 * @param {import('playwright-core').Page} page @param {string} peerName
 */
export async function framesGrowing(page, peerName) {
  const first = await pollUntil(() => rtpStats(page, peerName), (s) => (s.inVideo?.framesDecoded ?? 0) > 0, `${peerName}'s video frames`);
  return pollUntil(() => rtpStats(page, peerName), (s) => s.inVideo.framesDecoded > first.inVideo.framesDecoded + 10, `${peerName}'s frames to keep coming`);
}

/**
 * True when no video frame was decoded over a second and a half (camera off): polled, because
 * frames in flight when the camera went off still arrive for a moment.
 * @param {import('playwright-core').Page} page @param {string} peerName
 */
export async function framesStopped(page, peerName) {
  return pollUntil(
    async () => {
      const a = (await rtpStats(page, peerName)).inVideo?.framesDecoded ?? 0;
      await page.waitForTimeout(1500);
      const b = (await rtpStats(page, peerName)).inVideo?.framesDecoded ?? 0;
      return b - a;
    },
    (d) => d === 0,
    `${peerName}'s frames to stop`,
  );
}

/**
 * Audio energy received from the peer over 1.5 s (totalAudioEnergy grows with what is heard;
 * the fake microphone beeps, so a window of that length always holds sound when unmuted).
 * @param {import('playwright-core').Page} page @param {string} peerName
 */
export async function audioEnergy(page, peerName) {
  const a = (await rtpStats(page, peerName)).inAudio?.totalAudioEnergy ?? 0;
  await page.waitForTimeout(1500);
  const b = (await rtpStats(page, peerName)).inAudio?.totalAudioEnergy ?? 0;
  return b - a;
}

/**
 * Every audio/video track of the page's call, local and remote, kept on `window.__callTracks`
 * so that their state can be read after the call ended.
 * @param {import('playwright-core').Page} page @param {string} peerName
 */
export async function keepCallTracks(page, peerName) {
  const peerId = await peerCard(page, peerName).getAttribute('data-peer-id');
  return page.evaluate((id) => {
    const pc = /** @type {any} */ (window).__ferryTest.links.get(id).pc;
    const tracks = [...pc.getSenders().map((/** @type {any} */ s) => s.track), ...pc.getReceivers().map((/** @type {any} */ r) => r.track)].filter(
      (t) => t && (t.kind === 'audio' || t.kind === 'video') && t.readyState === 'live',
    );
    /** @type {any} */ (window).__callTracks = tracks;
    return tracks.map((t) => t.kind);
  }, peerId);
}

/** @param {import('playwright-core').Page} page @returns {Promise<string[]>} */
export function keptTrackStates(page) {
  return page.evaluate(() => /** @type {any} */ (window).__callTracks.map((/** @type {MediaStreamTrack} */ t) => t.readyState));
}
