// The one notice a page on a plain-http address that is not localhost gets (a phone opening
// http://192.168.1.20:8080): browsers give such a page no service worker and no WebCrypto, so
// received files are held in memory and the app cannot be installed, and the way out is HTTPS.
// Shown until dismissed; the dismissal is remembered for this origin. Decided by
// isSecureContext, which is what the browser itself goes by.

import { t } from '../i18n.js';

const DISMISSED_KEY = 'ferry-insecure-notice-dismissed';

/** @param {HTMLElement} el the notice, with its text and dismiss button inside */
export function setUpInsecureNotice(el) {
  const text = /** @type {HTMLElement} */ (el.querySelector('[data-testid="insecure-notice-text"]'));
  const dismiss = /** @type {HTMLButtonElement} */ (el.querySelector('[data-testid="insecure-notice-dismiss"]'));
  const render = () => {
    text.textContent = t('insecureNotice', { origin: location.origin });
    dismiss.textContent = t('gotIt');
  };
  const dismissed = () => {
    try {
      return localStorage.getItem(DISMISSED_KEY) === '1';
    } catch {
      return false; // storage blocked: show it each visit rather than never
    }
  };
  el.hidden = window.isSecureContext || dismissed();
  if (el.hidden) return;
  render();
  window.addEventListener('ferry-lang', render);
  dismiss.addEventListener('click', () => {
    el.hidden = true;
    try {
      localStorage.setItem(DISMISSED_KEY, '1');
    } catch {
      // nothing to remember it in
    }
  });
}
