// Two connected in-memory pipes, for driving two engines without a network (node tests). Sent
// messages count as buffered until the other side's event loop takes them, so backpressure is
// exercised for real.

/** @typedef {import('./pipe.js').MessagePipe} MessagePipe */

/**
 * @param {{maxMessageSize?: number, lowWaterMark?: number, deliverDelayMs?: number}} [opts]
 * @returns {[MessagePipe, MessagePipe]}
 */
export function memoryPipePair(opts = {}) {
  const a = new MemoryPipe(opts);
  const b = new MemoryPipe(opts);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryPipe {
  /** @param {{maxMessageSize?: number, lowWaterMark?: number, deliverDelayMs?: number}} opts */
  constructor(opts) {
    this.maxMessageSize = opts.maxMessageSize ?? 256 * 1024;
    this.low = opts.lowWaterMark ?? 256 * 1024;
    this.delay = opts.deliverDelayMs ?? 0;
    /** @type {MemoryPipe | null} */
    this.peer = null;
    this.buffered = 0;
    /** @type {(string | ArrayBuffer)[]} */
    this.inbox = [];
    /** @type {import('./pipe.js').PipeHandler | null} */
    this.handler = null;
    /** @type {(() => void)[]} */
    this.waiters = [];
    this.closed = false;
    /** Everything sent, for tests that tamper or count. @type {((data: string | Uint8Array) => string | Uint8Array | null) | null} */
    this.intercept = null;
  }

  /** @param {string | Uint8Array} data */
  send(data) {
    if (this.closed) throw new Error('pipe closed');
    let msg = typeof data === 'string' ? data : data.slice().buffer;
    if (this.intercept) {
      const out = this.intercept(typeof msg === 'string' ? msg : new Uint8Array(msg));
      if (out === null) return;
      msg = typeof out === 'string' ? out : out.slice().buffer;
    }
    const size = typeof msg === 'string' ? msg.length : msg.byteLength;
    this.buffered += size;
    const peer = /** @type {MemoryPipe} */ (this.peer);
    setTimeout(() => {
      this.buffered -= size;
      if (this.buffered <= this.low) this.wake();
      if (!peer.closed) peer.deliver(msg);
    }, this.delay);
  }

  bufferedAmount() {
    return this.buffered;
  }

  drained() {
    if (this.buffered <= this.low || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(() => resolve(undefined)));
  }

  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** @param {string | ArrayBuffer} msg */
  deliver(msg) {
    if (this.handler) this.handler.message(msg);
    else this.inbox.push(msg);
  }

  /** @param {import('./pipe.js').PipeHandler} h */
  attach(h) {
    this.handler = h;
    for (const m of this.inbox.splice(0)) h.message(m);
  }

  close() {
    this.shut('closed');
    this.peer?.shut('peer closed the pipe');
  }

  /** @param {string} reason */
  shut(reason) {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    setTimeout(() => this.handler?.close(reason), 0);
  }
}
