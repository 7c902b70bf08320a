// A transfer we send: streams its files once the peer accepts (resume offsets honoured, the
// whole file hashed for file-end), reading only as fast as the pipe drains.

import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES } from '../protocol/constants.js';
import { writeHeader } from '../protocol/frames.js';
import { Transfer } from './transfer.js';

/**
 * @typedef {import('./engine.js').TransferSession} TransferSession
 * @typedef {import('../hash/hasher.js').Hasher} Hasher
 * @typedef {import('./transfer.js').TransferFile} TransferFile
 */

export class OutgoingTransfer extends Transfer {
  /** @param {TransferSession} session @param {number} id @param {{blob: Blob, path: string, mtime?: number}[]} items */
  constructor(session, id, items) {
    super(
      session,
      id,
      'send',
      items.map((it) => {
        /** @type {TransferFile} */
        const f = { path: it.path, size: it.blob.size, type: it.blob.type ?? '', bytes: 0, state: 'pending' };
        if (it.mtime !== undefined) f.mtime = it.mtime;
        return f;
      }),
    );
    this.blobs = items.map((it) => it.blob);
    /** @type {Hasher | null} */
    this.hasher = null;
    /** Every byte and every file-end is sent: from now on `done` may come. */
    this.allSent = false;
    /**
     * Flow control: payload bytes we may still send (accept.credit plus every credit, less what
     * was sent), or null when the receiver asked for none (docs/protocol.md "Flow control").
     * @type {number | null}
     */
    this.credit = null;
    /** Resolves the wait for credit, when the sender is out of it. @type {(() => void) | null} */
    this.creditArrived = null;
  }

  /** @param {number} bytes */
  addCredit(bytes) {
    if (this.credit === null) return;
    this.credit += bytes;
    this.creditArrived?.();
    this.creditArrived = null;
  }

  /** Waits until there is credit (or the transfer ended). */
  async someCredit() {
    while (this.credit === 0 && !this.finished) {
      await new Promise((/** @type {(v?: any) => void} */ r) => (this.creditArrived = r));
    }
  }

  cleanup() {
    this.hasher?.drop();
    this.hasher = null;
    // A sender waiting for credit wakes up to see that it is over.
    this.creditArrived?.();
    this.creditArrived = null;
  }

  /** @param {import('../protocol/control.js').ResumePoint[]} resume @param {number | null} credit */
  async run(resume, credit = null) {
    const s = this.session;
    this.credit = credit;
    const chunk = Math.max(1, Math.min(MAX_FRAME_BYTES, s.pipe.maxMessageSize) - FRAME_HEADER_BYTES);
    this.state = 'active';
    this.startedAt = performance.now();
    this.changed();
    try {
      for (let i = 0; i < this.files.length; i++) {
        if (this.finished) return;
        this.current = i;
        const file = this.files[i];
        const blob = this.blobs[i];
        const hasher = (this.hasher = s.hasherFactory());
        const r = resume.find((p) => p.index === i);
        let start = r && r.offset <= file.size ? r.offset : 0;
        file.state = 'active';
        // The file-end hash covers the whole file, so a resumed prefix is read and hashed too;
        // with the receiver's hash of its prefix, the prefix alone is hashed as well to check it.
        const prefixHasher = start > 0 && r?.sha256 !== undefined ? s.hasherFactory() : null;
        for (let off = 0; off < start; ) {
          const bytes = new Uint8Array(await blob.slice(off, Math.min(start, off + chunk)).arrayBuffer());
          if (this.finished) return prefixHasher?.drop();
          const n = bytes.byteLength;
          prefixHasher?.update(bytes.slice());
          hasher.update(bytes);
          off += n;
        }
        if (prefixHasher && (await prefixHasher.digest()) !== r?.sha256?.toLowerCase()) {
          if (this.finished) return;
          // The receiver's prefix is not this file's: send the whole file instead.
          hasher.drop();
          this.hasher = s.hasherFactory();
          start = 0;
          s.sendControl({ type: 'file-restart', transferId: this.id, index: i });
        }
        const fileHasher = /** @type {Hasher} */ (this.hasher);
        file.bytes = start;
        let off = start;
        /** Read-ahead of one chunk at `off` so the disk read overlaps the send. */
        let next = off < file.size ? blob.slice(off, off + chunk).arrayBuffer() : null;
        while (off < file.size) {
          await this.someCredit();
          if (this.finished) return;
          // A frame is min(chunk, what is left, the credit) from `off`, as in the Rust engine; a
          // read-ahead longer than the credit allows is cut, and the next read starts after it.
          const want = Math.min(chunk, file.size - off, this.credit ?? Infinity);
          const ahead = new Uint8Array(/** @type {ArrayBuffer} */ (await next));
          if (this.finished) return;
          if (ahead.byteLength === 0) throw new Error(`file ${file.path} got shorter while reading`);
          const payload = ahead.byteLength > want ? ahead.subarray(0, want) : ahead;
          // Read now: the worker hasher takes the payload's buffer (transferred, so detached here).
          const len = payload.byteLength;
          const nextOff = off + len;
          next = nextOff < file.size ? blob.slice(nextOff, nextOff + chunk).arrayBuffer() : null;
          const frame = new Uint8Array(FRAME_HEADER_BYTES + len);
          writeHeader(frame, this.id, i, off);
          frame.set(payload, FRAME_HEADER_BYTES);
          fileHasher.update(payload);
          s.tamperFrame?.(frame, this.id, i, off);
          if (s.pipe.bufferedAmount() > s.highWaterMark) await s.pipe.drained();
          if (this.finished) return;
          s.pipe.send(frame);
          if (this.credit !== null) this.credit -= len;
          off = nextOff;
          file.bytes = off;
          this.bytesDone += len;
          s.progress(this);
        }
        const sha256 = await fileHasher.digest();
        this.hasher = null;
        if (this.finished) return;
        file.state = 'verifying';
        s.sendControl({ type: 'file-end', transferId: this.id, index: i, sha256 });
        this.changed();
      }
      this.allSent = true;
    } catch (e) {
      if (this.finished) return;
      const reason = `cannot send: ${/** @type {Error} */ (e).message}`;
      s.sendControl({ type: 'cancel', transferId: this.id, role: 'sender', reason });
      this.end('failed', reason, 'me');
    }
  }
}
