// Sends again what a lost connection cut short. When a transfer we send fails because the
// connection was lost (not declined, cancelled or refused by a hash check), the files not yet
// verified are kept — the Files the user picked, which are references, not copies — and offered
// again as soon as the peer is back: a receiver that reloaded its tab or lost its network comes
// back with the same peer id (its signaling token, per tab), the link connects, and the offer
// goes out on the new session. Where the receiver kept what arrived (storage/kept-partials.js),
// its accept resumes from there; it still chooses whether to accept.
//
// At most MAX_RESENDS automatic offers follow one selection, so a peer that keeps dropping is
// not offered the files for ever; the failed row says that the rest follows and lets the user
// drop it (transfer-view.js). Pending resends live as long as this tab.

/**
 * @typedef {import('../rtc/peer-link.js').PeerLink} PeerLink
 * @typedef {import('./engine.js').TransferSession} TransferSession
 * @typedef {import('./outgoing.js').OutgoingTransfer} OutgoingTransfer
 * @typedef {{blob: Blob, path: string, mtime?: number}} Item
 * @typedef {{items: Item[], attempt: number, from: OutgoingTransfer}} Pending
 */

export const MAX_RESENDS = 3;
/** A connection attempt for a pending resend that fails is tried again this many times, backing off from 2 s. */
const MAX_RETRIES = 5;

/** @param {OutgoingTransfer} tr */
function lostConnection(tr) {
  return tr.state === 'failed' && tr.endedBy === '' && /^(connection lost|not connected)/.test(tr.error);
}

export class Resender {
  /** @param {{isPresent: (peerId: string) => boolean}} deps whether the peer is in a room we share */
  constructor(deps) {
    this.deps = deps;
    /** @type {Map<PeerLink, Pending[]>} */
    this.pending = new Map();
    /** Which resend a transfer is (0: the user's own offer). @type {WeakMap<OutgoingTransfer, number>} */
    this.attempts = new WeakMap();
    /** @type {WeakSet<PeerLink>} */
    this.attached = new WeakSet();
    /** Failed connection attempts since the last resend went out, by link. @type {Map<PeerLink, number>} */
    this.retries = new Map();
  }

  /** @param {PeerLink} link */
  attach(link) {
    if (this.attached.has(link)) return;
    this.attached.add(link);
    link.addEventListener('session', (e) => {
      const session = /** @type {TransferSession} */ (/** @type {CustomEvent} */ (e).detail);
      session.addEventListener('transfer', (ev) => {
        const tr = /** @type {CustomEvent} */ (ev).detail;
        if (tr.direction === 'send') this.track(link, tr);
      });
      // After every other 'session' listener: the peer card attaches to the session in one,
      // and a transfer offered before that would have no row (the resent send ran unseen).
      queueMicrotask(() => this.flush(link, session));
    });
    // An attempt made as the connection dropped can fail later (a relay set up through a dying
    // server times out): try again, a few times, once the peer is back.
    link.addEventListener('state', (e) => {
      const { state } = /** @type {CustomEvent} */ (e).detail;
      if (state !== 'failed' || !this.pending.get(link)?.length) return;
      const n = (this.retries.get(link) ?? 0) + 1;
      this.retries.set(link, n);
      if (n <= MAX_RETRIES) setTimeout(() => this.reconnect(link), 1000 * 2 ** n);
    });
  }

  /** @param {PeerLink} link @param {OutgoingTransfer} tr */
  track(link, tr) {
    const onUpdate = () => {
      if (!tr.finished) return;
      tr.removeEventListener('update', onUpdate);
      if (!lostConnection(tr)) return;
      const attempt = (this.attempts.get(tr) ?? 0) + 1;
      if (attempt > MAX_RESENDS) return;
      /** @type {Item[]} */
      const items = [];
      tr.files.forEach((f, i) => {
        if (f.state === 'verified') return;
        items.push(f.mtime === undefined ? { blob: tr.blobs[i], path: f.path } : { blob: tr.blobs[i], path: f.path, mtime: f.mtime });
      });
      if (items.length === 0) return;
      const entry = { items, attempt, from: tr };
      const list = this.pending.get(link) ?? [];
      list.push(entry);
      this.pending.set(link, list);
      tr.resend = 'waiting';
      tr.dropResend = () => {
        const l = this.pending.get(link) ?? [];
        const at = l.indexOf(entry);
        if (at >= 0) l.splice(at, 1);
        tr.resend = '';
        tr.changed();
      };
      tr.changed();
      // Still there (the connection dropped, the peer did not leave): connect again now.
      this.reconnect(link);
    };
    tr.addEventListener('update', onUpdate);
  }

  /** Who is around changed: reconnect to peers that are back and have files waiting for them. @param {Iterable<PeerLink>} links */
  onDirectoryChange(links) {
    for (const link of links) this.reconnect(link);
  }

  /** @param {PeerLink} link */
  reconnect(link) {
    if (!this.pending.get(link)?.length || !this.deps.isPresent(link.opts.peerId)) return;
    if (link.session && !link.session.closed) this.flush(link, link.session);
    else if (link.state !== 'connecting') link.connect().catch(() => {});
  }

  /** Offers everything waiting for this link on `session`. @param {PeerLink} link @param {TransferSession} session */
  flush(link, session) {
    const list = this.pending.get(link);
    if (!list?.length || session.closed) return;
    this.pending.delete(link);
    this.retries.delete(link);
    for (const entry of list) {
      try {
        for (const tr of session.sendSelection(entry.items)) this.attempts.set(tr, entry.attempt);
        entry.from.resend = 'offered';
      } catch (e) {
        console.warn('resend failed', e);
        entry.from.resend = '';
      }
      entry.from.changed();
    }
  }
}
