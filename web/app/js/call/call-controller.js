// One audio/video call (or screen share) with one peer, on the PeerLink's own RTCPeerConnection:
// the call-* control messages go over the `ferry/1` channel (docs/protocol.md §2 "Calls"), the
// media as tracks added to the same connection, renegotiated by PeerLink's perfect negotiation.
//
// The consent rule: nothing from a camera or microphone leaves this device before the callee
// accepts. The caller opens its devices for the local preview while it rings but adds no track
// until `call-accept` arrives; the callee opens its devices only after the user accepted.
//
// Ending (hang up, the peer's call-end, the peer or the connection gone) stops every local track
// (the camera light goes off) and stops every media transceiver, so the remote tracks end too.
//
// Events: `change` (state, media flags or streams changed), `ended` (detail: {reason, by}).

import { CALL_DECLINE_UNSUPPORTED } from '../protocol/constants.js';
import { summarizeStats } from './call-stats.js';

/** How long an invite rings before the caller gives up. */
const RING_TIMEOUT_MS = 45_000;
/** How long to wait for the peer's hello (which says whether it takes calls) after connecting. */
const HELLO_WAIT_MS = 16_000;
/** How often the quality panel is refreshed from getStats(). */
const STATS_EVERY_MS = 1000;

/**
 * @typedef {import('../rtc/peer-link.js').PeerLink} PeerLink
 * @typedef {import('../transfer/engine.js').TransferSession} TransferSession
 * @typedef {import('../protocol/control.js').CallMessage} CallMessage
 * @typedef {'idle' | 'outgoing' | 'incoming' | 'active'} CallState
 * @typedef {{audio: boolean, video: boolean, screen: boolean}} CallKinds
 * @typedef {{muted: boolean, cameraOff: boolean, screen: boolean}} MediaFlags
 * @typedef {import('./call-stats.js').CallQuality} CallQuality
 */

/**
 * A call id no other page picks: when both sides call at once, the id that sorts lower decides
 * which call runs, so two equal ids (the same millisecond and counter on two pages, seen in 1 of
 * 3 test runs) left both sides accepting and neither call running. 64 random bits make that
 * practically impossible; `getRandomValues` works on plain-HTTP LAN origins too.
 */
function newCallId() {
  const r = new Uint32Array(2);
  crypto.getRandomValues(r);
  return `c-${Date.now()}-${r[0].toString(16).padStart(8, '0')}${r[1].toString(16).padStart(8, '0')}`;
}

export class CallError extends Error {
  /** @param {string} code i18n key of the message @param {string} [detail] */
  constructor(code, detail = '') {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
    this.detail = detail;
  }
}

export class CallController extends EventTarget {
  /**
   * @param {PeerLink} link
   * @param {{connect: () => Promise<TransferSession>, media?: MediaDevices}} deps
   */
  constructor(link, deps) {
    super();
    this.link = link;
    this.connect = deps.connect;
    this.media = deps.media ?? navigator.mediaDevices;
    /** @type {CallState} */
    this.state = 'idle';
    this.callId = '';
    /** @type {'caller' | 'callee' | ''} */
    this.role = '';
    /** What the invite asked for. @type {CallKinds} */
    this.kinds = { audio: false, video: false, screen: false };
    /** @type {MediaStreamTrack | null} */
    this.micTrack = null;
    /** @type {MediaStreamTrack | null} */
    this.cameraTrack = null;
    /** @type {MediaStreamTrack | null} */
    this.screenTrack = null;
    /** Senders we added for this call (the tracks on them change: camera, screen, null). */
    /** @type {RTCRtpSender | null} */
    this.audioSender = null;
    /** @type {RTCRtpSender | null} */
    this.videoSender = null;
    /** Our tracks are on the connection (after the callee's accept). */
    this.sending = false;
    /** As the callee: the caller's media sections have arrived (see startSending). */
    this.callerMediaSeen = false;
    /** Our devices are open (or failed to open): tracks can go on the connection once agreed. */
    this.devicesReady = false;
    this.muted = false;
    this.cameraOff = false;
    /** What the peer says it sends. @type {MediaFlags} */
    this.remoteFlags = { muted: false, cameraOff: false, screen: false };
    this.remoteStream = new MediaStream();
    /** @type {CallQuality | null} */
    this.quality = null;
    /** @type {any} */
    this.prevStats = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.ringTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.statsTimer = undefined;
    /** @type {TransferSession | null} */
    this.session = null;
    this.error = '';
    /** The devices the user chose ('' = the browser's default). */
    this.cameraDeviceId = '';
    this.micDeviceId = '';
    /** Serializes media changes (clicks may come faster than getUserMedia answers). */
    this.chain = Promise.resolve();

    link.addEventListener('session', (e) => this.attach(/** @type {CustomEvent} */ (e).detail));
    if (link.session) this.attach(link.session);
    link.addEventListener('track', (e) => this.onTrack(/** @type {CustomEvent<RTCTrackEvent>} */ (e).detail));
    link.addEventListener('state', (e) => {
      const { state } = /** @type {CustomEvent} */ (e).detail;
      if (state === 'closed' || state === 'failed') this.finish('connection-lost', 'link');
    });
  }

