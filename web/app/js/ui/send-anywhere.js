// Sending in one gesture: files dropped anywhere on the page (not on a card: that card takes
// them), files or text pasted with Ctrl/⌘+V outside a text field, and what another app shared
// into the installed app. With exactly one device listed it goes to that device; otherwise a
// dialog asks which (and follows the list while open, so a device that appears can be chosen).

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';
import { itemsFromDrop, itemsFromFileList } from './file-picking.js';

/**
 * @typedef {import('./file-picking.js').SendItem} SendItem
 * @typedef {{items: SendItem[], text?: undefined} | {text: string, items?: undefined}} Payload
 * @typedef {{id: string, name: string, send(items: SendItem[]): Promise<void>, sendText(text: string): Promise<void>}} Target
 */

export class SendAnywhere {
  /**
   * @param {() => Target[]} targets the devices listed now
   * @param {EventTarget} changes fires `change` when the list may have changed
   */
  constructor(targets, changes) {
    this.targets = targets;
    this.changes = changes;
  }

  /** Page-wide drop and paste. @param {HTMLElement} overlay shown while files are dragged over the page */
  listen(overlay) {
    let depth = 0;
    const hasFiles = (/** @type {DragEvent} */ e) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    document.addEventListener('dragenter', (e) => {
      if (!hasFiles(e)) return;
      depth += 1;
      overlay.hidden = false;
    });
    document.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) overlay.hidden = true;
    });
    document.addEventListener('dragover', (e) => {
      if (hasFiles(e)) e.preventDefault();
    });
    document.addEventListener('drop', async (e) => {
      depth = 0;
      overlay.hidden = true;
      // A peer card or the send-to-several box handled it already.
      if (e.defaultPrevented || !e.dataTransfer) return;
      e.preventDefault();
      const items = await itemsFromDrop(e.dataTransfer);
      if (items.length) this.offer({ items });
    });
    document.addEventListener('paste', (e) => {
      const data = e.clipboardData;
      if (!data) return;
      const files = itemsFromFileList(data.files);
      if (files.length) {
        e.preventDefault();
        this.offer({ items: files });
        return;
      }
      if (isEditable(e.target)) return;
      const text = data.getData('text/plain');
      if (!text.trim()) return;
      e.preventDefault();
      this.offer({ text });
    });
  }

  /**
   * Sends to the only device, or asks which one.
   * @param {Payload} payload @param {{alwaysAsk?: boolean, title?: string}} [opts]
   */
  offer(payload, opts = {}) {
    const list = this.targets();
    if (list.length === 1 && !opts.alwaysAsk) return void deliver(list[0], payload);
    this.choose(payload, opts.title ?? t('chooseTitle'));
  }

  /** @param {Payload} payload @param {string} title */
  choose(payload, title) {
    const summary = payload.items
      ? t('chooseFiles', { count: payload.items.length, size: formatBytes(payload.items.reduce((n, i) => n + i.blob.size, 0)) })
      : t('chooseText', { text: payload.text.length > 80 ? `${payload.text.slice(0, 80)}…` : payload.text });
    const list = h('ul', { class: 'chooser-list', testid: 'chooser-list' });
    const nobody = h('p', { class: 'hint', testid: 'chooser-nobody' }, t('chooseNobody'));
    const titleEl = h('h2', { class: 'chooser-title', id: 'chooser-title' }, title);
    /** @type {HTMLDialogElement} */
    const dialog = /** @type {any} */ (
      h(
        'dialog',
        { testid: 'peer-chooser', 'aria-labelledby': 'chooser-title' },
        titleEl,
        h('p', { testid: 'chooser-summary' }, summary),
        nobody,
        list,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'secondary', testid: 'chooser-cancel', onclick: () => close() }, t('cancel'))),
      )
    );
    const render = () => {
      const targets = this.targets();
      nobody.hidden = targets.length > 0;
      list.replaceChildren(
        ...targets.map((target) =>
          h(
            'li',
            {},
            h('button', { type: 'button', class: 'chooser-peer', testid: 'chooser-peer', dataset: { peerId: target.id }, onclick: () => { close(); void deliver(target, payload); } }, target.name),
          ),
        ),
      );
    };
    const close = () => {
      this.changes.removeEventListener('change', render);
      dialog.close();
      dialog.remove();
    };
    this.changes.addEventListener('change', render);
    dialog.addEventListener('cancel', () => this.changes.removeEventListener('change', render));
    render();
    document.getElementById('dialogs')?.append(dialog);
    dialog.showModal();
  }
}

/** @param {Target} target @param {Payload} payload */
function deliver(target, payload) {
  return payload.items ? target.send(payload.items) : target.sendText(payload.text);
}

/** @param {EventTarget | null} el */
function isEditable(el) {
  if (!(el instanceof HTMLElement)) return false;
  return el.isContentEditable || el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && !['checkbox', 'radio', 'button', 'submit', 'file'].includes(el.type));
}
