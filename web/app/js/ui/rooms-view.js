// Code rooms: create, join by code, and for each joined room its code, link, QR code and who is
// in it — so that whoever joined by the code (a friend, or someone who guessed it) is visible.

import { renderSVG } from '../../vendor/uqr/index.mjs';
import { h } from './dom.js';
import { t } from '../i18n.js';

/** @param {string} code */
export function roomLink(code) {
  return `${location.origin}/?room=${encodeURIComponent(code)}`;
}

export class RoomsView {
  /**
   * @param {HTMLElement} list the room list element
   * @param {(roomId: string) => void} onLeave
   * @param {(roomId: string) => {name: string, client: string}[]} members who else is in a room
   * @param {(roomId: string) => void} [onSelectAll] select everyone in the room for sending to several
   */
  constructor(list, onLeave, members, onSelectAll) {
    this.list = list;
    this.onLeave = onLeave;
    this.members = members;
    this.onSelectAll = onSelectAll;
    /** @type {string[]} */
    this.codes = [];
  }

  /** @param {string[]} codes */
  render(codes) {
    this.codes = codes;
    this.list.replaceChildren(
      ...codes.map((code) => {
        const link = roomLink(code);
        const qr = h('div', { class: 'qr', testid: 'room-qr', title: link });
        qr.innerHTML = renderSVG(link, { border: 2 });
        qr.querySelector('svg')?.setAttribute('aria-hidden', 'true');
        return h(
          'li',
          { class: 'room', testid: 'room', dataset: { room: code } },
          h('div', { class: 'room-head' },
            h('span', { class: 'room-title' }, t('roomCode', { code: '' })),
            h('strong', { class: 'code', testid: 'room-code' }, code),
            h('button', { type: 'button', class: 'small', testid: 'room-leave', onclick: () => this.onLeave(code) }, t('leave')),
            this.onSelectAll && this.members(code).length
              ? h('button', { type: 'button', class: 'small', testid: 'room-select-all', onclick: () => this.onSelectAll?.(code) }, t('multiRoomEveryone'))
              : null),
          h('a', { href: link, class: 'room-link', testid: 'room-link' }, link),
          // The system share sheet, where the browser has one (phones; not desktop Linux).
          typeof navigator.share === 'function'
            ? h('button', { type: 'button', class: 'small', testid: 'room-share', onclick: () => navigator.share({ title: t('roomCode', { code }), url: link }).catch(() => {}) }, t('shareLink'))
            : null,
          this.membersLine(code),
          qr,
        );
      }),
    );
  }

  /** @param {string} code */
  membersLine(code) {
    const peers = this.members(code);
    const text = peers.length
      ? t('roomMembers', { names: peers.map((p) => `${p.name} (${p.client})`).join(', ') })
      : t('roomEmpty');
    return h('p', { class: 'hint', testid: 'room-members', dataset: { count: String(peers.length) } }, text);
  }

  rerender() {
    this.render(this.codes);
  }
}