  /** @param {TransferSession} session */
  attach(session) {
    if (this.session === session) return;
    this.session = session;
    session.addEventListener('call', (e) => this.onMessage(/** @type {CustomEvent<CallMessage>} */ (e).detail));
    session.addEventListener('hello', () => this.changed());
    session.addEventListener('closed', () => {
      if (this.session !== session) return;
      this.session = null;
      this.finish('connection-lost', 'link');
    });
    this.changed();
  }

  /** Whether a call can be offered to this peer as far as we know now. @param {string} client */
  canCall(client) {
    if (this.link.path === 'websocket') return false;
    const s = this.session;
    // Before the hello we only have the signaling's word: CLI peers never take calls.
    if (!s || !s.peerHeard || s.helloImplied) return client !== 'cli';
    return s.peerTakesCalls();
  }

  /** Our local preview: the track that is (or will be) on the video sender. */
  localVideoTrack() {
    return this.screenTrack ?? this.cameraTrack;
  }

  /**
   * Calls the peer. Opens the devices for the preview; nothing is sent before the peer accepts.
   * @param {CallKinds} kinds
   */
  async start(kinds) {
    if (this.state !== 'idle') throw new CallError('callBusy');
    this.error = '';
    this.callId = newCallId();
    this.role = 'caller';
    this.kinds = { ...kinds };
    this.state = 'outgoing';
    this.changed();
    // Devices first, while the click's user activation is fresh (getDisplayMedia needs it).
    try {
      await this.openDevices(kinds);
    } catch (e) {
      this.finish('no-media', 'me');
      throw new CallError('callNoMedia', /** @type {Error} */ (e).message);
    }
    // The peer's crossing invite may have been taken while the devices opened (both called).
    if (this.state === /** @type {CallState} */ ('active')) return this.startSending();
    let session;
    try {
      session = await this.connect();
      await this.helloOf(session);
      if (!session.peerTakesCalls()) throw new CallError('callUnsupported');
      if (!this.link.pc || this.link.path === 'websocket') throw new CallError('callNeedsWebrtc');
    } catch (e) {
      this.stopLocalTracks();
      this.silentFinish();
      throw e;
    }
    // Test hook (pages opened with ?test=1 only): a test holds the invites of two pages to make
    // them cross for certain.
    const gate = /** @type {any} */ (globalThis).__ferryTest?.callInviteGate;
    if (gate) await gate;
    if (this.state !== /** @type {CallState} */ ('outgoing')) return;
    session.sendCall({ type: 'call-invite', callId: this.callId, audio: kinds.audio, video: kinds.video, ...(kinds.screen ? { screen: true } : {}) });
    this.ringTimer = setTimeout(() => {
      if (this.state !== 'outgoing') return;
      this.send({ type: 'call-end', callId: this.callId, reason: 'no answer' });
      this.finish('no-answer', 'me');
    }, RING_TIMEOUT_MS);
  }

  /** Back to idle without an `ended` event: the call never reached the peer. */
  silentFinish() {
    this.state = 'idle';
    this.role = '';
    this.changed();
  }

