// One WebRTC connection to one other peer, set up on demand through the signaling hub and reused:
// "perfect negotiation" (the polite peer is the one whose id sorts lower), trickle ICE with
// candidates queued until the remote description is set, and one negotiated DataChannel
// (`ferry/1`, id 0) that both sides create themselves. When the channel opens, a TransferSession
// runs over it. Tolerant of native peers: mDNS (.local) candidates are passed to the browser as
// they come, and candidates may arrive before the description.
//
// When ICE has not opened the channel within `relay.afterMs` (or the relay is forced), both
// sides switch to the WebSocket relay (relay/relay-link.js): same transfer protocol, encrypted
// end to end; the path is then 'websocket'. On every path `securityCode` is set once the
// session's `verify` exchange is done.
//
// Calls (call/call-controller.js) add their tracks to this same connection: renegotiation goes
// through the same perfect negotiation, and remote tracks come out as `track` events.
//
// Events: `session` (detail: TransferSession), `state` (detail: {state, error}), `path`
// (detail: 'direct' | 'stun' | 'relay' | 'websocket' | ''), `track` (detail: RTCTrackEvent),
// `closed`.

import { CHANNEL_ID, CHANNEL_LABEL } from '../protocol/constants.js';
import { DataChannelPipe } from './datachannel-pipe.js';
import { TransferSession } from '../transfer/engine.js';
import { RelaySetup } from '../relay/relay-link.js';
import { dtlsIdentity } from '../protocol/verify.js';

/** How long a connection may take to open its channel before we call it failed. */
const CONNECT_TIMEOUT_MS = 20_000;

/**
 * @typedef {{kind: 'description', sdpType: RTCSdpType, sdp: string}
 *   | {kind: 'candidate', candidate: RTCIceCandidateInit | null}
 *   | {kind: 'app', payload: any}} Signal
 * @typedef {'idle' | 'connecting' | 'open' | 'failed' | 'closed'} LinkState
 */

export class PeerLink extends EventTarget {
  /**
   * @param {{selfId: string, peerId: string, iceServers: RTCIceServer[],
   *   sendSignal: (signal: Signal) => void,
   *   sessionOptions: ConstructorParameters<typeof TransferSession>[1],
   *   iceTransportPolicy?: RTCIceTransportPolicy,
   *   relay?: {force: boolean, afterMs: number, requestRelay: () => void,
   *     relayUrl: (relayId: string) => string}}} opts
   */
  constructor(opts) {
    super();
    this.opts = opts;
    this.polite = opts.selfId < opts.peerId;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {TransferSession | null} */
    this.session = null;
    /** @type {LinkState} */
    this.state = 'idle';
    this.error = '';
    this.path = '';
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    /** @type {RTCIceCandidateInit[]} */
    this.pendingCandidates = [];
    /** @type {Promise<TransferSession> | null} */
    this.opening = null;
    /** @type {((s: TransferSession) => void) | null} */
    this.resolveOpen = null;
    /** @type {((e: Error) => void) | null} */
    this.rejectOpen = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    /** @type {RelaySetup | null} */
    this.relaySetup = null;
    /** The connection's security code ("123 456", feature `verify`), '' until both sides derived it. */
    this.securityCode = '';
    /** The hub says the peer is in no room we share (see `peerAbsent`). */
    this.absent = false;
  }

  /**
   * The hub says the peer left every room we share (`true`) or is back (`false`). Gone for good
   * needs both: gone from signaling and ICE no longer hearing it. A signaling socket drops and
   * comes back (server restart, Wi-Fi hop, phone waking) while the DataChannel stays healthy, and
   * a transfer on it must not die with the socket; the native peer applies the same rule
   * (`departed` in crates/ferry-transport/src/peer.rs). The WebSocket relay runs through the
   * server, so it does not outlive the peer's signaling. Returns whether the link stays open.
   * @param {boolean} absent
   */
  peerAbsent(absent) {
    this.absent = absent;
    if (!absent) return true;
    if (this.state === 'open' && this.pc?.connectionState === 'connected') return true;
    this.close();
    return false;
  }

