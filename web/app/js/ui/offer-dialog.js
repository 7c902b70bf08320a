// The incoming-offer dialog: who, what (names and sizes), accept or decline. Nothing is written
// before accept. Warns when the files would have to be held in memory.

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';
import { memoryBudgetBytes } from '../storage/sinks.js';
import { announce } from './announcer.js';

/** Offers from this size on say that what arrives is kept for a resume. */
const KEEPS_HINT_BYTES = 16 * 1024 * 1024;

/**
 * One dialog for one offer, or for every part of a selection that came as several offers (each
 * part keeps its own transfer; they are answered together).
 * @param {(import('../transfer/engine.js').Transfer & {accept: Function, decline: Function})[]} parts
 * @param {string} peerName
 * @param {{streaming: boolean, onAccept: () => void, extra?: HTMLElement | null, resumable?: number, keeps?: boolean}} opts `extra`: more for the
 *   dialog (the notifications button); `resumable`: bytes kept from an earlier attempt at these
 *   files, which the transfer resumes from; `keeps`: what arrives is kept for a resume
 */
export function showOfferDialog(parts, peerName, opts) {
  const files = parts.flatMap((tr) => tr.files);
  const totalSize = parts.reduce((sum, tr) => sum + tr.totalSize, 0);
  const warn = !opts.streaming && totalSize > memoryBudgetBytes();
  // Said where a broken-off transfer would cost something to start again.
  const keeps = opts.keeps && !opts.resumable && totalSize >= KEEPS_HINT_BYTES;
  let answered = false;
  const declineAll = () => {
    answered = true;
    for (const tr of parts) if (tr.state === 'waiting') tr.decline();
  };
  /** @type {HTMLDialogElement} */
  const dialog = /** @type {any} */ (
    h(
      'dialog',
      { testid: 'offer-dialog', 'aria-labelledby': `offer-title-${parts[0].id}`, dataset: { transferId: String(parts[0].id), parts: String(parts.length) } },
      h('h2', { class: 'offer-title', id: `offer-title-${parts[0].id}`, testid: 'offer-summary' }, t('incomingOffer', { name: peerName, count: files.length, size: formatBytes(totalSize) })),
      h('ul', {}, ...files.slice(0, 500).map((f) => h('li', { testid: 'offer-file', dataset: { path: f.path } }, `${f.path} — ${formatBytes(f.size)}`))),
      files.length > 500 ? h('p', { class: 'hint' }, `… +${files.length - 500}`) : null,
      opts.resumable ? h('p', { class: 'hint', testid: 'offer-resumable' }, t('offerResumable', { size: formatBytes(opts.resumable) })) : null,
      keeps ? h('p', { class: 'hint', testid: 'offer-keeps' }, t('offerKeeps')) : null,
      warn ? h('p', { class: 'warn', testid: 'offer-memory-warning' }, t('memoryWarning', { size: formatBytes(totalSize) })) : null,
      opts.extra ?? null,
      h(
        'div',
        { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'secondary', testid: 'offer-decline', onclick: () => { declineAll(); close(); } }, t('decline')),
        h('button', { type: 'button', testid: 'offer-accept', onclick: () => { answered = true; opts.onAccept(); close(); } }, t('accept')),
      ),
    )
  );
  const close = () => {
    dialog.close();
    dialog.remove();
  };
  // The sender may cancel, or the connection drop, while we are still asking: a selection is
  // all or nothing, so one part gone declines the rest.
  for (const tr of parts) {
    tr.addEventListener('update', () => {
      if (answered || tr.state === 'waiting' || !dialog.isConnected) return;
      declineAll();
      close();
    });
  }
  document.getElementById('dialogs')?.append(dialog);
  dialog.showModal();
  announce(t('announceOffer', { name: peerName, count: files.length, size: formatBytes(totalSize) }));
}
