// A peer in the list: name, connection path, send files/folder (picker or drop), its transfers,
// and a message box with history. Connections are opened on demand (clicking the card, sending)
// and reused.

import { keptPrefixes } from '../transfer/incoming.js';
import { h } from './dom.js';
import { t } from '../i18n.js';
import { transferView } from './transfer-view.js';
import { showOfferDialog } from './offer-dialog.js';
import { sendPickedAndDropped } from './file-picking.js';
import { CallView } from './call-view.js';
import { peerKind, deviceIconSVG } from './device-kind.js';

const KIND_KEYS = { phone: 'kindPhone', tablet: 'kindTablet', desktop: 'kindDesktop', cli: 'kindCli', unknown: 'kindUnknown' };

/**
 * @typedef {{id: string, name: string, client: string, device?: string}} PeerInfo
 * @typedef {import('../rtc/peer-link.js').PeerLink} PeerLink
 * @typedef {import('../transfer/engine.js').TransferSession} TransferSession
 * @typedef {{link: PeerLink, sinks: () => Promise<{factory: import('../transfer/engine.js').SinkFactory, streaming: boolean, kept?: (file: {path: string, size: number}) => Promise<Blob | null>}>, selectBox?: HTMLInputElement,
 *   onOffer?: (peerName: string, count: number, size: number) => HTMLElement | null,
 *   paired?: import('../pairing/paired-devices.js').PairedDevices}} PeerCardDeps
 *   `onOffer` is told of each offer before its dialog opens and may return an element for the dialog;
 *   `paired` makes the card show whether the peer proved a pairing, and offer to pair.
 */

const PATH_KEYS = { direct: 'pathDirect', stun: 'pathStun', relay: 'pathRelay', websocket: 'pathWebsocket', '': 'pathNone' };

