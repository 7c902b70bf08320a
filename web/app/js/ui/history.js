// The session's transfer history: every transfer that ended (either direction), newest first —
// what (file names, count, size), to or from whom, how it ended and how many files were verified
// end to end. Kept in sessionStorage, so a reload of the tab keeps it and closing the tab ends it.

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';
import { announce } from './announcer.js';

const KEY = 'ferry-history';
const MAX_ENTRIES = 200;
const NAMES_SHOWN = 3;

/**
 * @typedef {{direction: 'send' | 'receive', peer: string, names: string[], count: number,
 *   size: number, state: string, verified: number, at: number}} HistoryEntry
 * @typedef {import('../transfer/transfer.js').Transfer} Transfer
 */

const STATE_KEYS = /** @type {Record<string, string>} */ ({
  done: 'stateDone',
  declined: 'stateDeclined',
  cancelled: 'stateCancelled',
  failed: 'stateFailed',
});

export class TransferHistory {
  /** @param {HTMLElement} list @param {HTMLElement} emptyHint */
  constructor(list, emptyHint) {
    this.list = list;
    this.emptyHint = emptyHint;
    /** @type {HistoryEntry[]} */
    this.entries = load();
    window.addEventListener('ferry-lang', () => this.render());
    this.render();
  }

  /** Records the transfer once it ends. @param {Transfer} tr @param {() => string} peerName */
  track(tr, peerName) {
    const done = () => {
      if (!tr.finished) return;
      tr.removeEventListener('update', done);
      /** @type {HistoryEntry} */
      const entry = {
        direction: tr.direction,
        peer: peerName(),
        names: tr.files.slice(0, NAMES_SHOWN).map((f) => f.path),
        count: tr.files.length,
        size: tr.totalSize,
        state: tr.state,
        verified: tr.files.filter((f) => f.state === 'verified').length,
        at: Date.now(),
      };
      this.entries.unshift(entry);
      this.entries.length = Math.min(this.entries.length, MAX_ENTRIES);
      save(this.entries);
      this.render();
      announce(
        t('announceDone', {
          direction: tr.direction === 'send' ? t('sending') : t('receiving'),
          count: entry.count,
          name: entry.peer,
          state: t(STATE_KEYS[entry.state] ?? 'stateDone'),
        }),
      );
    };
    tr.addEventListener('update', done);
    done();
  }

  render() {
    this.emptyHint.hidden = this.entries.length > 0;
    this.list.replaceChildren(...this.entries.map(entryView));
  }
}

/** @param {HistoryEntry} e */
function entryView(e) {
  const more = e.count > e.names.length ? ` … +${e.count - e.names.length}` : '';
  const allVerified = e.verified === e.count && e.count > 0;
  return h(
    'li',
    { class: 'history-entry', testid: 'history-entry', dataset: { direction: e.direction, state: e.state, verified: String(e.verified), files: String(e.count) } },
    h('span', { class: 'history-dir', 'aria-hidden': 'true' }, e.direction === 'send' ? '↑' : '↓'),
    h(
      'div',
      { class: 'history-main' },
      h('p', { class: 'history-who', testid: 'history-who' }, t(e.direction === 'send' ? 'historySent' : 'historyReceived', { name: e.peer })),
      h('p', { class: 'history-what', testid: 'history-what' }, e.names.join(', ') + more),
      h(
        'p',
        { class: 'hint history-meta' },
        h('time', { datetime: new Date(e.at).toISOString() }, new Date(e.at).toLocaleTimeString()),
        ' · ',
        t('historyFiles', { count: e.count, size: formatBytes(e.size) }),
        ' · ',
        h('span', { class: 'badge', dataset: { state: e.state } }, t(STATE_KEYS[e.state] ?? 'stateDone')),
        ' ',
        e.count
          ? h('span', { class: 'file-state', testid: 'history-verified', dataset: { state: allVerified ? 'verified' : '' } }, `${allVerified ? '✓ ' : ''}${t('historyVerified', { n: e.verified, total: e.count })}`)
          : null,
      ),
    ),
  );
}

/** @returns {HistoryEntry[]} */
function load() {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((e) => e && typeof e.peer === 'string' && Array.isArray(e.names)) : [];
  } catch {
    return [];
  }
}

/** @param {HistoryEntry[]} entries */
function save(entries) {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(entries));
  } catch {
    // Storage full or blocked: the list on screen is still right for this page.
  }
}