  /** The transfer session, connecting first if needed. @returns {Promise<TransferSession>} */
  connect() {
    if (this.session && !this.session.closed) return Promise.resolve(this.session);
    if (!this.opening) {
      this.opening = new Promise((resolve, reject) => {
        this.resolveOpen = resolve;
        this.rejectOpen = reject;
      });
      this.opening.catch(() => {});
      if (this.opts.relay?.force) this.startRelay(true);
      else this.createPeerConnection();
    }
    return this.opening;
  }

  createPeerConnection() {
    this.teardown();
    this.setState('connecting', '');
    const pc = new RTCPeerConnection({ iceServers: this.opts.iceServers, iceTransportPolicy: this.opts.iceTransportPolicy ?? 'all' });
    this.pc = pc;
    if (!this.opening) {
      this.opening = new Promise((resolve, reject) => {
        this.resolveOpen = resolve;
        this.rejectOpen = reject;
      });
      this.opening.catch(() => {});
    }
    pc.ontrack = (ev) => {
      if (pc === this.pc) this.dispatchEvent(new CustomEvent('track', { detail: ev }));
    };
    pc.onicecandidate = ({ candidate }) => {
      this.opts.sendSignal({ kind: 'candidate', candidate: candidate ? candidate.toJSON() : null });
    };
    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        const d = /** @type {RTCSessionDescription} */ (pc.localDescription);
        this.opts.sendSignal({ kind: 'description', sdpType: d.type, sdp: d.sdp });
      } catch (e) {
        console.warn('negotiation failed', e);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === 'failed') this.fail('connection failed');
      else if (pc.connectionState === 'connected') void this.updatePath();
      // Gone from signaling and now silent on ICE as well: the peer is gone (see peerAbsent).
      else if (this.absent && pc.connectionState !== 'connecting' && pc.connectionState !== 'new') this.close();
    };
    const dc = pc.createDataChannel(CHANNEL_LABEL, { negotiated: true, id: CHANNEL_ID, ordered: true });
    dc.onopen = () => {
      if (pc !== this.pc) return;
      clearTimeout(this.timer);
      // ICE may switch to a better pair after the channel opened; keep the shown path true.
      const ice = pc.sctp?.transport?.iceTransport;
      if (ice) ice.onselectedcandidatepairchange = () => void this.updatePath();
      const own = dtlsIdentity(pc.localDescription?.sdp);
      const peer = dtlsIdentity(pc.remoteDescription?.sdp);
      this.runSession(new DataChannelPipe(dc, pc.sctp?.maxMessageSize ?? 0), false, own && peer ? { ownId: own, peerId: peer } : null);
      void this.updatePath();
    };
    const relay = this.opts.relay;
    this.timer = setTimeout(
      () => {
        if (pc !== this.pc || this.state !== 'connecting') return;
        if (relay) this.startRelay(true);
        else this.fail('no connection within 20 s');
      },
      relay ? relay.afterMs : CONNECT_TIMEOUT_MS,
    );
  }

  /**
   * Runs a TransferSession over `pipe` (a DataChannel or the relay).
   * @param {import('../transfer/pipe.js').MessagePipe} pipe
   * @param {boolean} viaRelay the relay carries no media, so its session offers no calls (the
   *   other features stay)
   * @param {{ownId: string, peerId: string} | null} verify the keys the pipe is bound to
   */
  runSession(pipe, viaRelay, verify) {
    const opts = this.opts.sessionOptions;
    const features = viaRelay ? (opts.features ?? []).filter((f) => f !== 'call') : opts.features;
    const session = new TransferSession(pipe, { ...opts, features, verify });
    this.session = session;
    this.securityCode = '';
    session.addEventListener('security-code', (e) => {
      if (this.session !== session) return;
      this.securityCode = /** @type {CustomEvent} */ (e).detail.code;
      this.dispatchEvent(new Event('security-code'));
    });
    session.addEventListener('closed', () => {
      if (this.session !== session) return;
      this.session = null;
      this.teardown();
      this.setState('closed', '');
      this.dispatchEvent(new Event('closed'));
    });
    session.start();
    this.setState('open', '');
    this.dispatchEvent(new CustomEvent('session', { detail: session }));
    this.resolveOpen?.(session);
    this.opening = null;
  }

  relaySetupFor() {
    const relay = this.opts.relay;
    if (!relay) return null;
    if (!this.relaySetup) {
      this.relaySetup = new RelaySetup({
        selfId: this.opts.selfId,
        peerId: this.opts.peerId,
        sendSignal: (signal) => this.opts.sendSignal(signal),
        requestRelay: relay.requestRelay,
        relayUrl: relay.relayUrl,
      });
    }
    return this.relaySetup;
  }

  /**
   * Abandons ICE and carries the session over the WebSocket relay.
   * @param {boolean} ask whether to ask the hub (false: the peer's `relay-ready` is here)
   */
  startRelay(ask) {
    const setup = this.relaySetupFor();
    if (!setup) return;
    if (!this.opening) {
      this.opening = new Promise((resolve, reject) => {
        this.resolveOpen = resolve;
        this.rejectOpen = reject;
      });
      this.opening.catch(() => {});
    }
    this.teardown();
    this.setState('connecting', '');
    setup.start(ask).then(
      ({ pipe, identities }) => {
        if (this.relaySetup !== setup) return;
        this.relaySetup = null;
        this.path = 'websocket';
        this.runSession(pipe, true, identities);
        this.dispatchEvent(new CustomEvent('path', { detail: 'websocket' }));
      },
      (/** @type {Error} */ e) => {
        if (this.relaySetup !== setup) return;
        this.relaySetup = null;
        this.fail(`relay failed: ${e.message}`);
      },
    );
  }

  /** The hub authorized a relay session with this peer (either side may have asked). @param {{relayId: string}} msg */
  handleRelayReady(msg) {
    // A late repeat for a session that is already running over the relay.
    if (this.session && !this.session.closed) return;
    const setup = this.relaySetupFor();
    if (!setup) return;
    const wasRunning = setup.running !== null;
    setup.handleRelayReady(msg);
    // The peer gave up on ICE first: follow at once instead of waiting for our own timeout.
    if (!wasRunning) this.startRelay(false);
  }

  /** @param {Signal} signal */
  async handleSignal(signal) {
    try {
      // On the relay (or on the way to it), the ICE attempt is over: late WebRTC signals are noise.
      if (signal.kind !== 'app' && (this.relaySetup?.running || this.path === 'websocket')) return;
      // Forced onto the relay: a peer's WebRTC offer is answered by moving to the relay.
      if (signal.kind !== 'app' && this.opts.relay?.force) {
        const busy = this.session && !this.session.closed;
        if (signal.kind === 'description' && signal.sdpType === 'offer' && !busy) this.startRelay(true);
        return;
      }
      if (signal.kind === 'description') {
        const isOffer = signal.sdpType === 'offer';
        // An offer under a DTLS key other than the one we are connected to comes from a new
        // process behind the same peer id (a native peer run again with its kept token, a tab
        // that crashed): the old connection cannot continue, though ICE may take seconds to
        // notice. It ends as a lost connection (so its sends go out again, transfer/resend.js)
        // and the offer starts the new one. Only the peer's own signaling can send this.
        const current = this.pc?.remoteDescription ? dtlsIdentity(this.pc.remoteDescription.sdp) : null;
        const offered = isOffer ? dtlsIdentity(signal.sdp) : null;
        if (current && offered && current !== offered) this.fail('the peer started again');
        // A fresh offer while we have no usable connection starts a new one.
        if (!this.pc || (isOffer && (this.state === 'closed' || this.state === 'failed'))) {
          if (!isOffer) return;
          this.createPeerConnection();
        }
        const pc = /** @type {RTCPeerConnection} */ (this.pc);
        // An offer while our answer is being applied is no collision: the state is about to be
        // stable (the W3C pattern; calls renegotiate often, so this race is no longer rare).
        const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
        const collision = isOffer && !readyForOffer;
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) return;
        this.settingRemoteAnswer = signal.sdpType === 'answer';
        try {
          await pc.setRemoteDescription({ type: signal.sdpType, sdp: signal.sdp });
        } finally {
          this.settingRemoteAnswer = false;
        }
        for (const c of this.pendingCandidates.splice(0)) await this.addCandidate(c);
        if (isOffer) {
          await pc.setLocalDescription();
          const d = /** @type {RTCSessionDescription} */ (pc.localDescription);
          this.opts.sendSignal({ kind: 'description', sdpType: d.type, sdp: d.sdp });
        }
      } else if (signal.kind === 'app') {
        if (signal.payload?.type === 'relay-key') this.relaySetupFor()?.handleKey(signal.payload);
      } else if (signal.kind === 'candidate') {
        if (!signal.candidate) return;
        if (!this.pc || !this.pc.remoteDescription) this.pendingCandidates.push(signal.candidate);
        else await this.addCandidate(signal.candidate);
      }
    } catch (e) {
      console.warn('signal handling failed', e);
    }
  }

  /** @param {RTCIceCandidateInit} c */
  async addCandidate(c) {
    try {
      await this.pc?.addIceCandidate(c);
    } catch (e) {
      // Candidates for an offer we ignored (glare) fail here; that is expected.
      if (!this.ignoreOffer) console.warn('bad ICE candidate', e);
    }
  }

  /** Which path the selected candidate pair uses: host → direct, srflx/prflx → stun, relay. */
  async updatePath() {
    const pc = this.pc;
    if (!pc) return;
    try {
      const stats = await pc.getStats();
      /** @type {any} */
      let pair = null;
      stats.forEach((s) => {
        if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
      });
      if (!pair) stats.forEach((s) => {
        if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
      });
      if (!pair) return;
      const local = stats.get(pair.localCandidateId);
      const remote = stats.get(pair.remoteCandidateId);
      const l = local?.candidateType;
      const r = remote?.candidateType;
      // A remote prflx candidate is usually just a host candidate whose signal has not arrived
      // yet (checks outran the trickle), so only our own prflx/srflx side counts as NAT-traversed.
      const path = l === 'relay' || r === 'relay' ? 'relay' : l === 'srflx' || l === 'prflx' || r === 'srflx' ? 'stun' : 'direct';
      if (path !== this.path) {
        this.path = path;
        this.dispatchEvent(new CustomEvent('path', { detail: path }));
      }
    } catch {
      // Stats are informational; a closed connection simply has none.
    }
  }

  /** @param {string} why */
  fail(why) {
    this.relaySetup = null;
    const reject = this.rejectOpen;
    this.opening = null;
    this.rejectOpen = null;
    this.resolveOpen = null;
    this.session?.close();
    this.teardown();
    this.setState('failed', why);
    reject?.(new Error(why));
  }

  teardown() {
    clearTimeout(this.timer);
    if (this.pc) {
      this.pc.onicecandidate = null;
      this.pc.onnegotiationneeded = null;
      this.pc.onconnectionstatechange = null;
      this.pc.ontrack = null;
      this.pc.close();
    }
    this.pc = null;
    this.pendingCandidates = [];
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.securityCode = '';
    if (this.path) {
      this.path = '';
      this.dispatchEvent(new CustomEvent('path', { detail: '' }));
    }
  }

  /** The peer left or we are going away. */
  close() {
    this.fail('peer left');
    this.setState('closed', '');
  }

  /** @param {LinkState} state @param {string} error */
  setState(state, error) {
    this.state = state;
    this.error = error;
    this.dispatchEvent(new CustomEvent('state', { detail: { state, error } }));
  }
}
