// Entry point: wires the signaling client, the peer directory, one PeerLink per peer (opened on
// demand) and the views together.

import { SignalingClient } from './signaling.js';
import { PeerDirectory } from './peer-directory.js';
import { RoomsView } from './ui/rooms-view.js';
import { PeerListView } from './ui/peer-list-view.js';
import { PeerCard } from './ui/peer-card.js';
import { PeerLink } from './rtc/peer-link.js';
import { WorkerHashPool } from './hash/hasher.js';
import { makeSinkFactory, storageKind } from './storage/sinks.js';
import { applyTranslations, lang, setLang, t } from './i18n.js';
import { setUpInsecureNotice } from './ui/insecure-notice.js';
import { PeerSelection } from './ui/peer-selection.js';
import { KeepAwake } from './ui/keep-awake.js';
import './ui/app-strings.js';
import { setUpThemeSelect } from './ui/theme.js';
import { setUpEmptyState } from './ui/empty-state.js';
import { setAnnouncer } from './ui/announcer.js';
import { TransferHistory } from './ui/history.js';
import { OfferNotifier } from './ui/notifications.js';
import { SendAnywhere } from './ui/send-anywhere.js';
import { registerShell, takeShared } from './ui/shell.js';
import { setUpDeviceName, storedName } from './ui/device-name.js';
import { deviceKind } from './ui/device-kind.js';
import { FEATURE_PAIR, FLOW_WINDOW_BYTES } from './protocol/constants.js';
import { PairingStore } from './storage/pairings.js';
import { PairedDevices } from './pairing/paired-devices.js';
import { askToPair } from './ui/pair-dialog.js';
import { setUpPairedList } from './ui/paired-list-view.js';
import './ui/pairing-strings.js';
import { Resender } from './transfer/resend.js';

/** @param {string} id */
const byTestId = (id) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${id}"]`));

const params = new URLSearchParams(location.search);
const signaling = new SignalingClient({ device: deviceKind() });
const directory = new PeerDirectory();
const hashes = new WorkerHashPool();
/** Code rooms this tab wants to be in; rejoined after a reconnect (the server forgets us). */
const wantedRooms = new Set();
/** @type {RTCIceServer[]} */
let iceServers = [];
/** @type {Map<string, PeerLink>} */
const links = new Map();
const keepAwake = new KeepAwake(byTestId('keep-awake-notice'));
setAnnouncer(byTestId('announcer'));
const transferHistory = new TransferHistory(byTestId('history-list'), byTestId('history-empty'));

// Test hooks exist only on pages opened with ?test=1; normal pages never tamper with anything.
/**
 * `sinkGate`: while set, every write of the `sinkRate` throttle waits for it (a disk that has
 * stalled); `holdSink()` sets it, `releaseSink()` lets the writes go (browser/flow-control.test.js).
 * @type {{corruptNextFrame: boolean, links: Map<string, PeerLink>, notifications: Notification[], sinkGate: Promise<void> | null, holdSink: () => void, releaseSink: () => void} | undefined}
 */
const testHooks =
  params.get('test') === '1'
    ? {
        corruptNextFrame: false,
        links,
        notifications: [],
        sinkGate: null,
        holdSink() {
          this.sinkGate = new Promise((resolve) => (releaseSinkGate = resolve));
        },
        releaseSink() {
          this.sinkGate = null;
          releaseSinkGate();
        },
      }
    : undefined;
let releaseSinkGate = () => {};
if (testHooks) /** @type {any} */ (window).__ferryTest = testHooks;
const notifier = new OfferNotifier(
  /** @type {HTMLInputElement} */ (byTestId('notify-switch')),
  byTestId('notify-note'),
  testHooks?.notifications,
);