  /** The user takes the incoming call: say so, then open the devices and send. */
  async accept() {
    if (this.state !== 'incoming') return;
    this.state = 'active';
    this.send({ type: 'call-accept', callId: this.callId });
    this.changed();
    try {
      await this.openDevices({ audio: this.kinds.audio, video: this.kinds.video, screen: false });
    } catch (e) {
      // No camera or microphone here (or refused): stay in the call, receiving only.
      this.error = /** @type {Error} */ (e).message;
      this.muted = true;
      this.cameraOff = true;
    }
    this.devicesReady = true;
    if (this.state !== 'active') return;
    this.startSending();
  }

  /** @param {string} [reason] */
  decline(reason = 'declined') {
    if (this.state !== 'incoming') return;
    this.send({ type: 'call-decline', callId: this.callId, reason });
    this.finish('declined', 'me');
  }

  hangUp() {
    if (this.isIdle()) return;
    this.send({ type: 'call-end', callId: this.callId, reason: 'hung up' });
    this.finish('hung-up', 'me');
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    // A disabled audio track sends silence: the peer's audio level drops to 0.
    if (this.micTrack) this.micTrack.enabled = !muted;
    this.sendFlags();
    this.changed();
  }

  /** @param {boolean} off */
  setCameraOff(off) {
    return this.serially(async () => {
      if (off === this.cameraOff) return;
      this.cameraOff = off;
      if (off) {
        // No frames at all (a disabled track would still send black ones), and the camera's
        // light goes off.
        this.cameraTrack?.stop();
        this.cameraTrack = null;
        if (!this.screenTrack) await this.putVideo(null);
      } else {
        this.cameraTrack = await this.openCamera(this.cameraDeviceId);
        if (this.isIdle()) {
          this.cameraTrack.stop();
          this.cameraTrack = null;
          return;
        }
        if (!this.screenTrack) await this.putVideo(this.cameraTrack);
      }
      this.sendFlags();
      this.changed();
    });
  }

  /** Shares a screen (or window) on the video sender, in place of the camera. */
  shareScreen() {
    return this.serially(async () => {
      if (this.screenTrack || this.isIdle()) return;
      const stream = await this.media.getDisplayMedia({ video: true, audio: false });
      const track = stream.getVideoTracks()[0];
      if (this.isIdle()) {
        track.stop();
        return;
      }
      this.screenTrack = track;
      // The browser's own "stop sharing" ends the track: go back to the camera.
      track.addEventListener('ended', () => void this.stopScreen());
      await this.putVideo(track);
      this.sendFlags();
      this.changed();
    });
  }

  stopScreen() {
    return this.serially(async () => {
      const track = this.screenTrack;
      if (!track) return;
      this.screenTrack = null;
      track.stop();
      if (this.state !== 'idle') await this.putVideo(this.cameraOff ? null : this.cameraTrack);
      this.sendFlags();
      this.changed();
    });
  }

