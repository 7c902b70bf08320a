// Settings → Paired devices: each device this browser is paired with, when it was last
// recognised, and Unpair.

import { h } from './dom.js';
import { t } from '../i18n.js';

/**
 * @param {HTMLElement} root the `paired-devices` section of the settings panel
 * @param {import('../pairing/paired-devices.js').PairedDevices} paired
 * @param {() => boolean} persistent whether this browser keeps pairings across restarts
 */
export function setUpPairedList(root, paired, persistent) {
  const list = h('ul', { class: 'paired-list', testid: 'paired-list' });
  const empty = h('p', { class: 'hint', testid: 'paired-empty' });
  const volatile = h('p', { class: 'warn', testid: 'paired-volatile', hidden: true });
  const title = h('h3', {});
  root.append(title, empty, volatile, list);
  const render = () => {
    title.textContent = t('pairedDevices');
    empty.textContent = t('pairedEmpty');
    volatile.textContent = t('pairedVolatile');
    volatile.hidden = persistent();
    const pairings = paired.list();
    empty.hidden = pairings.length > 0;
    list.replaceChildren(
      ...pairings.map((p) =>
        h(
          'li',
          { testid: 'paired-device', dataset: { room: p.room } },
          h('span', { class: 'paired-name', testid: 'paired-name' }, p.name),
          h('span', { class: 'hint' }, ` ${t('pairedLastSeen', { when: new Date(p.lastSeen).toLocaleString() })} `),
          h('button', { type: 'button', class: 'small secondary', testid: 'unpair', 'aria-label': t('unpairLabel', { name: p.name }), onclick: () => void paired.unpair(p.room) }, t('unpair')),
        ),
      ),
    );
  };
  paired.addEventListener('change', render);
  window.addEventListener('ferry-lang', render);
  render();
}