/** @type {ConstructorParameters<typeof PeerLink>[0]['sessionOptions']} */
const sessionOptions = {
  hasherFactory: hashes.create,
  // This page can carry calls on its peer connections (PeerLink drops `call` for relay sessions),
  // and keeps pairings.
  features: ['call', FEATURE_PAIR],
  // End-to-end flow control for what we receive: the sender gets credit as our sinks drain.
  // Test hook `?test=1&flow=0`: off, as a version-1 receiver (the sender then runs ahead).
  flowWindow: testHooks && params.get('flow') === '0' ? undefined : FLOW_WINDOW_BYTES,
  tamperFrame: testHooks
    ? (frame) => {
        if (!testHooks.corruptNextFrame || frame.length <= 16) return;
        testHooks.corruptNextFrame = false;
        frame[frame.length - 1] ^= 0xff;
      }
    : undefined,
};

// The WebSocket relay: used when ICE has not connected within RELAY_AFTER_MS, or always with
// `?relay=1` (tests) or the relay switch. `?relayAfterMs=` shortens the wait for tests.
const RELAY_AFTER_MS = Number(params.get('relayAfterMs')) || 10_000;
const relaySwitch = /** @type {HTMLInputElement | null} */ (document.querySelector('[data-testid="relay-switch"]'));
if (relaySwitch && params.get('relay') === '1') relaySwitch.checked = true;
const relayForced = () => params.get('relay') === '1' || Boolean(relaySwitch?.checked);

/** @param {string} relayId */
function relayUrl(relayId) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = sessionStorage.getItem('ferry-token') ?? '';
  return `${proto}//${location.host}/relay/${encodeURIComponent(relayId)}?token=${encodeURIComponent(token)}`;
}

/** @param {string} peerId */
function linkFor(peerId) {
  let link = links.get(peerId);
  if (!link) {
    link = new PeerLink({
      selfId: directory.self?.id ?? '',
      peerId,
      iceServers,
      sendSignal: (signal) => {
        // Test switch (?test=1&dropIce=1 on both pages): no candidates, so ICE cannot connect.
        if (testHooks && params.get('dropIce') === '1' && signal.kind === 'candidate') return;
        signaling.send({ type: 'signal', to: peerId, signal });
      },
      sessionOptions,
      // Test switch (?test=1&iceRelay=1): TURN candidates only, so the media must go through TURN.
      iceTransportPolicy: testHooks && params.get('iceRelay') === '1' ? 'relay' : 'all',
      relay: {
        get force() {
          return relayForced();
        },
        afterMs: RELAY_AFTER_MS,
        requestRelay: () => signaling.send({ type: 'relay-open', to: peerId }),
        relayUrl,
      },
    });
    link.addEventListener('session', (e) => {
      const session = /** @type {CustomEvent} */ (e).detail;
      session.addEventListener('transfer', (/** @type {Event} */ ev) => {
        const tr = /** @type {CustomEvent} */ (ev).detail;
        keepAwake.track(tr);
        transferHistory.track(tr, () => cards.get(peerId)?.info.name ?? directory.peer(peerId)?.name ?? peerId);
      });
    });
    links.set(peerId, link);
    paired.attach(link);
    resender.attach(link);
  }
  return link;
}

// Sends cut short by a lost connection go out again when their peer is back (transfer/resend.js).
// The directory keeps its rooms while signaling is down (no flicker): present needs both.
const resender = new Resender({
  isPresent: (peerId) => signaling.state === 'open' && directory.peer(peerId) !== null,
});

const pairingStore = new PairingStore();
const paired = new PairedDevices({
  store: pairingStore,
  send: (msg) => signaling.send(msg),
  directory,
  linkFor,
  askUser: askToPair,
});
if (testHooks) /** @type {any} */ (testHooks).paired = paired;

// Send to several: the selection asks the card of each chosen peer to offer the files.
/** @type {Map<string, PeerCard>} */
const cards = new Map();
const selection = new PeerSelection((id) => {
  const card = cards.get(id);
  return card ? (items) => card.offer(items) : null;
});
byTestId('peer-list').before(selection.el);

