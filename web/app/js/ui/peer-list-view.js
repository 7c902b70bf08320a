// The list of other peers, keyed by peer id so a card (with its chat box, transfers and inputs)
// survives re-renders and a peer in two rooms is shown once.

import { h } from './dom.js';

/**
 * @typedef {{id: string, name: string, client: string}} PeerInfo
 * `left()` is called when the peer is gone from every shared room; returning true keeps the card
 * (e.g. to show what happened to its transfers) until the peer comes back or the page reloads.
 * `setNameTag(tag)` shows `tag` next to the name ('' hides it): see render().
 * @typedef {{el: HTMLElement, update(info: PeerInfo, rooms: string[]): void, left?(): boolean, setNameTag?(tag: string): void}} PeerCardLike
 */

export class PeerListView {
  /**
   * @param {HTMLElement} list
   * @param {HTMLElement} emptyHint
   * @param {(info: PeerInfo) => PeerCardLike} makeCard
   */
  constructor(list, emptyHint, makeCard) {
    this.list = list;
    this.emptyHint = emptyHint;
    this.makeCard = makeCard;
    /** @type {Map<string, PeerCardLike>} */
    this.cards = new Map();
  }

  /** @param {{info: PeerInfo, rooms: string[]}[]} peers */
  render(peers) {
    const seen = new Set();
    /** @type {HTMLElement[]} */
    const order = [];
    // Names come from a hash of the peer id, so two peers may share one; those two get the
    // start of their ids beside it, or the user could not tell which device is which.
    /** @type {Map<string, number>} */
    const named = new Map();
    for (const { info } of peers) named.set(info.name, (named.get(info.name) ?? 0) + 1);
    for (const { info, rooms } of peers) {
      seen.add(info.id);
      let card = this.cards.get(info.id);
      if (!card) {
        card = this.makeCard(info);
        this.cards.set(info.id, card);
      }
      card.update(info, rooms);
      card.setNameTag?.((named.get(info.name) ?? 0) > 1 ? nameTag(info.id) : '');
      order.push(card.el);
    }
    for (const [id, card] of this.cards) {
      if (seen.has(id)) continue;
      if (card.el.dataset.left !== 'true' && card.left?.()) card.el.dataset.left = 'true';
      if (card.el.dataset.left === 'true') {
        order.push(card.el);
      } else {
        this.cards.delete(id);
        card.el.remove();
      }
    }
    for (const id of seen) delete this.cards.get(id)?.el.dataset.left;
    // Re-append only when the order changed, so focus and scroll inside cards are kept.
    const current = [...this.list.children];
    if (current.length !== order.length || current.some((el, i) => el !== order[i])) {
      this.list.append(...order);
    }
    this.emptyHint.hidden = order.length > 0;
  }
}

/** What tells apart two peers of the same name: the first four characters of the id. @param {string} id */
export function nameTag(id) {
  return `#${id.slice(0, 4)}`;
}

/**
 * A plain card: name and client kind. The transfer UI extends it.
 * @param {PeerInfo} info
 * @returns {PeerCardLike}
 */
export function simplePeerCard(info) {
  const name = h('span', { class: 'peer-name', testid: 'peer-name' });
  const tag = h('span', { class: 'badge', testid: 'peer-name-tag', hidden: true });
  const kind = h('span', { class: 'badge', testid: 'peer-client' });
  const el = h('li', { class: 'peer', testid: 'peer', dataset: { peerId: info.id } }, name, tag, kind);
  return {
    el,
    update(i) {
      name.textContent = i.name;
      kind.textContent = i.client;
    },
    setNameTag(t) {
      tag.textContent = t;
      tag.hidden = !t;
    },
  };
}
