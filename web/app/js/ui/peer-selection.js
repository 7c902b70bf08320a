// Choosing several peers for one set of files: a checkbox on each peer card, "everyone here",
// "everyone in this room" (rooms view), and a bar to pick or drop the files. Below the bar, one
// block per set sent, with a row per receiver: its state, progress, verification and cancel.

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';
import './multi-send-strings.js';
import { sendPickedAndDropped } from './file-picking.js';
import { sendToMany } from '../transfer/multi-send.js';

/**
 * @typedef {{id: string, name: string, client: string}} PeerInfo
 * @typedef {import('./file-picking.js').SendItem} SendItem
 * @typedef {import('../transfer/multi-send.js').ReceiverSend} ReceiverSend
 * @typedef {(peerId: string) => ((items: SendItem[]) => Promise<import('../transfer/transfer.js').Transfer[]>) | null} OfferFor
 */

const STATE_KEYS = {
  connecting: 'multiConnecting',
  waiting: 'multiWaiting',
  active: 'multiActive',
  done: 'multiDone',
  declined: 'multiDeclined',
  cancelled: 'multiCancelled',
  failed: 'multiFailed',
};

export class PeerSelection {
  /** @param {OfferFor} offerFor how to offer files to a listed peer (null: not listed) */
  constructor(offerFor) {
    this.offerFor = offerFor;
    /** @type {Set<string>} */
    this.selected = new Set();
    /** @type {Map<string, PeerInfo>} the peers listed now */
    this.listed = new Map();
    /** @type {Map<string, HTMLInputElement>} */
    this.boxes = new Map();

    this.titleEl = h('h3', { class: 'multi-title' });
    this.hintEl = h('p', { class: 'hint' });
    this.countEl = h('span', { class: 'badge', testid: 'multi-send-count', 'aria-live': 'polite' });
    this.allBox = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', testid: 'select-all-peers' }));
    this.allLabel = h('span');
    this.filesInput = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: true, testid: 'multi-send-files' }));
    this.folderInput = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: true, webkitdirectory: true, testid: 'multi-send-folder' }));
    this.filesLabel = h('span');
    this.folderLabel = h('span');
    this.batchesEl = h('ul', { class: 'multi-batches', testid: 'multi-send-batches' });
    this.el = h(
      'section',
      { class: 'multi-send', testid: 'multi-send', hidden: true, 'aria-labelledby': 'multi-send-title' },
      this.titleEl,
      this.hintEl,
      h(
        'div',
        { class: 'multi-actions' },
        h('label', { class: 'multi-all' }, this.allBox, ' ', this.allLabel),
        this.countEl,
        h('label', { class: 'pick' }, this.filesLabel, this.filesInput),
        h('label', { class: 'pick' }, this.folderLabel, this.folderInput),
      ),
      this.batchesEl,
    );
    this.titleEl.id = 'multi-send-title';

    this.allBox.addEventListener('change', () => this.selectOnly(this.allBox.checked ? [...this.listed.keys()] : []));
    sendPickedAndDropped(this.el, [this.filesInput, this.folderInput], (items) => this.send(items));
    window.addEventListener('ferry-lang', () => this.renderStatic());
    this.renderStatic();
  }

  /**
   * The checkbox for a peer card (its head is clickable to connect, so clicks stop here).
   * @param {PeerInfo} info
   */
  checkbox(info) {
    const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', class: 'peer-select', testid: 'peer-select' }));
    box.checked = this.selected.has(info.id);
    box.addEventListener('click', (e) => e.stopPropagation());
    box.addEventListener('change', () => {
      if (box.checked) this.selected.add(info.id);
      else this.selected.delete(info.id);
      this.renderStatic();
    });
    this.boxes.set(info.id, box);
    this.labelBox(box, info);
    return box;
  }

  /** @param {HTMLInputElement} box @param {PeerInfo} info */
  labelBox(box, info) {
    box.setAttribute('aria-label', t('multiSelectPeer', { name: info.name }));
  }

  /** @param {Iterable<string>} ids */
  selectOnly(ids) {
    this.selected = new Set([...ids].filter((id) => this.listed.has(id)));
    for (const [id, box] of this.boxes) box.checked = this.selected.has(id);
    this.renderStatic();
  }

  /** "Everyone in this room": adds the room's members to the selection. @param {string[]} ids */
  selectMany(ids) {
    this.selectOnly([...this.selected, ...ids]);
  }

  /** The peers listed now; peers gone are unselected. @param {{info: PeerInfo}[]} peers */
  render(peers) {
    this.listed = new Map(peers.map((p) => [p.info.id, p.info]));
    for (const id of [...this.selected]) if (!this.listed.has(id)) this.selected.delete(id);
    for (const [id, box] of this.boxes) {
      const info = this.listed.get(id);
      if (!box.isConnected && !info) this.boxes.delete(id);
      else if (info) this.labelBox(box, info);
      box.checked = this.selected.has(id);
    }
    this.renderStatic();
  }

  renderStatic() {
    const n = this.selected.size;
    this.el.hidden = this.listed.size === 0 && this.batchesEl.childElementCount === 0;
    this.titleEl.textContent = t('multiTitle');
    this.hintEl.textContent = t('multiHint');
    this.allLabel.textContent = t('multiEveryone');
    this.allBox.checked = n > 0 && n === this.listed.size;
    this.allBox.indeterminate = n > 0 && n < this.listed.size;
    this.countEl.textContent = n ? t('multiSelected', { count: n }) : t('multiNone');
    this.countEl.dataset.count = String(n);
    this.filesLabel.textContent = t('multiSendFiles');
    this.folderLabel.textContent = t('multiSendFolder');
    for (const input of [this.filesInput, this.folderInput]) input.disabled = n === 0;
  }

  /** @param {SendItem[]} items */
  send(items) {
    if (items.length === 0 || this.selected.size === 0) return;
    /** @type {Parameters<typeof sendToMany>[0]} */
    const targets = [];
    for (const id of this.selected) {
      const info = this.listed.get(id);
      const offer = this.offerFor(id);
      if (info && offer) targets.push({ peer: info, offer });
    }
    if (targets.length === 0) return;
    const sends = sendToMany(targets, items);
    this.batchesEl.prepend(batchView(items, sends));
    this.renderStatic();
  }
}