const roomsView = new RoomsView(
  byTestId('room-list'),
  (code) => {
    wantedRooms.delete(code);
    signaling.send({ type: 'leave-room', room: code });
  },
  (code) => [...(directory.rooms.get(code)?.values() ?? [])],
  (code) => selection.selectMany([...(directory.rooms.get(code)?.keys() ?? [])]),
);
// Test hook `?test=1&sinkRate=B`: every received file is written at most B bytes/s, a slow disk.
const sinkRate = testHooks ? Number(params.get('sinkRate')) || 0 : 0;
/** @type {typeof makeSinkFactory} */
const sinks = sinkRate > 0 ? async () => throttledSinks(await makeSinkFactory(), sinkRate) : makeSinkFactory;

/**
 * @param {Awaited<ReturnType<typeof makeSinkFactory>>} made @param {number} rate bytes per second
 * @returns {Awaited<ReturnType<typeof makeSinkFactory>>}
 */
function throttledSinks(made, rate) {
  return {
    streaming: made.streaming,
    ...(made.kept ? { kept: made.kept } : {}),
    factory: async (file, index, transfer, offset) => {
      const sink = await made.factory(file, index, transfer, offset);
      return {
        async write(bytes) {
          if (testHooks?.sinkGate) await testHooks.sinkGate;
          await new Promise((r) => setTimeout(r, (bytes.length / rate) * 1000));
          await sink.write(bytes);
        },
        close: () => sink.close(),
        abort: (reason, keep) => sink.abort(reason, keep),
      };
    },
  };
}

const peerList = new PeerListView(byTestId('peer-list'), byTestId('no-peers'), (info) => {
  const card = new PeerCard(info, {
    link: linkFor(info.id),
    sinks,
    selectBox: selection.checkbox(info),
    onOffer: (name, count, size) => {
      notifier.offer(name, count, size);
      return notifier.askButton();
    },
    paired,
  });
  cards.set(info.id, card);
  return card;
});

// Drop or paste anywhere: to the only device listed, or to the one chosen.
const sendAnywhere = new SendAnywhere(
  () =>
    [...cards.values()]
      .filter((c) => c.el.dataset.left !== 'true')
      .map((c) => ({
        id: c.info.id,
        name: c.info.name,
        send: (/** @type {import('./ui/file-picking.js').SendItem[]} */ items) => c.send(items),
        sendText: async (/** @type {string} */ text) => {
          await c.sendText(text);
        },
      })),
  directory,
);
sendAnywhere.listen(byTestId('drop-overlay'));

function render() {
  byTestId('self-name').textContent = directory.self?.name ?? '…';
  roomsView.render(directory.codeRooms());
  const peers = directory.peers();
  peerList.render(peers);
  selection.render(peers);
  for (const [id, card] of cards) {
    if (peerList.cards.has(id)) continue;
    card.dispose();
    cards.delete(id);
  }
}

/** @param {string} state @param {number} retryInMs */
function renderConnState(state, retryInMs) {
  const el = byTestId('conn-state');
  el.dataset.state = state;
  el.textContent =
    state === 'open' ? t('online') : state === 'connecting' ? t('connecting') : t('offline', { s: Math.ceil(retryInMs / 1000) });
  // Backing off means the server did not answer: say so plainly, not only in the status dot.
  const notice = byTestId('offline-notice');
  if (state === 'open') notice.hidden = true;
  else if (state === 'waiting') {
    notice.textContent = t('offlineNotice', { origin: location.origin });
    notice.hidden = false;
  }
}

/** @param {string} text */
function showRoomError(text) {
  const el = byTestId('room-error');
  el.textContent = text;
  el.hidden = !text;
}

let crowdedNetwork = false;

/** @param {boolean} crowded */
function showCrowdedHint(crowded) {
  crowdedNetwork = crowded;
  const el = byTestId('crowded-hint');
  el.textContent = crowded ? t('crowded') : '';
  el.hidden = !crowded;
}

