// Entry point: wires the signaling client, the peer directory and the views together.

import { SignalingClient } from './signaling.js';
import { PeerDirectory } from './peer-directory.js';
import { RoomsView } from './ui/rooms-view.js';
import { PeerListView, simplePeerCard } from './ui/peer-list-view.js';
import { applyTranslations, lang, setLang, t } from './i18n.js';

/** @param {string} id */
const byTestId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));

const signaling = new SignalingClient();
const directory = new PeerDirectory();
/** Code rooms this tab wants to be in; rejoined after a reconnect (the server forgets us). */
const wantedRooms = new Set();

const roomsView = new RoomsView(byTestId('room-list'), (code) => {
  wantedRooms.delete(code);
  signaling.send({ type: 'leave-room', room: code });
});
const peerList = new PeerListView(byTestId('peer-list'), byTestId('no-peers'), simplePeerCard);

function render() {
  byTestId('self-name').textContent = directory.self?.name ?? '…';
  roomsView.render(directory.codeRooms());
  peerList.render(directory.peers());
}

/** @param {string} state @param {number} retryInMs */
function renderConnState(state, retryInMs) {
  const el = byTestId('conn-state');
  el.dataset.state = state;
  el.textContent =
    state === 'open' ? t('online') : state === 'connecting' ? t('connecting') : t('offline', { s: Math.ceil(retryInMs / 1000) });
}

/** @param {string} text */
function showRoomError(text) {
  const el = byTestId('room-error');
  el.textContent = text;
  el.hidden = !text;
}

signaling.addEventListener('state', (ev) => {
  const { state, retryInMs } = /** @type {CustomEvent} */ (ev).detail;
  renderConnState(state, retryInMs);
});

signaling.addEventListener('message', (ev) => {
  const msg = /** @type {CustomEvent} */ (ev).detail;
  directory.apply(msg);
  switch (msg.type) {
    case 'welcome':
      for (const code of wantedRooms) {
        if (!directory.rooms.has(code)) signaling.send({ type: 'join-room', code });
      }
      break;
    case 'room-joined':
      wantedRooms.add(msg.room.id);
      showRoomError('');
      break;
    case 'error':
      if (msg.code === 'room-not-found') {
        showRoomError(t('roomNotFound'));
        // Stop asking for codes that do not exist, or every reconnect would ask again.
        for (const code of wantedRooms) if (!directory.rooms.has(code)) wantedRooms.delete(code);
      }
      else if (msg.code === 'limit' || msg.code === 'invalid-value') showRoomError(msg.message);
      break;
  }
});
directory.addEventListener('change', render);

byTestId('create-room').addEventListener('click', () => signaling.send({ type: 'create-room' }));
byTestId('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byTestId('join-code-input'));
  const code = input.value.trim();
  if (!code) return;
  signaling.send({ type: 'join-room', code });
  input.value = '';
});

const langSelect = /** @type {HTMLSelectElement} */ (byTestId('lang-select'));
langSelect.value = lang();
langSelect.addEventListener('change', () => setLang(langSelect.value));
window.addEventListener('ferry-lang', () => {
  render();
  renderConnState(signaling.state, 0);
});

// `/?room=CODE` joins that room as soon as we are connected.
const roomParam = new URLSearchParams(location.search).get('room');
if (roomParam) wantedRooms.add(roomParam.toUpperCase().replace(/[\s-]/g, ''));

document.documentElement.lang = lang();
applyTranslations(document);
render();
signaling.connect();
