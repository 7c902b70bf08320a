// A transfer we receive: consent, then its frames and file-ends strictly in order in its own
// queue, each checked (file, offset, size) before it is written; hashes verified before a file is
// presented as complete.

import { TransferErrorCode } from '../protocol/constants.js';
import { Transfer } from './transfer.js';

/**
 * @typedef {import('./engine.js').TransferSession} TransferSession
 * @typedef {import('../hash/hasher.js').Hasher} Hasher
 * @typedef {import('../protocol/control.js').ValidatedFile} ValidatedFile
 * @typedef {import('./transfer.js').FileSink} FileSink
 * @typedef {import('./transfer.js').SinkFactory} SinkFactory
 * @typedef {import('./transfer.js').FileState} FileState
 * @typedef {import('./transfer.js').TransferState} TransferState
 */

export class IncomingTransfer extends Transfer {
  /** @param {TransferSession} session @param {number} id @param {ValidatedFile[]} files */
  constructor(session, id, files) {
    super(session, id, 'receive', files.map((f) => ({ ...f, bytes: 0, state: /** @type {FileState} */ ('pending') })));
    /** @type {SinkFactory | null} */
    this.sinkFactory = null;
    /** @type {FileSink | null} */
    this.sink = null;
    /** @type {Hasher | null} */
    this.hasher = null;
    /** The in-order queue of this transfer's frames and file-ends. */
    this.queue = Promise.resolve();
    /** Set when the offer is one part of a selection split into several offers. @type {import('../protocol/control.js').SelectionPart | null} */
    this.selection = null;
  }

  /** Consent: from now on frames are written through sinks from `sinkFactory`. @param {SinkFactory} sinkFactory */
  accept(sinkFactory) {
    if (this.state !== 'waiting') return;
    this.sinkFactory = sinkFactory;
    this.state = 'active';
    this.startedAt = performance.now();
    this.session.sendControl({ type: 'accept', transferId: this.id });
    this.changed();
  }

  decline() {
    if (this.state !== 'waiting') return;
    this.session.sendControl({ type: 'decline', transferId: this.id });
    this.end('declined', '', 'me');
  }

  cleanup() {
    this.sink?.abort(this.error || this.state);
    this.sink = null;
    this.hasher?.drop();
    this.hasher = null;
  }

  /** @param {() => Promise<void> | void} step */
  enqueue(step) {
    this.queue = this.queue.then(async () => {
      if (this.finished) return;
      try {
        await step();
      } catch (e) {
        this.violation(`cannot store the file: ${/** @type {Error} */ (e).message}`, 'failed');
      }
    });
  }

  async openFile() {
    const file = this.files[this.current];
    file.state = 'active';
    this.hasher = this.session.hasherFactory();
    this.sink = await /** @type {SinkFactory} */ (this.sinkFactory)(file, this.current, this);
  }

  /** @param {import('../protocol/frames.js').DataFrame} f */
  onFrame(f) {
    this.enqueue(async () => {
      const file = this.files[this.current];
      if (f.index !== this.current || !file) return this.violation(`frame for file ${f.index}, expected file ${this.current}`);
      if (f.offset !== file.bytes) return this.violation(`frame at offset ${f.offset} of file ${f.index}, expected ${file.bytes}`);
      if (file.bytes + f.payload.byteLength > file.size) return this.violation(`frame runs past the end of file ${f.index}`);
      if (!this.sink) await this.openFile();
      if (this.finished) return;
      /** @type {Hasher} */ (this.hasher).update(f.payload.slice());
      await /** @type {FileSink} */ (this.sink).write(f.payload);
      file.bytes += f.payload.byteLength;
      this.bytesDone += f.payload.byteLength;
      this.session.progress(this);
    });
  }

  /** @param {number} index @param {string} sha256 */
  onFileEnd(index, sha256) {
    this.enqueue(async () => {
      const file = this.files[this.current];
      if (index !== this.current || !file) return this.violation(`file-end for file ${index}, expected file ${this.current}`);
      if (file.bytes !== file.size) return this.violation(`file-end for file ${index} after ${file.bytes} of ${file.size} bytes`);
      if (!this.sink) await this.openFile();
      if (this.finished) return;
      file.state = 'verifying';
      this.changed();
      const got = await /** @type {Hasher} */ (this.hasher).digest();
      this.hasher = null;
      const sink = /** @type {FileSink} */ (this.sink);
      this.sink = null;
      if (this.finished) return sink.abort(this.error);
      const ok = got === sha256.toLowerCase();
      if (ok) {
        await sink.close();
        file.state = 'verified';
      } else {
        await sink.abort('hash mismatch');
        file.state = 'mismatch';
        this.error = `hash mismatch in ${file.path}`;
      }
      this.session.sendControl({ type: 'file-verified', transferId: this.id, index, ok });
      this.current += 1;
      if (this.current === this.files.length) {
        this.session.sendControl({ type: 'done', transferId: this.id });
        this.state = 'done';
        this.session.forget(this);
      }
      this.changed();
    });
  }

  /** The peer broke the protocol in this transfer: stop it and say why. @param {string} why @param {TransferState} [state] */
  violation(why, state = 'failed') {
    this.session.sendError(TransferErrorCode.PROTOCOL_VIOLATION, why);
    this.session.sendControl({ type: 'cancel', transferId: this.id, role: 'receiver', reason: why });
    this.end(state, why, 'me');
  }
}
