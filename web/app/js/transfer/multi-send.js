// One set of files offered to several peers at once. Each receiver gets its own offer(s) on its
// own link and engine, so each consents on its own and one declining, cancelling or vanishing
// ends only its own transfers. The files are the same File objects for every receiver: each
// engine reads `File.slice()`s as its receiver takes them, so the sender holds no copy per
// receiver (and never a whole file).

/**
 * @typedef {import('./transfer.js').Transfer} Transfer
 * @typedef {import('../ui/file-picking.js').SendItem} SendItem
 * @typedef {'connecting' | 'waiting' | 'active' | 'done' | 'declined' | 'cancelled' | 'failed'} ReceiverState
 */

/** What is sent to one receiver: all the transfers its offer was split into, as one row. */
export class ReceiverSend extends EventTarget {
  /**
   * @param {{id: string, name: string}} peer
   * @param {() => Promise<Transfer[]>} offer connects if needed and offers the files
   */
  constructor(peer, offer) {
    super();
    this.peer = peer;
    /** @type {Transfer[]} */
    this.transfers = [];
    /** Set when connecting or offering failed before any transfer existed. */
    this.error = '';
    this.cancelled = false;
    /** The transfer that ended early first: its ending is the row's (the rest were cancelled because of it). @type {Transfer | null} */
    this.cause = null;
    offer().then(
      (transfers) => {
        this.transfers = transfers;
        for (const tr of transfers) tr.addEventListener('update', () => this.settle());
        // Cancelled while still connecting: the offers go out and are withdrawn at once.
        if (this.cancelled) this.cancel();
        this.settle();
      },
      (e) => {
        this.error = /** @type {Error} */ (e)?.message ?? String(e);
        this.changed();
      },
    );
  }

  /** @returns {ReceiverState} */
  get state() {
    if (this.error) return 'failed';
    if (this.transfers.length === 0) return this.cancelled ? 'cancelled' : 'connecting';
    if (this.cause) return /** @type {ReceiverState} */ (this.cause.state);
    const states = this.transfers.map((t) => t.state);
    if (states.every((s) => s === 'done')) return 'done';
    return states.includes('active') || states.includes('done') ? 'active' : 'waiting';
  }

  get finished() {
    const s = this.state;
    return s !== 'connecting' && s !== 'waiting' && s !== 'active';
  }

  get totalSize() {
    return this.transfers.reduce((n, t) => n + t.totalSize, 0);
  }

  get bytes() {
    return this.transfers.reduce((n, t) => n + t.files.reduce((m, f) => m + f.bytes, 0), 0);
  }

  /** Files the receiver verified, files that failed verification, files in all. */
  get verification() {
    const files = this.transfers.flatMap((t) => t.files);
    return {
      verified: files.filter((f) => f.state === 'verified').length,
      mismatch: files.filter((f) => f.state === 'mismatch').length,
      total: files.length,
    };
  }

  /** The first reason a transfer of this receiver gave for ending early. */
  get reason() {
    return this.error || this.cause?.error || (this.transfers.find((t) => t.error)?.error ?? '');
  }

  /** Stops every transfer of this receiver (the receiver is told); the others go on. */
  cancel() {
    this.cancelled = true;
    for (const t of this.transfers) t.cancel('cancelled by the sender');
    this.changed();
  }

  /**
   * A selection split into several offers is one selection: when one part is declined or ends
   * early, the rest would arrive incomplete, so they are cancelled too (as the CLI does).
   */
  settle() {
    const ended = this.cause ?? this.transfers.find((t) => t.state === 'declined' || t.state === 'cancelled' || t.state === 'failed');
    if (ended) {
      this.cause = ended;
      for (const t of this.transfers) if (!t.finished) t.cancel(`part of the selection was ${ended.state}`);
    }
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event('update'));
  }
}

/**
 * Offers `items` to every target at once.
 * @param {{peer: {id: string, name: string}, offer: (items: SendItem[]) => Promise<Transfer[]>}[]} targets
 * @param {SendItem[]} items
 * @returns {ReceiverSend[]}
 */
export function sendToMany(targets, items) {
  return targets.map(({ peer, offer }) => new ReceiverSend(peer, () => offer(items)));
}
