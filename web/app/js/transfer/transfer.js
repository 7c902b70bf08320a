// What both directions of a transfer share: the Transfer base class (state, files, `update`
// events, cancel and end) and the types of sinks. Outgoing transfers are in outgoing.js, incoming
// ones in incoming.js, the session that dispatches the peer's messages to them in engine.js —
// the same split as crates/ferry-engine/src/{outgoing,incoming,lib}.rs.

/**
 * @typedef {import('./engine.js').TransferSession} TransferSession
 * @typedef {import('../protocol/control.js').ValidatedFile} ValidatedFile
 *
 * Where a received file goes. `write` may return a promise (the engine awaits it before the next
 * frame of that transfer); `close` is called only after the file's hash was verified; `abort`
 * on mismatch, cancel or a lost connection — the sink must then not present the data as a file.
 * @typedef {{write(bytes: Uint8Array): void | Promise<void>, close(): Promise<void>, abort(reason: string, keep?: boolean): void | Promise<void>}} FileSink
 * `offset` > 0: the sink keeps the first `offset` bytes it already holds (a resumed prefix) and
 * appends after them. `abort(reason, keep)`: `keep` false when the partial data is of no use for
 * a resume (this side cancelled).
 * @typedef {(file: ValidatedFile, index: number, transfer: Transfer, offset?: number) => FileSink | Promise<FileSink>} SinkFactory
 *
 * @typedef {'pending' | 'active' | 'verifying' | 'verified' | 'mismatch' | 'failed'} FileState
 * @typedef {{path: string, size: number, type: string, mtime?: number, bytes: number, state: FileState}} TransferFile
 * @typedef {'waiting' | 'active' | 'done' | 'declined' | 'cancelled' | 'failed'} TransferState
 */

/** A file transfer in one direction; emits `update` whenever anything visible changes. */
export class Transfer extends EventTarget {
  /**
   * @param {TransferSession} session @param {number} id @param {'send' | 'receive'} direction
   * @param {TransferFile[]} files
   */
  constructor(session, id, direction, files) {
    super();
    this.session = session;
    this.id = id;
    this.direction = direction;
    this.files = files;
    this.totalSize = files.reduce((s, f) => s + f.size, 0);
    /** @type {TransferState} */
    this.state = 'waiting';
    /** Bytes moved in this session (excluding resumed prefixes), for speed and ETA. */
    this.bytesDone = 0;
    this.startedAt = 0;
    /** @type {string} */
    this.error = '';
    /** Who ended it early: 'me' or 'peer'. @type {'' | 'me' | 'peer'} */
    this.endedBy = '';
    this.current = 0;
    /** A send cut short by a lost connection (transfer/resend.js): 'waiting' for the peer to be back, then 'offered' again. @type {'' | 'waiting' | 'offered'} */
    this.resend = '';
    /** Drops the pending resend (while `resend` is 'waiting'). @type {(() => void) | null} */
    this.dropResend = null;
  }

  get role() {
    return this.direction === 'send' ? 'sender' : 'receiver';
  }

  get finished() {
    return this.state === 'done' || this.state === 'declined' || this.state === 'cancelled' || this.state === 'failed';
  }

  changed() {
    this.dispatchEvent(new Event('update'));
  }

  /** Stop this transfer; the peer is told (unless our offer never left). @param {string} [reason] */
  cancel(reason = 'cancelled by user') {
    if (this.finished) return;
    if (!(this.direction === 'send' && this.session.unhold(this.id))) {
      this.session.sendControl({ type: 'cancel', transferId: this.id, role: this.role, reason });
    }
    this.end('cancelled', reason, 'me');
  }

  /** @param {TransferState} state @param {string} error @param {'' | 'me' | 'peer'} by */
  end(state, error, by) {
    if (this.finished) return;
    this.state = state;
    this.error = error;
    this.endedBy = by;
    for (const f of this.files) if (f.state === 'active' || f.state === 'pending' || f.state === 'verifying') f.state = 'failed';
    this.cleanup();
    this.session.forget(this);
    this.changed();
  }

  cleanup() {}
}