export class PeerCard {
  /** @param {PeerInfo} info @param {PeerCardDeps} deps */
  constructor(info, deps) {
    this.info = info;
    this.link = deps.link;
    this.sinks = deps.sinks;
    this.onOffer = deps.onOffer;
    this.paired = deps.paired ?? null;
    // The link outlives the card (a peer that leaves and comes back gets a new card on the same
    // link): a dropped card must stop listening, or both would answer the link's offers.
    this.listening = new AbortController();
    const signal = this.listening.signal;
    /** @type {TransferSession | null} */
    this.session = null;

    this.iconEl = h('span', { class: 'peer-icon', testid: 'peer-icon' });
    this.deviceEl = h('span', { class: 'sr-only', testid: 'peer-device' });
    this.nameEl = h('span', { class: 'peer-name', testid: 'peer-name' });
    // Beside the name when another listed peer has the same one (PeerListView).
    this.nameTagEl = h('span', { class: 'badge', testid: 'peer-name-tag', hidden: true });
    this.kindEl = h('span', { class: 'badge', testid: 'peer-client' });
    this.pathEl = h('span', { class: 'badge', testid: 'peer-path', dataset: { path: '' } });
    // The connection's security code: the same on both screens unless someone is in the middle
    // (docs/security.md). Comes one round trip after the connection opens.
    this.codeEl = h('span', { class: 'badge', testid: 'security-code', hidden: true });
    this.linkStateEl = h('span', { class: 'badge', testid: 'peer-link-state', dataset: { state: 'idle' }, hidden: true });
    // Shown only once the peer proved, on this connection, that it holds a pairing's secret.
    this.pairedEl = h('span', { class: 'badge paired', testid: 'paired-badge', hidden: true });
    this.pairButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'small secondary', testid: 'pair-button', hidden: true, onclick: () => void this.pair() }));
    this.pairing = false;
    this.errorEl = h('p', { class: 'peer-error', testid: 'peer-error', hidden: true });
    this.filesInput = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: true, testid: 'peer-send-files' }));
    this.folderInput = /** @type {HTMLInputElement} */ (h('input', { type: 'file', multiple: true, webkitdirectory: true, testid: 'peer-send-folder' }));
    this.filesLabel = h('span');
    this.folderLabel = h('span');
    this.transfersEl = h('ul', { class: 'transfers', testid: 'transfers' });
    this.chatLog = h('ul', { class: 'chat-log', testid: 'chat-log' });
    this.chatInput = /** @type {HTMLTextAreaElement} */ (h('textarea', { testid: 'chat-input', rows: '1' }));
    this.chatSend = h('button', { type: 'submit', testid: 'chat-send' });
    this.chatTitle = h('span', { class: 'hint' });
    this.callView = new CallView(info, this.link, { connect: () => this.connect() });

    this.el = h(
      'li',
      { class: 'peer', testid: 'peer', dataset: { peerId: info.id } },
      h('div', { class: 'peer-head', onclick: () => this.connect().catch(() => {}) }, deps.selectBox ?? null, this.iconEl, this.nameEl, this.nameTagEl, this.deviceEl, this.kindEl, this.pathEl, this.codeEl, this.pairedEl, this.linkStateEl),
      this.errorEl,
      h(
        'div',
        { class: 'peer-actions' },
        h('label', { class: 'pick' }, this.filesLabel, this.filesInput),
        h('label', { class: 'pick' }, this.folderLabel, this.folderInput),
        this.callView.actions,
        this.pairButton,
      ),
      this.callView.el,
      this.transfersEl,
      h(
        'div',
        { class: 'chat' },
        this.chatTitle,
        this.chatLog,
        h('form', { onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.sendChat(); } }, this.chatInput, this.chatSend),
      ),
    );

    sendPickedAndDropped(this.el, [this.filesInput, this.folderInput], (items) => this.send(items));
    this.chatInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        this.sendChat();
      }
    });

    this.link.addEventListener('session', (e) => this.attachSession(/** @type {CustomEvent} */ (e).detail), { signal });
    this.link.addEventListener('path', () => this.renderStatic(), { signal });
    this.link.addEventListener('security-code', () => this.renderStatic(), { signal });
    this.link.addEventListener('state', (e) => {
      const { state, error } = /** @type {CustomEvent} */ (e).detail;
      if (this.link.absent && (state === 'closed' || state === 'failed')) this.showError(t('peerLeft', { name: this.info.name }));
      else if (state === 'failed') this.showError(t('connFailed', { name: this.info.name }) + (error ? ` (${error})` : ''));
      else if (state === 'open') this.showError('');
      this.renderStatic();
    }, { signal });
    window.addEventListener('ferry-lang', () => this.renderStatic(), { signal });
    this.paired?.addEventListener('change', () => {
      if (this.paired?.isUnconfirmed(this.info.id)) this.showError(t('pairUnconfirmed', { name: this.info.name }));
      this.renderStatic();
    }, { signal });
    if (this.link.session) this.attachSession(this.link.session);
    this.renderStatic();
  }

  /** @param {string} tag '' hides it */
  setNameTag(tag) {
    this.nameTagEl.textContent = tag;
    this.nameTagEl.hidden = !tag;
  }

  /** @param {PeerInfo} info */
  update(info) {
    this.info = info;
    this.callView.update(info);
    if (this.link.absent) {
      this.link.peerAbsent(false);
      this.showError('');
    }
    this.renderStatic();
  }

  /**
   * The peer is gone from every room we share. A healthy direct connection stays (the peer's
   * signaling may be coming back); the card then says so, and says the peer left once the
   * connection ends too. @returns {boolean} keep the card
   */
  left() {
    const hadActivity = this.transfersEl.childElementCount > 0 || this.chatLog.childElementCount > 0;
    if (this.link.peerAbsent(true)) {
      this.showError(t('peerOffline', { name: this.info.name }));
      return true;
    }
    this.callView.peerGone();
    if (hadActivity) this.showError(t('peerLeft', { name: this.info.name }));
    return hadActivity;
  }

  renderStatic() {
    this.nameEl.textContent = this.info.name;
    const kind = peerKind(this.info);
    if (this.iconEl.dataset.device !== kind) {
      this.iconEl.dataset.device = kind;
      this.iconEl.innerHTML = deviceIconSVG(kind);
    }
    // Seen as the icon, heard as a word (the icon itself is aria-hidden).
    const kindText = t(KIND_KEYS[kind]);
    this.iconEl.title = kindText;
    this.deviceEl.dataset.device = kind;
    this.deviceEl.textContent = `(${kindText})`;
    this.kindEl.textContent = this.info.client;
    this.pathEl.dataset.path = this.link.path;
    this.pathEl.textContent = t(PATH_KEYS[/** @type {keyof PATH_KEYS} */ (this.link.path)] ?? 'pathNone');
    this.codeEl.hidden = !this.link.securityCode;
    this.codeEl.dataset.code = this.link.securityCode;
    this.codeEl.textContent = this.link.securityCode ? t('securityCode', { code: this.link.securityCode }) : '';
    this.linkStateEl.dataset.state = this.link.state;
    const pairing = this.paired?.pairedWith(this.info.id) ?? null;
    this.pairedEl.hidden = !pairing;
    this.pairedEl.textContent = t('paired');
    this.pairedEl.title = t('pairedTitle');
    // The CLI keeps no pairings; a browser peer says whether it can once connected.
    this.pairButton.hidden = !this.paired || Boolean(pairing) || this.info.client !== 'browser';
    this.pairButton.disabled = this.pairing;
    this.pairButton.textContent = this.pairing ? t('pairing') : t('pair');
    this.filesLabel.textContent = t('sendFiles');
    this.folderLabel.textContent = t('sendFolder');
    this.chatTitle.textContent = t('chat');
    this.chatInput.placeholder = t('chatPlaceholder');
    this.chatInput.setAttribute('aria-label', t('chatInputLabel', { name: this.info.name }));
    this.chatSend.textContent = t('send');
  }

  /** Asks the peer to pair (after its user compared the security code and said yes). */
  async pair() {
    if (!this.paired || this.pairing) return;
    this.pairing = true;
    this.renderStatic();
    const name = this.info.name;
    try {
      const answer = await this.paired.request(this.link);
      this.showError(answer === 'accepted' ? '' : t('pairDeclined', { name }));
    } catch (e) {
      const reason = /** @type {Error} */ (e).message;
      this.showError(reason === 'unsupported' ? t('pairUnsupported', { name }) : t('pairFailed', { name, reason }));
    } finally {
      this.pairing = false;
      this.renderStatic();
    }
  }

  /** The card is gone from the list for good: it stops following the link. */
  dispose() {
    this.listening.abort();
  }

  /** @param {string} text */
  showError(text) {
    this.errorEl.textContent = text;
    this.errorEl.hidden = !text;
  }

  connect() {
    return this.link.connect();
  }

  /** @param {TransferSession} session */
  attachSession(session) {
    if (this.session === session) return;
    this.session = session;
    const signal = this.listening.signal;
    session.addEventListener('transfer', (e) => {
      const tr = /** @type {CustomEvent} */ (e).detail;
      this.transfersEl.prepend(transferView(tr, this.info.name));
    }, { signal });
    /** Parts of selections that came as several offers, by the transfer id of part 0. @type {Map<number, any[]>} */
    const selections = new Map();
    session.addEventListener('offer', async (e) => {
      const tr = /** @type {CustomEvent} */ (e).detail;
      /** @type {any[]} */
      let parts = [tr];
      if (tr.selection) {
        // They arrive back to back before any data: ask once, when the last one is here.
        const got = selections.get(tr.selection.first) ?? [];
        got.push(tr);
        if (got.length < tr.selection.parts) {
          selections.set(tr.selection.first, got);
          return;
        }
        selections.delete(tr.selection.first);
        parts = got;
      }
      const extra = this.onOffer?.(this.info.name, parts.reduce((n, p) => n + p.files.length, 0), parts.reduce((n, p) => n + p.totalSize, 0)) ?? null;
      const sinks = await this.sinks();
      let resumable = 0;
      for (const f of sinks.kept ? parts.flatMap((p) => p.files) : []) resumable += (await sinks.kept?.(f))?.size ?? 0;
      showOfferDialog(parts, this.info.name, {
        streaming: sinks.streaming,
        extra,
        resumable,
        keeps: sinks.kept != null,
        onAccept: async () => {
          // Kept prefixes of a transfer that broke off (files kept in the OPFS) resume after a hash check.
          for (const p of parts) p.accept(sinks.factory, sinks.kept ? await keptPrefixes(p.files, sinks.kept, session.hasherFactory) : []);
        },
      });
    }, { signal });
    session.addEventListener('text', (e) => {
      const { text, mine } = /** @type {CustomEvent} */ (e).detail;
      this.addChat(text, mine);
    }, { signal });
    session.addEventListener('peer-error', (e) => {
      const { code, message } = /** @type {CustomEvent} */ (e).detail;
      this.showError(`${this.info.name}: ${code}: ${message}`);
    }, { signal });
    session.addEventListener('offer-refused', (e) => {
      const { reason } = /** @type {CustomEvent} */ (e).detail;
      this.showError(`${this.info.name}: invalid-offer: ${reason}`);
    }, { signal });
    session.addEventListener('closed', () => {
      if (this.session === session) this.session = null;
    }, { signal });
  }

  /**
   * Connects if needed and offers the files; rejects when the connection cannot be made.
   * @param {import('./file-picking.js').SendItem[]} items
   */
  async offer(items) {
    const session = await this.connect();
    // An offer is one message of at most 256 KiB (a few thousand files); bigger selections
    // go as several transfers, back to back, which the receiver answers together.
    return session.sendSelection(items);
  }

  /** @param {import('./file-picking.js').SendItem[]} items */
  async send(items) {
    if (items.length === 0) return;
    try {
      await this.offer(items);
    } catch (e) {
      this.showError(t('connFailed', { name: this.info.name }) + ` (${/** @type {Error} */ (e).message})`);
    }
  }

  async sendChat() {
    const text = this.chatInput.value;
    if (!text.trim()) return;
    if (await this.sendText(text)) this.chatInput.value = '';
  }

  /** Sends a message (connecting first if needed). @param {string} text @returns {Promise<boolean>} sent */
  async sendText(text) {
    try {
      const session = await this.connect();
      session.sendText(text);
      return true;
    } catch (e) {
      this.showError(/** @type {Error} */ (e).message);
      return false;
    }
  }

  /** @param {string} text @param {boolean} mine */
  addChat(text, mine) {
    const who = mine ? t('you') : this.info.name;
    this.chatLog.append(h('li', { class: mine ? 'mine' : '', testid: 'chat-message', dataset: { mine: String(mine) } }, h('b', {}, `${who}: `), h('span', { testid: 'chat-text' }, text)));
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
  }
}
