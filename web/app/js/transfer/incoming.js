// A transfer we receive: consent, then its frames and file-ends strictly in order in its own
// queue, each checked (file, offset, size) before it is written; hashes verified before a file is
// presented as complete.

import { FEATURE_FLOW, TransferErrorCode } from '../protocol/constants.js';
import { Transfer } from './transfer.js';

/**
 * @typedef {import('./engine.js').TransferSession} TransferSession
 * @typedef {import('../hash/hasher.js').Hasher} Hasher
 * @typedef {import('../protocol/control.js').ValidatedFile} ValidatedFile
 * @typedef {import('./transfer.js').FileSink} FileSink
 * @typedef {import('./transfer.js').SinkFactory} SinkFactory
 * @typedef {import('./transfer.js').FileState} FileState
 * @typedef {import('./transfer.js').TransferState} TransferState
 * @typedef {{index: number, offset: number, sha256: string, hasher: Hasher}} ResumeFrom
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
    /**
     * Flow control when accepted with credit (docs/protocol.md "Flow control"): payload bytes
     * granted, received in frames and written by the sink, as FlowIn in the Rust engine.
     * @type {{window: number, granted: number, received: number, written: number} | null}
     */
    this.flow = null;
    /**
     * Files resumed from a kept prefix, by index: its length, and the whole-file hasher that
     * has hashed it (the frames continue it). @type {Map<number, {offset: number, hasher: Hasher}>}
     */
    this.resumed = new Map();
  }

  /**
   * Consent: from now on frames are written through sinks from `sinkFactory`. `resume` lists
   * kept prefixes (keptPrefixes below): the sender checks each by its hash and continues after it.
   * @param {SinkFactory} sinkFactory @param {ResumeFrom[]} [resume]
   */
  accept(sinkFactory, resume = []) {
    if (this.state !== 'waiting') {
      for (const r of resume) r.hasher.drop();
      return;
    }
    this.sinkFactory = sinkFactory;
    this.state = 'active';
    this.startedAt = performance.now();
    for (const r of resume) {
      this.resumed.set(r.index, { offset: r.offset, hasher: r.hasher });
      this.files[r.index].bytes = r.offset;
    }
    const points = resume.map((r) => ({ index: r.index, offset: r.offset, sha256: r.sha256 }));
    const window = this.session.peerFeatures.includes(FEATURE_FLOW) ? this.session.flowWindow : null;
    if (window !== null) {
      this.flow = { window, granted: window, received: 0, written: 0 };
      this.session.sendControl({ type: 'accept', transferId: this.id, ...(points.length ? { resume: points } : {}), credit: window });
    } else {
      this.session.sendControl({ type: 'accept', transferId: this.id, ...(points.length ? { resume: points } : {}) });
    }
    this.changed();
  }

  /**
   * The sink has written `n` more bytes: grant them to the sender once an eighth of the window
   * is owed (any step up to the window keeps the sender going). As Engine::written in Rust.
   * @param {number} n
   */
  written(n) {
    const fl = this.flow;
    if (!fl || this.finished) return;
    fl.written = Math.min(fl.written + n, fl.received);
    const owed = fl.written + fl.window - fl.granted;
    if (owed >= Math.max(1, Math.floor(fl.window / 8))) {
      fl.granted += owed;
      this.session.sendControl({ type: 'credit', transferId: this.id, bytes: owed });
    }
  }

  decline() {
    if (this.state !== 'waiting') return;
    this.session.sendControl({ type: 'decline', transferId: this.id });
    this.end('declined', '', 'me');
  }

  cleanup() {
    // Partial data is worth keeping for a resume unless this side cancelled.
    this.sink?.abort(this.error || this.state, !(this.state === 'cancelled' && this.endedBy === 'me'));
    this.sink = null;
    this.hasher?.drop();
    this.hasher = null;
    for (const r of this.resumed.values()) r.hasher.drop();
    this.resumed.clear();
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
    const r = this.resumed.get(this.current);
    this.resumed.delete(this.current);
    this.hasher = r?.hasher ?? this.session.hasherFactory();
    this.sink = await /** @type {SinkFactory} */ (this.sinkFactory)(file, this.current, this, r?.offset ?? 0);
  }

  /**
   * The sender found our kept prefix of file `index` different from its file: it sends the file
   * from byte 0. Only for the file in progress, resumed, before any of its frames.
   * @param {number} index
   */
  onFileRestart(index) {
    this.enqueue(() => {
      const r = this.resumed.get(index);
      if (index !== this.current || !r || this.sink) return this.violation(`file-restart for file ${index}, which is not a resumed file yet to start`);
      r.hasher.drop();
      this.resumed.delete(index);
      this.files[index].bytes = 0;
      this.changed();
    });
  }

  /** @param {import('../protocol/frames.js').DataFrame} f */
  onFrame(f) {
    // Credit is checked as frames arrive, not as the queue reaches them: the queue is what it bounds.
    const fl = this.flow;
    if (fl) {
      if (fl.received + f.payload.byteLength > fl.granted) {
        return this.violation(`data beyond the credit: ${fl.granted} bytes granted, ${fl.received} received before this frame of ${f.payload.byteLength}`);
      }
      fl.received += f.payload.byteLength;
    }
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
      this.written(f.payload.byteLength);
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

/** Bytes read at a time while hashing a kept prefix. */
const PREFIX_READ_BYTES = 4 * 1024 * 1024;

/**
 * The kept prefixes of an offer's files, hashed for `accept`: per file with one, its length, its
 * SHA-256 (sent, for the sender to check) and a whole-file hasher that has hashed it.
 * @param {ValidatedFile[]} files @param {(file: ValidatedFile) => Promise<Blob | null>} kept
 * @param {import('../hash/hasher.js').HasherFactory} hasherFactory
 * @returns {Promise<ResumeFrom[]>}
 */
export async function keptPrefixes(files, kept, hasherFactory) {
  /** @type {ResumeFrom[]} */
  const out = [];
  for (const [index, file] of files.entries()) {
    const blob = await kept(file);
    if (!blob || blob.size === 0 || blob.size > file.size) continue;
    const whole = hasherFactory();
    const prefix = hasherFactory();
    for (let off = 0; off < blob.size; off += PREFIX_READ_BYTES) {
      const bytes = new Uint8Array(await blob.slice(off, Math.min(blob.size, off + PREFIX_READ_BYTES)).arrayBuffer());
      prefix.update(bytes.slice());
      whole.update(bytes);
    }
    out.push({ index, offset: blob.size, sha256: await prefix.digest(), hasher: whole });
  }
  return out;
}