/** @param {SendItem[]} items @param {ReceiverSend[]} sends */
function batchView(items, sends) {
  const size = items.reduce((n, it) => n + it.blob.size, 0);
  const title = h('p', { class: 'multi-batch-title' });
  const rows = sends.map(receiverRow);
  const el = h('li', { class: 'multi-batch', testid: 'multi-send-batch', dataset: { receivers: String(sends.length) } }, title, h('ul', { class: 'multi-rows' }, ...rows));
  const render = () => {
    title.textContent = t('multiBatch', { count: items.length, size: formatBytes(size), receivers: sends.length });
  };
  window.addEventListener('ferry-lang', render);
  render();
  return el;
}

/** @param {ReceiverSend} rs */
function receiverRow(rs) {
  const name = h('span', { class: 'peer-name', testid: 'multi-send-name' });
  const state = h('span', { class: 'badge', testid: 'multi-send-state' });
  const bar = /** @type {HTMLProgressElement} */ (h('progress', { testid: 'multi-send-progress', max: '1', value: '0' }));
  const verified = h('span', { class: 'file-state', testid: 'multi-send-verified' });
  const error = h('p', { class: 'error', testid: 'multi-send-error', hidden: true });
  const cancel = h('button', { type: 'button', class: 'danger small', testid: 'multi-send-cancel', onclick: () => rs.cancel() });
  const row = h('li', { class: 'multi-row', testid: 'multi-send-row', dataset: { peerId: rs.peer.id, state: 'connecting' } }, h('div', { class: 'multi-row-head' }, name, state, verified, cancel), bar, error);
  const render = () => {
    const s = rs.state;
    const v = rs.verification;
    row.dataset.state = s;
    name.textContent = rs.peer.name;
    state.textContent = t(STATE_KEYS[s], { name: rs.peer.name });
    bar.max = Math.max(1, rs.totalSize);
    bar.value = rs.bytes;
    bar.setAttribute('aria-label', t('multiProgressFor', { name: rs.peer.name }));
    verified.dataset.verified = String(v.verified);
    verified.dataset.files = String(v.total);
    verified.dataset.state = v.mismatch ? 'mismatch' : v.total && v.verified === v.total ? 'verified' : '';
    verified.textContent = v.mismatch ? t('multiMismatch', { n: v.mismatch }) : v.verified ? t('multiVerified', { n: v.verified, total: v.total }) : '';
    const why = s === 'declined' ? t('multiDeclinedBy', { name: rs.peer.name }) : s === 'failed' || s === 'cancelled' ? rs.reason : '';
    error.textContent = why;
    error.hidden = !why;
    cancel.textContent = t('multiCancel');
    cancel.setAttribute('aria-label', t('multiCancelFor', { name: rs.peer.name }));
    cancel.hidden = rs.finished;
  };
  rs.addEventListener('update', render);
  // Progress events of the engine come per chunk; a row only needs a few repaints a second.
  const timer = setInterval(() => {
    render();
    if (rs.finished) clearInterval(timer);
  }, 250);
  window.addEventListener('ferry-lang', render);
  render();
  return row;
}
