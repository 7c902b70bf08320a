// The name other devices see: the server gives each peer one derived from its id ("Amber Otter");
// Rename changes it (signaling `set-name`) and keeps it in localStorage, so every later visit and
// every reconnect of this browser asks for it again right after `welcome`.

import { t } from '../i18n.js';

const KEY = 'ferry-device-name';
const MAX_LENGTH = 48;

/** @returns {string} */
export function storedName() {
  try {
    return localStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/**
 * @param {HTMLElement} root the `.me` section (holds `rename`, `rename-form`, `name-input`)
 * @param {(name: string) => void} setName sends `set-name`
 * @param {() => string} currentName
 */
export function setUpDeviceName(root, setName, currentName) {
  const button = /** @type {HTMLButtonElement} */ (root.querySelector('[data-testid="rename"]'));
  const form = /** @type {HTMLFormElement} */ (root.querySelector('[data-testid="rename-form"]'));
  const input = /** @type {HTMLInputElement} */ (root.querySelector('[data-testid="name-input"]'));
  const cancel = /** @type {HTMLButtonElement} */ (root.querySelector('[data-testid="rename-cancel"]'));
  input.maxLength = MAX_LENGTH;
  const close = () => {
    form.hidden = true;
    button.hidden = false;
    button.setAttribute('aria-expanded', 'false');
  };
  button.addEventListener('click', () => {
    form.hidden = false;
    button.hidden = true;
    button.setAttribute('aria-expanded', 'true');
    input.value = currentName();
    input.focus();
    input.select();
  });
  cancel.addEventListener('click', () => {
    close();
    button.focus();
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = input.value.replace(/\s+/g, ' ').trim();
    if (!name) return;
    try {
      localStorage.setItem(KEY, name);
    } catch {
      // Storage blocked: renamed for this visit only.
    }
    setName(name);
    close();
    button.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      cancel.click();
    }
  });
  const label = () => {
    input.setAttribute('aria-label', t('deviceName'));
    button.setAttribute('aria-label', t('renameDevice'));
  };
  window.addEventListener('ferry-lang', label);
  label();
}