  /** Cameras and microphones to choose from (labels once a device was opened). */
  async devices() {
    const all = await this.media.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === 'videoinput'),
      mics: all.filter((d) => d.kind === 'audioinput'),
    };
  }

  /** @param {string} deviceId */
  chooseCamera(deviceId) {
    return this.serially(async () => {
      this.cameraDeviceId = deviceId;
      if (this.cameraOff || this.isIdle()) return;
      const track = await this.openCamera(deviceId);
      const old = this.cameraTrack;
      this.cameraTrack = track;
      if (!this.screenTrack) await this.putVideo(track);
      old?.stop();
      this.changed();
    });
  }

  /** @param {string} deviceId */
  chooseMic(deviceId) {
    return this.serially(async () => {
      this.micDeviceId = deviceId;
      if (this.isIdle() || !this.micTrack) return;
      const stream = await this.media.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
      const track = stream.getAudioTracks()[0];
      track.enabled = !this.muted;
      const old = this.micTrack;
      this.micTrack = track;
      if (this.audioSender) await this.audioSender.replaceTrack(track);
      old.stop();
      this.changed();
    });
  }

  // ---- internals -------------------------------------------------------------------------

  /** @param {() => Promise<void>} fn */
  serially(fn) {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => {});
    return run;
  }

  /** @param {TransferSession} session */
  helloOf(session) {
    if (session.peerHeard && !session.helloImplied) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        session.removeEventListener('hello', done);
        resolve(undefined);
      };
      const timer = setTimeout(done, HELLO_WAIT_MS);
      session.addEventListener('hello', done);
    });
  }

  /** @param {string} [deviceId] */
  async openCamera(deviceId) {
    const stream = await this.media.getUserMedia({ video: deviceId ? { deviceId: { exact: deviceId } } : true });
    return stream.getVideoTracks()[0];
  }

  /** Local devices for the call, not yet on the connection. @param {CallKinds} kinds */
  async openDevices(kinds) {
    if (kinds.audio || kinds.video) {
      const stream = await this.media.getUserMedia({
        audio: kinds.audio ? (this.micDeviceId ? { deviceId: { exact: this.micDeviceId } } : true) : false,
        video: kinds.video ? (this.cameraDeviceId ? { deviceId: { exact: this.cameraDeviceId } } : true) : false,
      });
      this.micTrack = stream.getAudioTracks()[0] ?? null;
      this.cameraTrack = stream.getVideoTracks()[0] ?? null;
    }
    if (kinds.screen) {
      const stream = await this.media.getDisplayMedia({ video: true, audio: false });
      this.screenTrack = stream.getVideoTracks()[0];
      this.screenTrack.addEventListener('ended', () => void this.stopScreen());
    }
    // The call may have ended while the devices opened.
    if (this.isIdle()) this.stopLocalTracks();
    else this.devicesReady = true;
    this.changed();
  }

  /** Both sides consented: our tracks go on the connection (PeerLink renegotiates). */
  startSending() {
    const pc = this.link.pc;
    // Devices still opening (a crossing invite taken early): start() sends once they are.
    if (!pc || this.sending || !this.devicesReady) return;
    // The callee answers on the caller's media sections instead of offering sections of its
    // own: when both offered new audio and video sections at once (glare), Chromium refused
    // Firefox's offer ("RTP extension ID reassignment not supported") and the call stayed
    // silent. Added after the caller's offer, addTrack reuses the transceivers it created.
    if (this.role === 'callee' && !this.callerMediaSeen) return;
    this.sending = true;
    const stream = new MediaStream();
    if (this.micTrack) {
      this.micTrack.enabled = !this.muted;
      this.audioSender = pc.addTrack(this.micTrack, stream);
    }
    const video = this.localVideoTrack();
    if (video) this.videoSender = pc.addTrack(video, stream);
    this.sendFlags();
    this.startStats();
    this.changed();
  }

  /** Puts `track` (camera, screen or nothing) on the video sender. @param {MediaStreamTrack | null} track */
  async putVideo(track) {
    if (!this.sending) return this.changed();
    if (this.videoSender) {
      await this.videoSender.replaceTrack(track);
    } else if (track && this.link.pc) {
      // An audio-only call that starts showing video: a new sender, renegotiated.
      this.videoSender = this.link.pc.addTrack(track, new MediaStream());
    }
    this.changed();
  }

  sendFlags() {
    if (this.state !== 'active') return;
    this.send({ type: 'call-media', callId: this.callId, muted: this.muted || !this.micTrack, cameraOff: this.cameraOff || !this.cameraTrack, screen: this.screenTrack !== null });
  }

  /** @param {CallMessage} msg */
  send(msg) {
    try {
      this.session?.sendCall(msg);
    } catch {
      // The connection is gone; its close ends the call.
    }
  }

  /** @param {CallMessage} msg */
  onMessage(msg) {
    if (msg.type === 'call-invite') {
      if (this.state === 'outgoing' && this.role === 'caller') {
        // Both called at once: each wanted the call, so it runs — as the call whose id sorts
        // lower, on both sides. The side whose invite lost answers the other one.
        if (msg.callId > this.callId) return;
        clearTimeout(this.ringTimer);
        this.callId = msg.callId;
        this.role = 'callee';
        this.state = 'active';
        this.send({ type: 'call-accept', callId: msg.callId });
        this.startSending();
        return;
      }
      if (this.state !== 'idle') {
        this.send({ type: 'call-decline', callId: msg.callId, reason: 'busy' });
        return;
      }
      this.callId = msg.callId;
      this.role = 'callee';
      this.kinds = { audio: msg.audio, video: msg.video, screen: msg.screen ?? false };
      this.state = 'incoming';
      this.remoteFlags = { muted: !msg.audio, cameraOff: !msg.video, screen: msg.screen ?? false };
      this.changed();
      return;
    }
    // Everything else belongs to the current call; a late message of an old one is dropped.
    if (msg.callId !== this.callId || this.isIdle()) return;
    switch (msg.type) {
      case 'call-accept':
        if (this.state !== 'outgoing') return;
        clearTimeout(this.ringTimer);
        this.state = 'active';
        this.startSending();
        return;
      case 'call-decline':
        if (this.state !== 'outgoing') return;
        this.finish(msg.reason === CALL_DECLINE_UNSUPPORTED ? 'unsupported' : msg.reason === 'busy' ? 'busy' : 'declined', 'peer');
        return;
      case 'call-end':
        this.finish(this.state === 'incoming' ? 'missed' : 'hung-up', 'peer');
        return;
      case 'call-media':
        this.remoteFlags = { muted: msg.muted, cameraOff: msg.cameraOff, screen: msg.screen };
        this.changed();
        return;
    }
  }

  /** @param {RTCTrackEvent} ev */
  onTrack(ev) {
    // Media arrives only in a call both sides agreed to. Anything else (a peer adding tracks
    // without a call) is refused, not just hidden: stopping the transceiver renegotiates its
    // section to stopped, so the peer cannot spend our bandwidth on it.
    if (this.state !== 'active' && this.state !== 'outgoing') {
      try {
        ev.transceiver?.stop();
      } catch {
        // Already stopped, or the connection is closing.
      }
      return;
    }
    if (this.role === 'callee' && !this.callerMediaSeen) {
      // Every transceiver of the caller's offer exists by its first track event, so our answer
      // (made right after) carries our tracks.
      this.callerMediaSeen = true;
      this.startSending();
    }
    const track = ev.track;
    for (const old of this.remoteStream.getTracks()) {
      if (old.kind === track.kind && old !== track) this.remoteStream.removeTrack(old);
    }
    if (!this.remoteStream.getTracks().includes(track)) this.remoteStream.addTrack(track);
    track.addEventListener('ended', () => {
      this.remoteStream.removeTrack(track);
      this.changed();
    });
    this.changed();
  }

  stopLocalTracks() {
    for (const t of [this.micTrack, this.cameraTrack, this.screenTrack]) t?.stop();
    this.micTrack = null;
    this.cameraTrack = null;
    this.screenTrack = null;
  }

  /**
   * The call is over, whoever ended it: local tracks stopped, media transceivers stopped (the
   * peer's receivers end, our remote tracks end), back to idle.
   * @param {string} reason @param {'me' | 'peer' | 'link'} by
   */
  finish(reason, by) {
    if (this.isIdle()) return;
    clearTimeout(this.ringTimer);
    clearInterval(this.statsTimer);
    this.stopLocalTracks();
    const pc = this.link.pc;
    if (pc && pc.signalingState !== 'closed') {
      for (const tr of pc.getTransceivers()) {
        const kind = tr.receiver.track?.kind;
        if ((kind === 'audio' || kind === 'video') && tr.currentDirection !== 'stopped') {
          try {
            tr.stop();
          } catch {
            // Already stopping.
          }
        }
      }
    }
    for (const t of this.remoteStream.getTracks()) {
      t.stop();
      this.remoteStream.removeTrack(t);
    }
    this.remoteStream = new MediaStream();
    this.audioSender = null;
    this.videoSender = null;
    this.sending = false;
    this.devicesReady = false;
    this.callerMediaSeen = false;
    this.state = 'idle';
    this.role = '';
    this.muted = false;
    this.cameraOff = false;
    this.quality = null;
    this.prevStats = null;
    this.remoteFlags = { muted: false, cameraOff: false, screen: false };
    this.chain = Promise.resolve();
    this.changed();
    this.dispatchEvent(new CustomEvent('ended', { detail: { reason, by } }));
  }

  startStats() {
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => void this.refreshStats(), STATS_EVERY_MS);
  }

  async refreshStats() {
    const pc = this.link.pc;
    if (!pc || this.state !== 'active') return;
    try {
      const report = await pc.getStats();
      const { quality, snapshot } = summarizeStats(report, this.prevStats, performance.now());
      this.prevStats = snapshot;
      if (this.state !== 'active') return;
      this.quality = quality;
      this.changed();
    } catch {
      // Stats are informational; a closing connection has none.
    }
  }

  /** A method, not a comparison in place: the state changes across every await. */
  isIdle() {
    return this.state === 'idle';
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }
}
