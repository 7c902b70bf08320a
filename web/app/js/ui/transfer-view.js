// One transfer (either direction) in a peer card: per-file progress, speed and ETA, state,
// errors, and a cancel button while it runs.

import { h, formatBytes, formatDuration } from './dom.js';
import { t } from '../i18n.js';

/** @typedef {import('../transfer/engine.js').Transfer} Transfer */

const RENDER_EVERY_MS = 100;

const STATE_KEYS = {
  waiting: 'stateWaiting',
  active: 'stateActive',
  done: 'stateDone',
  declined: 'stateDeclined',
  cancelled: 'stateCancelled',
  failed: 'stateFailed',
};

/** @param {Transfer} tr @param {string} peerName */
export function transferView(tr, peerName) {
  const title = h('span', { class: 'transfer-title' });
  // A live region: "waiting" → "in progress" → "done" is spoken as it changes (a few times per
  // transfer; the per-file percentages are not, they change many times a second).
  const state = h('span', { class: 'badge', testid: 'transfer-state', role: 'status' });
  const speed = h('span', { class: 'hint', testid: 'transfer-speed' });
  const cancel = h('button', { type: 'button', class: 'danger small', testid: 'transfer-cancel', onclick: () => tr.cancel() });
  const error = h('p', { class: 'error', testid: 'transfer-error', hidden: true });
  // A send cut short by a lost connection: the rest follows when the peer is back (resend.js).
  const resendText = h('span', { testid: 'transfer-resend-state' });
  const resendDrop = h('button', { type: 'button', class: 'secondary small', testid: 'transfer-resend-drop', onclick: () => tr.dropResend?.() });
  const resend = h('p', { class: 'hint', testid: 'transfer-resend', hidden: true }, resendText, ' ', resendDrop);
  const files = tr.files.map((f) => {
    const bar = /** @type {HTMLProgressElement} */ (h('progress', { testid: 'file-progress', max: String(Math.max(1, f.size)), value: '0', 'aria-label': f.path }));
    const st = h('span', { class: 'file-state', testid: 'file-state' });
    const row = h('li', { class: 'transfer-file', testid: 'transfer-file', dataset: { path: f.path } }, h('span', { text: `${f.path} (${formatBytes(f.size)})` }), st, bar);
    // What the row shows now: only rows whose file changed are written again.
    return { f, bar, st, row, shown: '' };
  });
  const el = h(
    'li',
    { class: 'transfer', testid: 'transfer', dataset: { direction: tr.direction, transferId: String(tr.id) } },
    h('div', { class: 'transfer-head' }, title, state, speed, cancel),
    error,
    resend,
    h('ul', { class: 'transfer-files' }, ...files.map((x) => x.row)),
  );

  const render = () => {
    el.dataset.state = tr.state;
    title.textContent = `${tr.direction === 'send' ? t('sending') : t('receiving')} · ${formatBytes(tr.totalSize)}`;
    state.textContent = tr.state === 'waiting' && tr.direction === 'send' ? t('waitingAccept', { name: peerName }) : t(STATE_KEYS[tr.state]);
    cancel.textContent = t('cancel');
    cancel.hidden = tr.finished;
    if (tr.state === 'active' && tr.startedAt) {
      const secs = (performance.now() - tr.startedAt) / 1000;
      const rate = secs > 0 ? tr.bytesDone / secs : 0;
      const left = tr.totalSize - tr.files.reduce((s, f) => s + f.bytes, 0);
      speed.textContent = rate > 0 ? t('eta', { speed: formatBytes(rate), eta: formatDuration(left / rate) }) : '';
    } else {
      speed.textContent = '';
    }
    let err = tr.error;
    if (tr.state === 'cancelled') err = tr.endedBy === 'peer' ? `${peerName}: ${tr.error}` : tr.error;
    if (tr.state === 'declined') err = tr.endedBy === 'peer' ? `${peerName}: ${t('stateDeclined')}` : '';
    error.textContent = err;
    error.hidden = !err;
    resend.hidden = tr.resend === '';
    resend.dataset.state = tr.resend;
    resendText.textContent = tr.resend === 'waiting' ? t('resendWaiting', { name: peerName }) : tr.resend === 'offered' ? t('resendOffered', { name: peerName }) : '';
    resendDrop.textContent = t('resendDrop');
    resendDrop.hidden = tr.resend !== 'waiting';
    for (const x of files) {
      const { f, bar, st, row } = x;
      const key = `${f.state}|${f.bytes}|${lang}`;
      if (x.shown === key) continue;
      x.shown = key;
      bar.value = f.bytes;
      row.dataset.state = f.state;
      st.dataset.state = f.state;
      st.textContent = f.state === 'verified' ? `✓ ${t('fileVerified')}` : f.state === 'mismatch' ? t('fileMismatch') : f.state === 'failed' ? t('stateFailed') : `${Math.floor((100 * f.bytes) / Math.max(1, f.size))}%`;
    }
  };
  // A transfer of thousands of small files changes many times a millisecond: draw at most every
  // RENDER_EVERY_MS (and at once when it ends), touching only the rows that changed, or the page
  // spends its time redrawing a long list instead of moving files.
  let lang = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let last = 0;
  const update = () => {
    if (tr.finished) {
      clearTimeout(timer);
      timer = undefined;
      render();
      return;
    }
    if (timer !== undefined) return;
    const wait = Math.max(0, last + RENDER_EVERY_MS - performance.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = performance.now();
      render();
    }, wait);
  };
  tr.addEventListener('update', update);
  window.addEventListener('ferry-lang', () => {
    lang++;
    render();
  });
  render();
  return el;
}
