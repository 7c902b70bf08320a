// The transfer engine: transfer protocol v1 (docs/protocol.md §2) between this peer and one other,
// over a MessagePipe (pipe.js). It knows nothing of WebRTC, WebSockets or the DOM: the transport
// hands it a pipe, the UI listens to its events and to each transfer's `update` events, and the
// storage of received files is a sink factory passed to accept().
//
// The one rule: every message from the peer is parsed once, at the edge (protocol/*.js), and a
// transfer's frames and file-ends are handled strictly in order, one after the other, in that
// transfer's own queue — control messages of other transfers and chat never wait behind them.

import {
  APP_NAME,
  CALL_DECLINE_UNSUPPORTED,
  FEATURE_CALL,
  FEATURE_VERIFY,
  FEATURE_FLOW,
  FEATURE_PAIR,
  HELLO_RETRIES,
  HELLO_RETRY_MS,
  MAX_CONTROL_BYTES,
  MAX_FILES_PER_OFFER,
  MAX_HELLO_ECHOES,
  MAX_SELECTION_PARTS,
  MAX_TEXT_BYTES,
  TRANSFER_VERSION,
  TransferErrorCode,
} from '../protocol/constants.js';
import { parseControl, validateOffer, validateSelection } from '../protocol/control.js';
import { parseFrame } from '../protocol/frames.js';
import { VerifyExchange } from '../protocol/verify.js';
import { IncomingTransfer } from './incoming.js';
import { OutgoingTransfer } from './outgoing.js';
import { Transfer } from './transfer.js';

export { Transfer };

/**
 * @typedef {import('./pipe.js').MessagePipe} MessagePipe
 * @typedef {import('../hash/hasher.js').HasherFactory} HasherFactory
 * @typedef {import('../protocol/control.js').ControlMessage} ControlMessage
 * @typedef {import('./transfer.js').FileSink} FileSink
 * @typedef {import('./transfer.js').SinkFactory} SinkFactory
 */

/** Room kept in an offer for everything but its file list (the envelope is under 100 bytes). */
const OFFER_ENVELOPE_BYTES = 256;

/** @param {{blob: Blob, path: string, mtime?: number}} it */
function offeredFile(it) {
  /** @type {import('../protocol/control.js').OfferedFile} */
  const o = { path: it.path, size: it.blob.size, type: it.blob.type ?? '' };
  if (it.mtime !== undefined) o.mtime = it.mtime;
  return o;
}

/**
 * Splits a selection into offers that each fit one control message (MAX_CONTROL_BYTES) and
 * MAX_FILES_PER_OFFER, keeping the order — as split_offer in crates/ferry-engine. A folder of a
 * few thousand files lists more than 256 KiB, and a message that large cannot cross a
 * DataChannel; docs/protocol.md: larger selections are several offers.
 * @template {{blob: Blob, path: string, mtime?: number}} T
 * @param {T[]} items
 * @returns {T[][]}
 */
