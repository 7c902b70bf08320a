// The question "pair with this device?": who asks, what pairing means, and the connection's
// security code to compare on both screens before saying yes (a server that swapped keys would
// show two different codes, docs/security.md).

import { h } from './dom.js';
import { t } from '../i18n.js';
import { announce } from './announcer.js';

/**
 * @param {string} peerName @param {string} code "123 456"
 * @param {import('../transfer/engine.js').TransferSession} session the question goes away with it
 * @returns {Promise<boolean>} whether the user said yes
 */
export function askToPair(peerName, code, session) {
  return new Promise((resolve) => {
    let answered = false;
    /** @param {boolean} yes */
    const answer = (yes) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(yes);
    };
    const dialog = /** @type {HTMLDialogElement} */ (
      h(
        'dialog',
        { testid: 'pair-dialog', 'aria-labelledby': 'pair-dialog-title' },
        h('h2', { id: 'pair-dialog-title' }, t('pairAsk', { name: peerName })),
        h('p', {}, t('pairExplain')),
        h('p', { testid: 'pair-dialog-code', dataset: { code } }, t('pairCompare', { code, name: peerName })),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'secondary', testid: 'pair-decline', onclick: () => answer(false) }, t('notNow')),
          h('button', { type: 'button', testid: 'pair-accept', onclick: () => answer(true) }, t('pairYes')),
        ),
      )
    );
    dialog.addEventListener('cancel', () => answer(false));
    session.addEventListener('closed', () => answer(false), { once: true });
    document.getElementById('dialogs')?.append(dialog);
    dialog.showModal();
    announce(t('pairAsk', { name: peerName }));
  });
}
