// Setting up a relay session with one peer (docs/protocol.md §4): ask the hub (`relay-open` →
// `relay-ready`, unless the peer asked first), swap ephemeral public keys as `relay-key` app
// signals, connect `/relay/<id>?token=…`, wait for `{"type":"paired"}`, and hand back an
// encrypted RelayPipe with the security code both sides can compare.
//
// The peer may still be trying ICE when we ask, and drop our key; when it asks for the same
// session later, its `relay-ready` reaches us again and we send the key again.

import { agree, generateRelayKeys } from './relay-crypto.js';
import { RelayPipe } from './relay-pipe.js';
import { relayIdentity } from '../protocol/verify.js';

/** Longest a relay setup may take: the peer may first finish its own ICE attempt. */
const SETUP_TIMEOUT_MS = 30_000;
/** A raw P-256 point in base64url is 87 characters. */
const MAX_PUBLIC_KEY_CHARS = 200;

/**
 * @typedef {{selfId: string, peerId: string,
 *   sendSignal: (signal: {kind: 'app', payload: any}) => void,
 *   requestRelay: () => void,
 *   relayUrl: (relayId: string) => string}} RelaySetupOptions
 */

export class RelaySetup {
  /** @param {RelaySetupOptions} opts */
  constructor(opts) {
    this.opts = opts;
    /** @type {string | null} */
    this.relayId = null;
    /** @type {Map<string, string>} peer keys by relay id */
    this.peerKeys = new Map();
    /** @type {{relayId: string, publicKey: string} | null} */
    this.sentKey = null;
    /** @type {(() => void)[]} */
    this.waiters = [];
    /** @type {Promise<{pipe: RelayPipe, identities: {ownId: string, peerId: string}}> | null} */
    this.running = null;
  }

  /** A `relay-ready` from the hub for this peer. */
  handleRelayReady(/** @type {{relayId: string}} */ msg) {
    if (typeof msg.relayId !== 'string') return;
    if (this.sentKey && this.sentKey.relayId === msg.relayId) {
      this.opts.sendSignal({ kind: 'app', payload: { type: 'relay-key', ...this.sentKey } });
    }
    if (!this.relayId) this.relayId = msg.relayId;
    this.wake();
  }

  /** A `relay-key` app signal from the peer. */
  handleKey(/** @type {any} */ payload) {
    if (typeof payload?.relayId !== 'string' || typeof payload.publicKey !== 'string') return;
    if (payload.publicKey.length > MAX_PUBLIC_KEY_CHARS) return;
    this.peerKeys.set(payload.relayId, payload.publicKey);
    this.wake();
  }

  wake() {
    for (const w of this.waiters.splice(0)) w();
  }

  /** @template T @param {() => T | undefined} get @returns {Promise<T>} */
  async waitFor(get) {
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      await new Promise((resolve) => this.waiters.push(() => resolve(undefined)));
    }
  }

  /**
   * Runs the setup once; later calls share it.
   * @param {boolean} ask whether to send `relay-open` (false when the peer's invite is here)
   */
  start(ask) {
    if (!this.running) {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('relay setup timed out')), SETUP_TIMEOUT_MS);
      });
      this.running = /** @type {Promise<{pipe: RelayPipe, identities: {ownId: string, peerId: string}}>} */ (
        Promise.race([this.run(ask), timeout]).finally(() => clearTimeout(timer))
      );
    }
    return this.running;
  }

  /** @param {boolean} ask */
  async run(ask) {
    if (ask && !this.relayId) this.opts.requestRelay();
    const relayId = await this.waitFor(() => this.relayId ?? undefined);
    const keys = await generateRelayKeys();
    this.sentKey = { relayId, publicKey: keys.publicKey };
    this.opts.sendSignal({ kind: 'app', payload: { type: 'relay-key', ...this.sentKey } });
    const ws = new WebSocket(this.opts.relayUrl(relayId));
    ws.binaryType = 'arraybuffer';
    /** @type {(string | ArrayBuffer)[]} */
    const early = [];
    let isPaired = false;
    const paired = new Promise((resolve, reject) => {
      ws.onmessage = (ev) => {
        // The peer may start sending while we still derive keys: keep those frames.
        if (isPaired) early.push(ev.data);
        else if (typeof ev.data === 'string' && ev.data.includes('"paired"')) {
          isPaired = true;
          resolve(undefined);
        } else reject(new Error('the relay sent something before pairing'));
      };
      ws.onclose = (ev) => reject(new Error(`the relay closed before pairing: ${ev.reason || ev.code}`));
    });
    paired.catch(() => {});
    const peerKey = await this.waitFor(() => this.peerKeys.get(relayId));
    const session = await agree(keys, relayId, this.opts.selfId, this.opts.peerId, peerKey);
    await paired;
    // The security code users see comes from the session's `verify` exchange bound to these
    // keys, not from the keys alone (session.securityCode): a server substituting keys could
    // grind those until both sides matched.
    return { pipe: new RelayPipe(ws, session, early), identities: { ownId: relayIdentity(keys.publicKey), peerId: relayIdentity(peerKey) } };
  }
}