export function splitOffer(items) {
  const budget = MAX_CONTROL_BYTES - OFFER_ENVELOPE_BYTES;
  const enc = new TextEncoder();
  /** @type {T[][]} */
  const parts = [];
  /** @type {T[]} */
  let part = [];
  let bytes = 0;
  for (const it of items) {
    const entry = enc.encode(JSON.stringify(offeredFile(it))).length + 1;
    if (part.length > 0 && (bytes + entry > budget || part.length === MAX_FILES_PER_OFFER)) {
      parts.push(part);
      part = [];
      bytes = 0;
    }
    bytes += entry;
    part.push(it);
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/** Default high-water mark of the pipe's buffer: enough to keep a fast link busy, bounded. */
export const HIGH_WATER_MARK = 4 * 1024 * 1024;

/**
 * One peer's side of a pipe: its outgoing and incoming transfers and its chat.
 * Events: `offer` (detail: a waiting incoming Transfer — call accept(sinkFactory) or decline()),
 * `transfer` (detail: any new Transfer, either direction), `text` (detail: {id, text, mine}),
 * `peer-error` (detail: {code, message}: an `error` from the peer), `offer-refused` (detail:
 * {transferId, reason}: the peer's offer was invalid and refused here), `hello` (detail: {app,
 * features}), `call` (detail: a parsed call-* message; only with the `call` feature, see
 * call/call-controller.js), `pair` (detail: a parsed pair-* message; only with the `pair`
 * feature, see pairing/paired-devices.js), `closed` (detail: {reason}).
 */
export class TransferSession extends EventTarget {
  /**
   * @param {MessagePipe} pipe
   * @param {{hasherFactory: HasherFactory, highWaterMark?: number, progressEveryMs?: number,
   *   tamperFrame?: (frame: Uint8Array, transferId: number, index: number, offset: number) => void,
   *   now?: () => number, timers?: boolean, features?: string[], flowWindow?: number,
   *   verify?: {ownId: string, peerId: string, nonce?: string} | null}} opts
   *   `now` is the clock (ms) handed to handleTimeout(); with `timers: false` the session arms no
   *   timers of its own and the caller drives time with pollTimeout() / handleTimeout(now).
   *   `features` go out in our hello (e.g. ['call'] where a peer connection can carry media);
   *   without 'call' a call-invite is declined as unsupported, as the native engine does.
   *   `verify` names the keys the pipe is bound to (protocol/verify.js): with it the hello lists
   *   'verify' and a `security-code` event (detail: {code}) follows the peer's opening.
   *   `flowWindow` turns on flow control for what we receive (docs/protocol.md "Flow control"):
   *   our hello lists `flow`, and a peer that listed it too gets that many bytes of credit in our
   *   accept and more only as the sinks' writes resolve (FLOW_WINDOW_BYTES in the app).
   */
  constructor(pipe, opts) {
    super();
    this.pipe = pipe;
    this.hasherFactory = opts.hasherFactory;
    this.highWaterMark = opts.highWaterMark ?? HIGH_WATER_MARK;
    this.progressEveryMs = opts.progressEveryMs ?? 100;
    this.tamperFrame = opts.tamperFrame;
    this.nextTransferId = 1;
    this.nextTextId = 1;
    /** @type {Map<number, OutgoingTransfer>} */
    this.outgoing = new Map();
    /** @type {Map<number, IncomingTransfer>} */
    this.incoming = new Map();
    /** Ids of incoming transfers that ended early: their in-flight frames are dropped quietly. */
    this.endedIncoming = new Set();
    this.closed = false;
    /** Ids of outgoing transfers that ended: answers that crossed their end are dropped quietly. */
    this.endedOutgoing = new Set();
    /** Offers (with their transfer id) and texts held until the peer's hello arrives, as in the
     * Rust engine: a message sent before the peer's end of the channel is up can be lost, and the
     * peer's hello proves it is up.
     * @type {{transferId: number | null, msg: ControlMessage}[]} */
    this.held = [];
    this.peerApp = '';
    /** Flow control window as a receiver, or null when off. @type {number | null} */
    this.flowWindow = opts.flowWindow ?? null;
    this.verify = opts.verify ? new VerifyExchange(opts.verify.ownId, opts.verify.peerId, opts.verify.nonce) : null;
    // A pairing proof is bound to the connection's keys: without them there is nothing to prove.
    const features = (opts.features ?? []).filter((f) => f !== FEATURE_PAIR || this.verify);
    /** @type {string[]} */
    this.features = [...features, ...(this.flowWindow !== null ? [FEATURE_FLOW] : [])];
    /** What the peer's hello listed (empty until it arrives, and for peers that list nothing). @type {string[]} */
    this.peerFeatures = [];
    this.peerHeard = false;
    /** The peer counts as heard from a message other than hello; its hello is still owed. */
    this.helloImplied = false;
    this.helloEchoesLeft = MAX_HELLO_ECHOES;
    this.helloRetriesLeft = HELLO_RETRIES;
    /** When our hello goes out again if the peer's has not arrived (ms on `now`). @type {number | null} */
    this.helloDue = null;
    this.now = opts.now ?? (() => performance.now());
    this.ownTimers = opts.timers ?? true;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Map<Transfer, number>} */
    this.lastProgress = new Map();
  }

  start() {
    this.pipe.attach({ message: (d) => this.onMessage(d), close: (r) => this.onClose(r) });
    this.sendHello();
    this.helloDue = this.now() + HELLO_RETRY_MS;
    this.armTimer();
  }

  /**
   * When handleTimeout() is next due (ms on the session's clock), or null when nothing is.
   * Mirrors Engine::poll_timeout in crates/ferry-engine.
   * @returns {number | null}
   */
  pollTimeout() {
    if (this.closed || this.peerHeard || this.helloRetriesLeft === 0) return null;
    return this.helloDue;
  }

  /**
   * Time passed: until the peer's hello arrives, ours is repeated every HELLO_RETRY_MS, at most
   * HELLO_RETRIES times (a first message can be lost when it races the peer's channel setup).
   * @param {number} now
   */
  handleTimeout(now) {
    const due = this.pollTimeout();
    if (due === null || now < due) return;
    this.helloRetriesLeft -= 1;
    this.sendHello();
    this.helloDue = now + HELLO_RETRY_MS;
  }

  armTimer() {
    if (!this.ownTimers) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const due = this.pollTimeout();
    if (due === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.handleTimeout(this.now());
      this.armTimer();
    }, Math.max(0, due - this.now()));
  }

  sendHello() {
    /** @type {ControlMessage} */
    const hello = { type: 'hello', version: TRANSFER_VERSION, app: APP_NAME };
    const features = this.verify ? [...this.features, FEATURE_VERIFY] : this.features;
    if (features.length > 0) hello.features = features;
    this.sendControl(hello);
  }

  /** The connection's security code, once both sides opened their commitments. */
  get securityCode() {
    return this.verify?.code ?? null;
  }

  /** The peer runs the exchange: our commitment goes out (once). */
  startVerify() {
    const msg = this.verify?.start();
    if (msg) this.sendControl(msg);
  }

  /** @param {{send: ControlMessage[]} | {violation: string} | {code: string}} step */
  verifyStep(step) {
    if ('send' in step) for (const m of step.send) this.sendControl(m);
    else if ('code' in step) this.emit('security-code', { code: step.code });
    else this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, step.violation);
  }

  /**
   * Both ends of the connection as the security code saw them, once it is known: the identities
   * and nonces a pairing proof is bound to (protocol/pairing.js).
   * @returns {{own: {id: string, nonce: string}, peer: {id: string, nonce: string}} | null}
   */
  verifiedEnds() {
    const v = this.verify;
    if (!v?.code || v.peerNonce === null) return null;
    return { own: { id: v.ownId, nonce: v.nonce }, peer: { id: v.peerId, nonce: v.peerNonce } };
  }

  /** Whether both hellos listed `pair`: pair-* messages may go out. */
  canPair() {
    return this.features.includes(FEATURE_PAIR) && this.peerFeatures.includes(FEATURE_PAIR);
  }

  /**
   * Sends a pair-* message to a peer that takes them (see canPair).
   * @param {import('../protocol/control.js').PairMessage} msg
   */
  sendPair(msg) {
    if (this.closed) throw new Error('not connected');
    if (!this.canPair()) throw new Error('the peer does not pair');
    this.sendControl(msg);
  }

  /** Whether the peer's hello said it takes calls. */
  peerTakesCalls() {
    return this.peerFeatures.includes(FEATURE_CALL);
  }

  /**
   * Sends a call-* message. Calls start only with a peer whose hello listed `call`, so the hello
   * has arrived: nothing is held.
   * @param {import('../protocol/control.js').CallMessage} msg
   */
  sendCall(msg) {
    if (this.closed) throw new Error('not connected');
    this.sendControl(msg);
  }

  /** @param {ControlMessage} msg */
  sendControl(msg) {
    if (this.closed) return;
    try {
      this.pipe.send(JSON.stringify(msg));
    } catch {
      // The close handler reports a closed pipe; nothing more to do here.
    }
  }

  /**
   * Offers files to the peer. Returns at once; the transfer runs when the peer accepts.
   * @param {{blob: Blob, path: string, mtime?: number}[]} items
   */
  sendFiles(items) {
    return this.sendOffer(items, undefined);
  }

  /**
   * Offers a selection of any length: one offer when it fits, else several back to back
   * (splitOffer), each marked with its part of the selection so that the receiver can ask once.
   * Every part is checked before any is sent (as Engine::send_selection in Rust).
   * @param {{blob: Blob, path: string, mtime?: number}[]} items
   * @returns {OutgoingTransfer[]}
   */
  sendSelection(items) {
    const parts = splitOffer(items);
    if (parts.length <= 1) return [this.sendFiles(items)];
    if (parts.length > MAX_SELECTION_PARTS) {
      throw new Error(`the selection needs ${parts.length} offers; at most ${MAX_SELECTION_PARTS}`);
    }
    const first = this.nextTransferId;
    const selection = (/** @type {number} */ i) => ({ first, part: i, parts: parts.length });
    parts.forEach((part, i) => {
      const totalSize = part.reduce((sum, it) => sum + it.blob.size, 0);
      const offer = { type: 'offer', transferId: first + i, totalSize, files: part.map(offeredFile), selection: selection(i) };
      if (new TextEncoder().encode(JSON.stringify(offer)).length > MAX_CONTROL_BYTES) {
        throw new Error(`part ${i + 1} of the selection is over the ${MAX_CONTROL_BYTES / 1024} KiB of one message`);
      }
    });
    return parts.map((part, i) => this.sendOffer(part, selection(i)));
  }

  /**
   * @param {{blob: Blob, path: string, mtime?: number}[]} items
   * @param {import('../protocol/control.js').SelectionPart | undefined} selection
   * @returns {OutgoingTransfer}
   */
  sendOffer(items, selection) {
    if (items.length === 0) throw new Error('nothing to send');
    const id = this.nextTransferId++;
    const t = new OutgoingTransfer(this, id, items);
    this.outgoing.set(id, t);
    this.emit('transfer', t);
    if (this.closed) {
      t.end('failed', 'not connected', '');
      return t;
    }
    /** @type {ControlMessage} */
    const offer = { type: 'offer', transferId: id, totalSize: t.totalSize, files: items.map(offeredFile), ...(selection ? { selection } : {}) };
    const len = new TextEncoder().encode(JSON.stringify(offer)).length;
    if (len > MAX_CONTROL_BYTES) {
      // The peer would refuse it as too large, with no transfer id to say which: the offer
      // would wait for an answer forever.
      const why = `${items.length} files make an offer of ${Math.ceil(len / 1024)} KiB, over the ${MAX_CONTROL_BYTES / 1024} KiB of one message: split it into several offers`;
      t.end('failed', why, 'me');
      throw new Error(why);
    }
    this.sendOrHold(id, offer);
    return t;
  }

  /** @param {string} text @returns {string} the message id */
  sendText(text) {
    if (new TextEncoder().encode(text).length > MAX_TEXT_BYTES) throw new Error('message is over 64 KiB');
    if (this.closed) throw new Error('not connected');
    const id = `m-${Date.now()}-${this.nextTextId++}`;
    this.sendOrHold(null, { type: 'text', id, text });
    this.emit('text', { id, text, mine: true });
    return id;
  }

  close() {
    this.pipe.close();
  }

  /** @param {number | null} transferId @param {ControlMessage} msg */
  sendOrHold(transferId, msg) {
    if (this.peerHeard) this.sendControl(msg);
    else this.held.push({ transferId, msg });
  }

  /** Drops a held offer; returns whether there was one. @param {number} transferId */
  unhold(transferId) {
    const n = this.held.length;
    this.held = this.held.filter((h) => h.transferId !== transferId);
    return this.held.length !== n;
  }

  /** @param {Transfer} t */
  progress(t) {
    const now = performance.now();
    if (now - (this.lastProgress.get(t) ?? 0) < this.progressEveryMs) return;
    this.lastProgress.set(t, now);
    t.changed();
  }

  /** @param {Transfer} t */
  forget(t) {
    this.lastProgress.delete(t);
    if (t instanceof IncomingTransfer) {
      this.incoming.delete(t.id);
      this.endedIncoming.add(t.id);
    } else {
      this.outgoing.delete(t.id);
      this.endedOutgoing.add(t.id);
      this.unhold(t.id);
    }
  }

  /** @param {string} type @param {any} detail */
  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** @param {import('../protocol/constants.js').TransferErrorCodeName} code @param {string} message */
  sendError(code, message) {
    this.sendControl({ type: 'error', code, message });
  }

  /** @param {string | ArrayBuffer} data */
  onMessage(data) {
    if (this.closed) return;
    if (typeof data !== 'string') return this.onBinary(data);
    /** @type {ControlMessage} */
    let msg;
    try {
      msg = parseControl(data);
    } catch (e) {
      const err = /** @type {any} */ (e);
      return this.sendError(err.code ?? TransferErrorCode.BAD_MESSAGE, err.message);
    }
    if (msg.type !== 'hello') this.heardWithoutHello();
    this.onControl(msg);
  }

  /**
   * A well-formed message other than hello came first. The peer holds everything until it hears
   * our hello, so its own hello was the message lost: take the peer as heard (retries stop, held
   * messages go), as Engine::heard_without_hello does in the Rust engine.
   */
  heardWithoutHello() {
    if (this.peerHeard) return;
    this.peerHeard = true;
    this.helloImplied = true;
    this.armTimer();
    for (const { msg: held } of this.held.splice(0)) this.sendControl(held);
  }

  /** @param {ArrayBuffer} data */
  onBinary(data) {
    let f;
    try {
      f = parseFrame(data);
    } catch (e) {
      const err = /** @type {any} */ (e);
      return this.sendError(err.errorCode ?? TransferErrorCode.BAD_MESSAGE, err.message);
    }
    this.heardWithoutHello();
    const t = this.incoming.get(f.transferId);
    if (t && t.state === 'active') return t.onFrame(f);
    // Frames already in flight when a transfer was cancelled are expected; drop them quietly.
    if (this.endedIncoming.has(f.transferId)) return;
    if (t) return t.violation(`data for transfer ${f.transferId} before it was accepted`);
    this.sendError(TransferErrorCode.UNKNOWN_TRANSFER, `no incoming transfer ${f.transferId}`);
  }

  /** @param {ControlMessage} msg */
  onControl(msg) {
    switch (msg.type) {
      case 'hello':
        if (msg.version !== TRANSFER_VERSION) {
          this.sendError(TransferErrorCode.VERSION_MISMATCH, `this peer speaks transfer protocol ${TRANSFER_VERSION}, not ${msg.version}`);
          this.pipe.close();
          return;
        }
        if (msg.features?.includes(FEATURE_VERIFY)) this.startVerify();
        if (this.helloImplied) {
          // The hello taken as said arrives after all: nothing to answer.
          this.helloImplied = false;
          this.peerApp = msg.app;
          this.peerFeatures = msg.features ?? [];
          return this.emit('hello', { app: msg.app, features: this.peerFeatures });
        }
        if (this.peerHeard) {
          // A repeated hello: the peer has not heard ours (a first message can be lost when it
          // races channel setup in webrtc-rs). Answer, a bounded number of times.
          if (this.helloEchoesLeft > 0) {
            this.helloEchoesLeft -= 1;
            this.sendHello();
          }
          return;
        }
        this.peerHeard = true;
        this.peerApp = msg.app;
        this.peerFeatures = msg.features ?? [];
        this.armTimer();
        for (const { msg: held } of this.held.splice(0)) this.sendControl(held);
        return this.emit('hello', { app: msg.app, features: this.peerFeatures });
      case 'text':
        return this.emit('text', { id: msg.id, text: msg.text, mine: false });
      case 'error':
        return this.emit('peer-error', { code: msg.code, message: msg.message });
      case 'offer':
        return this.onOffer(msg);
      case 'call-invite':
      case 'call-accept':
      case 'call-decline':
      case 'call-end':
      case 'call-media':
        if (this.features.includes(FEATURE_CALL)) return this.emit('call', msg);
        // Without calls here: say so to an invite; the rest of a call that never started is noise.
        if (msg.type === 'call-invite') this.sendControl({ type: 'call-decline', callId: msg.callId, reason: CALL_DECLINE_UNSUPPORTED });
        return;
      // Without `verify` here our hello did not list it: the peer's exchange is dropped.
      case 'verify-commit':
        if (this.verify) this.verifyStep(this.verify.onCommit(msg.commit));
        return;
      case 'verify-open':
        if (this.verify) this.verifyStep(this.verify.onOpen(msg.nonce));
        return;
      // Without `pair` here (the relay's sessions keep it; a page that stores nothing would not
      // list it) the peer should not have sent these: dropped like a feature we lack.
      case 'pair-request':
      case 'pair-accept':
      case 'pair-decline':
      case 'pair-proof':
      case 'pair-revoke':
      case 'pair-revoked':
        if (this.features.includes(FEATURE_PAIR)) this.emit('pair', msg);
        return;
    }
    if (msg.type === 'cancel') {
      // The canceller's role tells which of our transfers it means: a cancelling sender means
      // a transfer we receive, and the other way round.
      const t = msg.role === 'sender' ? this.incoming.get(msg.transferId) : this.outgoing.get(msg.transferId);
      if (!t) return;
      return t.end('cancelled', msg.reason || 'cancelled by peer', 'peer');
    }
    if (msg.type === 'file-restart') {
      const t = this.incoming.get(msg.transferId);
      if (t && t.state === 'active') return t.onFileRestart(msg.index);
      if (t) return t.violation(`file-restart for transfer ${t.id} before it was accepted`);
      if (this.endedIncoming.has(msg.transferId)) return;
      return this.sendError(TransferErrorCode.UNKNOWN_TRANSFER, `no incoming transfer ${msg.transferId}`);
    }
    if (msg.type === 'file-end') {
      const t = this.incoming.get(msg.transferId);
      if (t && t.state === 'active') return t.onFileEnd(msg.index, msg.sha256);
      if (t) return t.violation(`file-end for transfer ${t.id} before it was accepted`);
      if (this.endedIncoming.has(msg.transferId)) return;
      return this.sendError(TransferErrorCode.UNKNOWN_TRANSFER, `no incoming transfer ${msg.transferId}`);
    }
    const t = this.outgoing.get(msg.transferId);
    if (!t) {
      // An answer that crossed our cancel (or a late one after done) is expected: drop it.
      if (this.endedOutgoing.has(msg.transferId)) return;
      return this.sendError(TransferErrorCode.UNKNOWN_TRANSFER, `no outgoing transfer ${msg.transferId}`);
    }
    switch (msg.type) {
      case 'accept':
        if (t.state !== 'waiting') return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `transfer ${t.id} was already answered`);
        void t.run(msg.resume ?? [], msg.credit ?? null);
        return;
      case 'credit':
        // Credit only means something for a transfer accepted with credit.
        if (t.credit === null) return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `credit for transfer ${t.id}, which was not accepted with credit`);
        return t.addCredit(msg.bytes);
      case 'decline':
        if (t.state !== 'waiting') return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `transfer ${t.id} was already answered`);
        return t.end('declined', '', 'peer');
      case 'file-verified': {
        const f = t.files[msg.index];
        if (!f) return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `no file ${msg.index} in transfer ${t.id}`);
        // A verdict needs the file's file-end first (and so an accepted offer).
        if (t.state === 'waiting' || !(f.state === 'verifying' || f.state === 'verified' || f.state === 'mismatch')) {
          return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `file-verified for file ${msg.index} of transfer ${t.id} before its file-end`);
        }
        f.state = msg.ok ? 'verified' : 'mismatch';
        if (!msg.ok) t.error = `hash mismatch in ${f.path}`;
        return t.changed();
      }
      case 'done':
        if (!t.allSent) return this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `done for transfer ${t.id} before every file was sent`);
        t.state = 'done';
        this.forget(t);
        return t.changed();
    }
  }

  /** @param {Extract<ControlMessage, {type: 'offer'}>} msg */
  onOffer(msg) {
    if (this.incoming.has(msg.transferId)) {
      this.sendError(TransferErrorCode.PROTOCOL_VIOLATION, `transfer id ${msg.transferId} is already in use`);
      return;
    }
    let files;
    try {
      files = validateOffer(msg.files, msg.totalSize);
      if (msg.selection) validateSelection(msg.selection, msg.transferId);
    } catch (e) {
      // Refused counts as ended: frames the sender had in flight are dropped quietly.
      this.endedIncoming.add(msg.transferId);
      this.sendControl({ type: 'decline', transferId: msg.transferId });
      this.sendError(TransferErrorCode.INVALID_OFFER, /** @type {Error} */ (e).message);
      this.emit('offer-refused', { transferId: msg.transferId, reason: /** @type {Error} */ (e).message });
      return;
    }
    this.endedIncoming.delete(msg.transferId);
    const t = new IncomingTransfer(this, msg.transferId, files);
    t.selection = msg.selection ?? null;
    this.incoming.set(t.id, t);
    this.emit('transfer', t);
    this.emit('offer', t);
  }

  /** @param {string} reason */
  onClose(reason) {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held = [];
    for (const t of [...this.outgoing.values(), ...this.incoming.values()]) {
      // Neither side chose this (as in Rust: by_peer false), so no one is named as the ender.
      t.end('failed', `connection lost: ${reason}`, '');
    }
    this.incoming.clear();
    this.outgoing.clear();
    this.emit('closed', { reason });
  }
}
