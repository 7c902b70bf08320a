// The call's quality from RTCPeerConnection.getStats(): what the peer's video looks like here
// (resolution, frame rate, bitrate), what we send, the audio, and the candidate pair's path.
// Rates are differences between two reports, so the first report gives sizes but no rates.

/**
 * @typedef {{width: number, height: number, fps: number, kbps: number, frames: number}} VideoQuality
 * @typedef {{inVideo: VideoQuality | null, outVideo: VideoQuality | null,
 *   audio: {packetsReceived: number, level: number, kbps: number} | null,
 *   path: string, rttMs: number | null}} CallQuality
 * @typedef {{at: number, bytes: Record<string, number>}} StatsSnapshot
 */

/**
 * @param {RTCStatsReport} report
 * @param {StatsSnapshot | null} prev the snapshot returned with the previous report
 * @param {number} now ms
 * @returns {{quality: CallQuality, snapshot: StatsSnapshot}}
 */
export function summarizeStats(report, prev, now) {
  /** @type {Record<string, number>} */
  const bytes = {};
  const secs = prev ? (now - prev.at) / 1000 : 0;
  /** @param {string} id @param {number} b */
  const kbps = (id, b) => {
    bytes[id] = b;
    const before = prev?.bytes[id];
    return before !== undefined && secs > 0 ? Math.max(0, Math.round(((b - before) * 8) / secs / 1000)) : 0;
  };
  /** @type {CallQuality} */
  const q = { inVideo: null, outVideo: null, audio: null, path: '', rttMs: null };
  /** @type {any} */
  let pair = null;
  report.forEach((/** @type {any} */ s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      const v = { width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: Math.round(s.framesPerSecond ?? 0), kbps: kbps(s.id, s.bytesReceived ?? 0), frames: s.framesDecoded ?? 0 };
      // After a renegotiation there may be stopped receivers too: show the one with frames.
      if (!q.inVideo || v.frames > q.inVideo.frames) q.inVideo = v;
    } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
      const v = { width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, fps: Math.round(s.framesPerSecond ?? 0), kbps: kbps(s.id, s.bytesSent ?? 0), frames: s.framesEncoded ?? 0 };
      if (!q.outVideo || v.frames > q.outVideo.frames) q.outVideo = v;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      const a = { packetsReceived: s.packetsReceived ?? 0, level: s.audioLevel ?? 0, kbps: kbps(s.id, s.bytesReceived ?? 0) };
      if (!q.audio || a.packetsReceived > q.audio.packetsReceived) q.audio = a;
    } else if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = report.get(s.selectedCandidatePairId);
    }
  });
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    const types = [local?.candidateType, remote?.candidateType];
    q.path = types.includes('relay') ? 'relay' : types.includes('srflx') || types.includes('prflx') ? 'srflx' : 'host';
    if (typeof pair.currentRoundTripTime === 'number') q.rttMs = Math.round(pair.currentRoundTripTime * 1000);
  }
  return { quality: q, snapshot: { at: now, bytes } };
}