signaling.addEventListener('state', (ev) => {
  const { state, retryInMs } = /** @type {CustomEvent} */ (ev).detail;
  renderConnState(state, retryInMs);
});

signaling.addEventListener('message', (ev) => {
  const msg = /** @type {CustomEvent} */ (ev).detail;
  switch (msg.type) {
    case 'welcome': {
      iceServers = msg.iceServers ?? [];
      // The server forgets a chosen name with the connection; ask for it again at once.
      const wanted = storedName();
      if (wanted && msg.peer?.name !== wanted) signaling.send({ type: 'set-name', name: wanted });
      // A new identity (e.g. the token was replaced) means connections under the old id are void.
      if (directory.self && directory.self.id !== msg.peer.id) {
        for (const link of links.values()) link.close();
        links.clear();
      }
      break;
    }
    case 'signal':
      if (typeof msg.from === 'string' && msg.signal) void linkFor(msg.from).handleSignal(msg.signal);
      return;
    case 'relay-ready':
      if (typeof msg.peerId === 'string') linkFor(msg.peerId).handleRelayReady(msg);
      return;
  }
  directory.apply(msg);
  switch (msg.type) {
    case 'welcome':
      // The LAN room is one of several when the network is crowded (docs/protocol.md).
      showCrowdedHint(Boolean(msg.rooms?.some((/** @type {{kind: string, crowded?: boolean}} */ r) => r.kind === 'lan' && r.crowded)));
      for (const code of wantedRooms) {
        if (!directory.rooms.has(code)) signaling.send({ type: 'join-room', code });
      }
      void paired.rejoin();
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
      } else if (msg.code === 'limit' || msg.code === 'invalid-value') {
        showRoomError(msg.message);
      }
      break;
  }
});
directory.addEventListener('change', render);
directory.addEventListener('change', () => paired.onDirectoryChange());
directory.addEventListener('change', () => resender.onDirectoryChange(links.values()));

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
  showCrowdedHint(crowdedNetwork);
  roomsView.rerender();
  renderConnState(signaling.state, 0);
});

// `/?room=CODE` joins that room as soon as we are connected.
const roomParam = params.get('room');
if (roomParam) wantedRooms.add(roomParam.toUpperCase().replace(/[\s-]/g, ''));

document.documentElement.lang = lang();
applyTranslations(document);
setUpInsecureNotice(byTestId('insecure-notice'));
setUpThemeSelect(/** @type {HTMLSelectElement} */ (byTestId('theme-select')));
setUpEmptyState(byTestId('no-peers'));
setUpPairedList(byTestId('paired-devices'), paired, () => pairingStore.persistent);
setUpDeviceName(
  /** @type {HTMLElement} */ (document.querySelector('section.me')),
  (name) => signaling.send({ type: 'set-name', name }),
  () => directory.self?.name ?? '',
);
render();
// Register the download worker and open the kept-files folder early, so the first accepted
// file goes to disk as it arrives.
void storageKind().then((kind) => {
  document.body.dataset.storage = kind;
});
signaling.connect();
// Closing the tab (or navigating away) ends every connection on purpose: pc.close() sends the
// peer an SCTP ABORT, so a transfer on the other side ends within a second instead of after
// ICE has heard nothing for ~8 s (browser/peer-gone.test.js measures both).
window.addEventListener('pagehide', () => {
  for (const link of links.values()) link.close();
});
void registerShell();
// Shared into the installed app from another app: always ask which device gets it.
void takeShared().then((shared) => {
  if (shared?.items.length) sendAnywhere.offer({ items: shared.items }, { alwaysAsk: true, title: t('sharedTitle') });
  else if (shared?.text) sendAnywhere.offer({ text: shared.text }, { alwaysAsk: true, title: t('sharedTitle') });
});
