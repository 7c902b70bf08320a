// System notifications for an offer that arrives while the tab is in the background. Permission
// is asked only on a click that says what it is for: the settings switch, or "Notify me next time"
// in the first offer dialog (when the user has just seen why it helps). Never on page load.

import { h, formatBytes } from './dom.js';
import { t } from '../i18n.js';

const KEY = 'ferry-notify';

/** @returns {NotificationPermission | 'unsupported'} */
function permission() {
  return typeof Notification === 'function' ? Notification.permission : 'unsupported';
}

export class OfferNotifier {
  /**
   * @param {HTMLInputElement} toggle the settings switch
   * @param {HTMLElement} note why it cannot be on
   * @param {Notification[]} [shown] test hook: every notification shown is pushed here
   */
  constructor(toggle, note, shown) {
    this.toggle = toggle;
    this.note = note;
    this.shown = shown;
    this.pending = 0;
    this.baseTitle = document.title;
    toggle.addEventListener('change', () => {
      if (toggle.checked) void this.enable();
      else this.setWanted(false);
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        this.pending = 0;
        document.title = this.baseTitle;
      }
    });
    window.addEventListener('ferry-lang', () => this.render());
    // The permission may change outside the page (site settings): follow it.
    navigator.permissions
      ?.query({ name: 'notifications' })
      .then((status) => status.addEventListener('change', () => this.render()))
      .catch(() => {});
    this.render();
  }

  get enabled() {
    return this.wanted() && permission() === 'granted';
  }

  wanted() {
    try {
      return localStorage.getItem(KEY) === 'on';
    } catch {
      return false;
    }
  }

  /** @param {boolean} on */
  setWanted(on) {
    try {
      if (on) localStorage.setItem(KEY, 'on');
      else localStorage.removeItem(KEY);
    } catch {
      // Storage blocked: on for this page only.
    }
    this.render();
  }

  /** Asks for permission (call from a click). @returns {Promise<boolean>} */
  async enable() {
    if (permission() === 'unsupported') {
      this.render();
      return false;
    }
    const got = permission() === 'granted' ? 'granted' : await Notification.requestPermission();
    this.setWanted(got === 'granted');
    return got === 'granted';
  }

  render() {
    const p = permission();
    this.toggle.checked = this.enabled;
    this.toggle.disabled = p === 'unsupported' || p === 'denied';
    const why = p === 'unsupported' ? t('notifyUnsupported') : p === 'denied' ? t('notifyDenied') : '';
    this.note.textContent = why;
    this.note.hidden = !why;
  }

  /**
   * The button an offer dialog shows while notifications were never asked for, or null.
   * @returns {HTMLElement | null}
   */
  askButton() {
    if (permission() !== 'default' || this.wanted()) return null;
    const btn = h('button', { type: 'button', class: 'small secondary', testid: 'offer-notify' }, t('notifyAsk'));
    btn.addEventListener('click', async () => {
      await this.enable();
      btn.remove();
    });
    return btn;
  }

  /**
   * An offer arrived: tells the user if the tab is hidden (the dialog is already on the page).
   * @param {string} peerName @param {number} count @param {number} size
   */
  offer(peerName, count, size) {
    if (document.visibilityState !== 'hidden') return;
    this.pending += 1;
    document.title = `(${this.pending}) ${this.baseTitle}`;
    if (!this.enabled) return;
    const title = t('notifyTitle', { name: peerName });
    const options = { body: t('notifyBody', { count, size: formatBytes(size) }), tag: 'ferry-offer', icon: '/app/icons/icon-192.png' };
    try {
      const n = new Notification(title, options);
      n.addEventListener('click', () => {
        window.focus();
        n.close();
      });
      this.shown?.push(n);
    } catch {
      // Android Chrome shows notifications only through a service worker (the shell worker,
      // whose notificationclick focuses this window).
      void navigator.serviceWorker
        ?.getRegistration('/')
        .then((reg) => reg?.showNotification(title, options))
        .catch(() => {});
    }
  }
}
