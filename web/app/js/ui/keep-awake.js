// Phones lock their screen and then suspend the page, and a suspended page's transfer stops. While
// any transfer moves data this holds a screen wake lock where the browser has one, and takes it
// again when the page comes back (browsers drop it whenever the page is hidden). Where there is
// none (plain-http pages have no navigator.wakeLock, as on a phone opening a LAN address) or it is
// refused, a phone's page asks to keep the screen on; and a phone's page that was hidden during a
// transfer says so when it is back, since the transfer may have stalled meanwhile. Desktop
// browsers keep hidden tabs' connections running, so they get neither notice.
//
// The state is on the notice element for tests: data-wake-lock = held | released | unsupported.

import { t } from '../i18n.js';

/**
 * @typedef {import('../transfer/transfer.js').Transfer} Transfer
 * @typedef {{released: boolean, release(): Promise<void>, addEventListener(type: 'release', f: () => void): void}} Sentinel
 */

/** Platforms that suspend hidden pages (desktop browsers keep hidden tabs' connections running). */
function suspendsHiddenPages() {
  // Client hints where there are some; iPadOS claims to be a Mac, hence touch points as well.
  const uaData = /** @type {any} */ (navigator).userAgentData;
  if (uaData?.mobile === true) return true;
  if (/Android|iPhone|iPad|iPod|Mobile/i.test(navigator.userAgent)) return true;
  return /Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1;
}

export class KeepAwake {
  /** @param {HTMLElement} notice */
  constructor(notice) {
    this.notice = notice;
    /** @type {Set<Transfer>} transfers moving data */
    this.running = new Set();
    /** @type {Sentinel | null} */
    this.sentinel = null;
    this.requesting = false;
    this.hiddenDuringTransfer = false;
    this.supported = 'wakeLock' in navigator;
    this.mobile = suspendsHiddenPages();
    this.notice.dataset.wakeLock = this.supported ? 'released' : 'unsupported';
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'hidden') {
        if (this.running.size > 0 && this.mobile) this.hiddenDuringTransfer = true;
      }
      void this.refresh();
    });
    window.addEventListener('ferry-lang', () => this.render());
  }

  /** Follows a transfer: counted while it moves data. @param {Transfer} transfer */
  track(transfer) {
    const follow = () => {
      if (transfer.state === 'active') this.running.add(transfer);
      else this.running.delete(transfer);
      if (transfer.finished) transfer.removeEventListener('update', follow);
      void this.refresh();
    };
    transfer.addEventListener('update', follow);
    follow();
  }

  async refresh() {
    const wanted = this.running.size > 0;
    if (!wanted) this.hiddenDuringTransfer = false;
    if (this.supported) {
      if (wanted && !this.sentinel && !this.requesting && document.visibilityState === 'visible') {
        this.requesting = true;
        try {
          const sentinel = /** @type {Sentinel} */ (await /** @type {any} */ (navigator).wakeLock.request('screen'));
          this.sentinel = sentinel;
          sentinel.addEventListener('release', () => {
            if (this.sentinel === sentinel) this.sentinel = null;
            this.render();
          });
        } catch {
          // Refused (battery saver, a hidden page, a permissions policy): the notice says so.
        } finally {
          this.requesting = false;
        }
        // The last transfer may have ended while we waited for the lock.
        if (this.running.size === 0) await this.release();
      } else if (!wanted) {
        await this.release();
      }
    }
    this.render();
  }

  async release() {
    const s = this.sentinel;
    this.sentinel = null;
    if (s && !s.released) await s.release().catch(() => {});
  }

  render() {
    const held = this.sentinel !== null && !this.sentinel.released;
    this.notice.dataset.wakeLock = this.supported ? (held ? 'held' : 'released') : 'unsupported';
    /** @type {string[]} */
    const lines = [];
    if (this.running.size > 0 && !held && this.mobile) lines.push(t('keepScreenOn'));
    if (this.hiddenDuringTransfer && document.visibilityState === 'visible') lines.push(t('hiddenDuringTransfer'));
    this.notice.textContent = lines.join(' ');
    this.notice.hidden = lines.length === 0;
  }
}
