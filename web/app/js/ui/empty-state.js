// The empty peer list: what to do next — this page's address to open on another device, as a
// link, a copy button, the system share sheet where the browser has one (navigator.share), and a
// QR code for a phone (the same encoder as the rooms view).

import { renderSVG } from '../../vendor/uqr/index.mjs';
import { t } from '../i18n.js';

/** @param {HTMLElement} root the `no-peers` element */
export function setUpEmptyState(root) {
  const url = `${location.origin}/`;
  const link = /** @type {HTMLAnchorElement} */ (root.querySelector('[data-testid="empty-url"]'));
  const copy = /** @type {HTMLButtonElement} */ (root.querySelector('[data-testid="empty-copy"]'));
  const share = /** @type {HTMLButtonElement} */ (root.querySelector('[data-testid="empty-share"]'));
  const qr = /** @type {HTMLElement} */ (root.querySelector('[data-testid="empty-qr"]'));
  // localhost means nothing to another device: point at the addresses `ferry serve` prints.
  const local = /** @type {HTMLElement} */ (root.querySelector('[data-testid="empty-local"]'));
  local.hidden = !['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);
  link.href = url;
  link.textContent = url;
  qr.innerHTML = renderSVG(url, { border: 2 });
  // The SVG is a picture of the link next to it; a screen reader reads the link instead.
  qr.querySelector('svg')?.setAttribute('aria-hidden', 'true');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(url);
      copy.textContent = t('copied');
    } catch {
      // No clipboard API (plain-http pages): select the link text for a manual copy.
      const range = document.createRange();
      range.selectNodeContents(link);
      getSelection()?.removeAllRanges();
      getSelection()?.addRange(range);
    }
  });
  share.hidden = typeof navigator.share !== 'function';
  share.addEventListener('click', () => {
    navigator.share({ title: 'ferry', url }).catch(() => {
      // Dismissed by the user, or not allowed: nothing to report.
    });
  });
}
