// The incoming-offer dialog: who, what (names and sizes), accept or decline. Nothing is written
// before accept. Warns when the files would have to be held in memory.

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';
import { memoryBudgetBytes } from '../storage/sinks.js';

/**
 * @param {import('../transfer/engine.js').Transfer & {accept: Function, decline: Function}} tr
 * @param {string} peerName
 * @param {{streaming: boolean, onAccept: () => void}} opts
 */
export function showOfferDialog(tr, peerName, opts) {
  const warn = !opts.streaming && tr.totalSize > memoryBudgetBytes();
  /** @type {HTMLDialogElement} */
  const dialog = /** @type {any} */ (
    h(
      'dialog',
      { testid: 'offer-dialog', dataset: { transferId: String(tr.id) } },
      h('p', { testid: 'offer-summary' }, t('incomingOffer', { name: peerName, count: tr.files.length, size: formatBytes(tr.totalSize) })),
      h('ul', {}, ...tr.files.slice(0, 500).map((f) => h('li', { testid: 'offer-file', dataset: { path: f.path } }, `${f.path} — ${formatBytes(f.size)}`))),
      tr.files.length > 500 ? h('p', { class: 'hint' }, `… +${tr.files.length - 500}`) : null,
      warn ? h('p', { class: 'warn', testid: 'offer-memory-warning' }, t('memoryWarning', { size: formatBytes(tr.totalSize) })) : null,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'secondary', testid: 'offer-decline', onclick: () => { tr.decline(); close(); } }, t('decline')),
        h('button', { type: 'button', testid: 'offer-accept', onclick: () => { opts.onAccept(); close(); } }, t('accept')),
      ),
    )
  );
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  // The sender may cancel, or the connection drop, while we are still asking.
  tr.addEventListener('update', () => {
    if (tr.state !== 'waiting' && dialog.isConnected) close();
  });
  document.getElementById('dialogs')?.append(dialog);
  dialog.showModal();
}
