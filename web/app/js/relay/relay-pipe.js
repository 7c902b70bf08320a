// The WebSocket relay as a MessagePipe (transfer/pipe.js): every message is sealed end to end
// (relay-crypto.js) before it goes to the server, which forwards ciphertext only.
//
// Sealing and opening are asynchronous (WebCrypto; the noble fallback keeps the same
// interface); order is kept with two promise chains. seal()/open() take their
// counters when called, so encryption may overlap, but frames are sent and messages delivered
// strictly in call order. A frame that fails to decrypt closes the pipe.
// Backpressure: bufferedAmount() counts messages still being sealed plus the socket's own
// bufferedAmount; WebSocket has no bufferedamountlow event, so drained() polls.

import { MAX_FRAME_BYTES } from '../protocol/constants.js';
import { RELAY_OVERHEAD } from './relay-crypto.js';

/** Resume sending once the buffer drains to this (the engine stops at ~4 MiB). */
export const LOW_WATER_MARK = 1024 * 1024;
const DRAIN_POLL_MS = 10;
/** The server's frame limit (docs/protocol.md §4). */
const RELAY_FRAME_LIMIT = 512 * 1024;
/** Close code for a frame that failed to decrypt (application range). */
const CLOSE_DECRYPT = 4400;

/** Implements MessagePipe (transfer/pipe.js). */
export class RelayPipe {
  /**
   * @param {WebSocket} ws paired (after `{"type":"paired"}`)
   * @param {import('./relay-crypto.js').RelaySession} session
   * @param {(string | ArrayBuffer)[]} [early] frames that arrived between pairing and now
   */
  constructor(ws, session, early = []) {
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    this.session = session;
    this.maxMessageSize = Math.min(MAX_FRAME_BYTES, RELAY_FRAME_LIMIT - RELAY_OVERHEAD);
    /** Bytes accepted by send() that are not yet in the socket's buffer. */
    this.sealing = 0;
    /** @type {Promise<void>} */
    this.sendChain = Promise.resolve();
    /** @type {Promise<void>} */
    this.recvChain = Promise.resolve();
    /** @type {(string | ArrayBuffer)[]} */
    this.inbox = [];
    /** @type {import('../transfer/pipe.js').PipeHandler | null} */
    this.handler = null;
    this.closed = false;
    /** Set when the relay misbehaved: nothing more is sent. */
    this.broken = false;
    this.closeReason = '';
    ws.onmessage = (ev) => this.receive(ev.data);
    for (const data of early) this.receive(data);
    ws.onclose = (ev) => {
      // Deliver what was already received before reporting the end.
      void this.recvChain.then(() => this.shut(ev.reason || 'the relay connection closed'));
    };
    ws.onerror = () => void this.recvChain.then(() => this.shut('the relay connection failed'));
    if (ws.readyState >= WebSocket.CLOSING) void this.recvChain.then(() => this.shut('the relay connection closed'));
  }

  /** @param {string | ArrayBuffer} data one frame from the relay */
  receive(data) {
    if (this.closed) return;
    if (typeof data === 'string') {
      this.fail('the relay sent an unencrypted text frame');
      return;
    }
    const opened = this.session.open(new Uint8Array(data));
    this.recvChain = this.recvChain.then(async () => {
      let msg;
      try {
        msg = await opened;
      } catch (e) {
        this.fail(/** @type {Error} */ (e).message);
        return;
      }
      if (this.closed) return;
      if (this.handler) this.handler.message(msg);
      else this.inbox.push(msg);
    });
  }

  /** @param {string | Uint8Array} data */
  send(data) {
    if (this.closed || this.ws.readyState !== WebSocket.OPEN) throw new Error('connection lost (the relay closed)');
    // seal() reads `data` before returning (it copies into the plaintext buffer).
    const sealed = this.session.seal(data);
    const size = typeof data === 'string' ? data.length : data.length;
    this.sealing += size;
    this.sendChain = this.sendChain.then(async () => {
      const frame = await sealed;
      this.sealing -= size;
      // Not `closed`: messages sent before close() still go out.
      if (!this.broken && this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
    });
  }

  bufferedAmount() {
    return this.sealing + this.ws.bufferedAmount;
  }

  drained() {
    if (this.closed || this.bufferedAmount() <= LOW_WATER_MARK) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.closed || this.bufferedAmount() <= LOW_WATER_MARK) resolve(undefined);
        else setTimeout(check, DRAIN_POLL_MS);
      };
      setTimeout(check, DRAIN_POLL_MS);
    });
  }

  /** @param {import('../transfer/pipe.js').PipeHandler} h */
  attach(h) {
    this.handler = h;
    for (const m of this.inbox.splice(0)) h.message(m);
    if (this.closed) h.close(this.closeReason);
  }

  close() {
    // Let what was sent leave first, then close the socket.
    void this.sendChain.then(() => this.ws.close(1000, 'closed'));
    this.shut('closed');
  }

  /** @param {string} why */
  fail(why) {
    console.warn(`relay: ${why}; closing`);
    this.broken = true;
    this.ws.close(CLOSE_DECRYPT, 'decryption failed');
    this.shut(why);
  }

  /** @param {string} reason */
  shut(reason) {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.handler?.close(reason);
  }
}
