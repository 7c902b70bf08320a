// An RTCDataChannel as a MessagePipe (transfer/pipe.js).

import { MAX_FRAME_BYTES } from '../protocol/constants.js';

/** Resume sending once the channel's buffer drains to this (the engine stops at ~4 MiB). */
export const LOW_WATER_MARK = 1024 * 1024;

/** Implements MessagePipe (transfer/pipe.js). */
export class DataChannelPipe {
  /** @param {RTCDataChannel} dc @param {number} maxMessageSize from pc.sctp.maxMessageSize */
  constructor(dc, maxMessageSize) {
    this.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.bufferedAmountLowThreshold = LOW_WATER_MARK;
    // 0 or missing means "unknown" in some browsers; 64 KiB is safe everywhere.
    this.maxMessageSize = Math.min(MAX_FRAME_BYTES, maxMessageSize > 0 ? maxMessageSize : 64 * 1024);
    /** @type {(string | ArrayBuffer)[]} */
    this.inbox = [];
    /** @type {import('../transfer/pipe.js').PipeHandler | null} */
    this.handler = null;
    this.closed = false;
    this.closeReason = '';
    dc.addEventListener('message', (ev) => {
      if (this.handler) this.handler.message(ev.data);
      else this.inbox.push(ev.data);
    });
    dc.addEventListener('close', () => this.shut('data channel closed'));
    dc.addEventListener('error', (ev) => this.shut(`data channel error: ${/** @type {any} */ (ev).error?.message ?? 'unknown'}`));
  }

  /** @param {string | Uint8Array} data */
  send(data) {
    if (this.closed || this.dc.readyState !== 'open') throw new Error('connection lost (the data channel closed)');
    // send() copies into the SCTP queue synchronously, so the caller may reuse `data`.
    if (typeof data === 'string') this.dc.send(data);
    else this.dc.send(/** @type {Uint8Array<ArrayBuffer>} */ (data));
  }

  bufferedAmount() {
    return this.dc.bufferedAmount;
  }

  drained() {
    if (this.closed || this.dc.bufferedAmount <= LOW_WATER_MARK) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.dc.removeEventListener('bufferedamountlow', done);
        this.dc.removeEventListener('close', done);
        resolve(undefined);
      };
      this.dc.addEventListener('bufferedamountlow', done);
      this.dc.addEventListener('close', done);
    });
  }

  /** @param {import('../transfer/pipe.js').PipeHandler} h */
  attach(h) {
    this.handler = h;
    for (const m of this.inbox.splice(0)) h.message(m);
    if (this.closed) h.close(this.closeReason);
  }

  close() {
    this.dc.close();
    this.shut('closed');
  }

  /** @param {string} reason */
  shut(reason) {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.handler?.close(reason);
  }
}
