// Paired devices: pair two devices once, and from then on they find each other on any network
// that reaches this server (docs/security.md "Paired devices", docs/protocol.md "Feature pair").
//
// - Pairing: one side sends `pair-request` with a fresh secret inside a connection whose
//   security code both users can compare; the other side's user accepts, and both keep the secret
//   (storage/pairings.js).
// - Finding each other: after every `welcome`, `join-paired` names the room id derived from each
//   secret. The server sees only those ids, so it can put the two devices in one room but cannot
//   pretend to be either.
// - Recognising each other: once a connection's security code is known, each side sends
//   `pair-proof` for each pairing whose room the peer is in. A card says "paired" only after the
//   peer's proof checked out, so a stranger who learnt a room id (the server, say) is shown as a
//   stranger. Peers met in a paired room are connected to at once, to be recognised.
//
// Events: `change` (a pairing was made, verified or removed: cards and the settings list redraw).

import { newPairingSecret, pairingKeys, pairProof, sameHex } from '../protocol/pairing.js';

/** How long `request` waits for the connection's security code before it gives up. */
const CODE_WAIT_MS = 15_000;
/** How long Unpair waits for a connected device to confirm (`pair-revoked`) before leaving anyway. */
const REVOKE_WAIT_MS = 5_000;

/**
 * @typedef {import('../rtc/peer-link.js').PeerLink} PeerLink
 * @typedef {import('../transfer/engine.js').TransferSession} TransferSession
 * @typedef {import('../storage/pairings.js').Pairing} Pairing
 * @typedef {import('../storage/pairings.js').PairingStore} PairingStore
 * @typedef {import('../peer-directory.js').PeerDirectory} PeerDirectory
 */

export class PairedDevices extends EventTarget {
  /**
   * @param {{store: PairingStore, send: (msg: object) => boolean, directory: PeerDirectory,
   *   linkFor: (peerId: string) => PeerLink,
   *   askUser: (peerName: string, code: string, session: TransferSession) => Promise<boolean>}} deps
   *   `send` goes to the signaling server; `askUser` asks whether to pair (resolves false when
   *   the user declines or the question went away)
   */
  constructor(deps) {
    super();
    this.deps = deps;
    /** @type {Map<string, Pairing>} room → pairing, as the store holds them */
    this.pairings = new Map();
    /** @type {Map<string, {room: string, key: Uint8Array}>} */
    this.keys = new Map();
    /** Peers whose proof checked out, with the pairing and the session it holds for. @type {Map<string, {room: string, session: TransferSession}>} */
    this.verified = new Map();
    /** Peers whose proof did not. @type {Set<string>} */
    this.unconfirmed = new Set();
    /** Our requests waiting for an answer, by peer. @type {Map<string, {secret: string, room: string, session: TransferSession, answer: (a: 'accepted' | 'declined') => void}>} */
    this.pending = new Map();
    /** Rooms each session was sent our proof for. @type {WeakMap<TransferSession, Set<string>>} */
    this.proved = new WeakMap();
    /** Peers of paired rooms we connected to so as to recognise them, until they leave. @type {Set<string>} */
    this.reached = new Set();
    /** @type {WeakSet<PeerLink>} */
    this.attached = new WeakSet();
    /** Our `pair-revoke`s waiting for `pair-revoked`. @type {Set<{session: TransferSession, room: string, done: () => void}>} */
    this.revoking = new Set();
    this.loaded = this.reload();
    deps.store.addEventListener('change', () => void this.reload());
  }

  /**
   * Reads the store again and joins (or leaves) rooms to match it: at start, and when another tab
   * changed it. This tab's own changes update the maps first and then write (keep, forget).
   */
  async reload() {
    const list = await this.deps.store.list();
    const before = new Set(this.pairings.keys());
    this.pairings = new Map(list.map((p) => [p.room, p]));
    for (const p of list) if (!this.keys.has(p.room)) this.keys.set(p.room, pairingKeys(p.secret));
    for (const room of before) {
      if (this.pairings.has(room)) continue;
      this.keys.delete(room);
      this.deps.send({ type: 'leave-room', room });
      for (const [peer, v] of this.verified) if (v.room === room) this.verified.delete(peer);
    }
    const added = list.filter((p) => !before.has(p.room)).map((p) => p.room);
    if (added.length > 0) this.deps.send({ type: 'join-paired', rooms: added });
    this.dispatchEvent(new Event('change'));
  }

  /**
   * Forgets a pairing: its device is no longer shown as paired, and its room is left once
   * `settled` is (see unpair).
   * @param {string} room @param {Promise<unknown>} [settled]
   */
  async forget(room, settled) {
    this.pairings.delete(room);
    this.keys.delete(room);
    for (const [peer, v] of this.verified) if (v.room === room) this.verified.delete(peer);
    this.dispatchEvent(new Event('change'));
    await this.deps.store.remove(room);
    await settled;
    if (!this.pairings.has(room)) this.deps.send({ type: 'leave-room', room });
  }

  /** @param {Pairing} pairing */
  async update(pairing) {
    this.pairings.set(pairing.room, pairing);
    this.dispatchEvent(new Event('change'));
    await this.deps.store.put(pairing);
  }

  /** After every `welcome` (the server forgets rooms with the connection): join them all. */
  async rejoin() {
    await this.loaded;
    const rooms = [...this.pairings.keys()];
    if (rooms.length > 0) this.deps.send({ type: 'join-paired', rooms });
  }

  /** @returns {Pairing[]} */
  list() {
    return [...this.pairings.values()];
  }

  /** The pairing a peer proved it holds on its current connection, or null. @param {string} peerId */
  pairedWith(peerId) {
    const v = this.verified.get(peerId);
    return v && !v.session.closed ? (this.pairings.get(v.room) ?? null) : null;
  }

  /** Whether the peer's proof failed on its current connection. @param {string} peerId */
  isUnconfirmed(peerId) {
    return this.unconfirmed.has(peerId);
  }

  /** Follows a link's sessions for pair-* messages and security codes. @param {PeerLink} link */
  attach(link) {
    if (this.attached.has(link)) return;
    this.attached.add(link);
    const peerId = link.opts.peerId;
    link.addEventListener('session', (e) => {
      const session = /** @type {CustomEvent} */ (e).detail;
      this.unconfirmed.delete(peerId);
      session.addEventListener('pair', (/** @type {Event} */ ev) => void this.onPair(peerId, session, /** @type {CustomEvent} */ (ev).detail));
      session.addEventListener('security-code', () => this.prove(peerId, session));
      session.addEventListener('closed', () => {
        if (this.verified.get(peerId)?.session === session) this.verified.delete(peerId);
        const pend = this.pending.get(peerId);
        if (pend && pend.session === session) {
          this.pending.delete(peerId);
          pend.answer('declined');
        }
        this.dispatchEvent(new Event('change'));
      });
    });
  }

  /** Who is in which room changed: connect to peers of paired rooms, prove to those connected. */
  onDirectoryChange() {
    const inPaired = new Set();
    for (const room of this.pairings.keys()) {
      for (const peerId of this.deps.directory.rooms.get(room)?.keys() ?? []) inPaired.add(peerId);
    }
    for (const peerId of inPaired) {
      const link = this.deps.linkFor(peerId);
      this.attach(link);
      if (link.session && !link.session.closed) this.prove(peerId, link.session);
      else if (!this.reached.has(peerId)) {
        this.reached.add(peerId);
        link.connect().catch(() => {});
      }
    }
    for (const peerId of this.reached) if (!inPaired.has(peerId)) this.reached.delete(peerId);
  }

  /** Sends our proof for every pairing whose room the peer is in. @param {string} peerId @param {TransferSession} session */
  prove(peerId, session) {
    for (const room of this.pairings.keys()) {
      if (this.deps.directory.rooms.get(room)?.has(peerId)) this.proveRoom(session, room);
    }
  }

  /** @param {TransferSession} session @param {string} room */
  proveRoom(session, room) {
    const ends = session.verifiedEnds();
    const keys = this.keys.get(room);
    if (!ends || !keys || session.closed || !session.canPair()) return;
    let sent = this.proved.get(session);
    if (!sent) this.proved.set(session, (sent = new Set()));
    if (sent.has(room)) return;
    sent.add(room);
    session.sendPair({ type: 'pair-proof', room, proof: pairProof(keys, ends.own, ends.peer) });
  }

  /**
   * Asks a peer to pair: connects, waits for the security code, sends the request.
   * @param {PeerLink} link
   * @returns {Promise<'accepted' | 'declined'>}
   * @throws {Error} when the peer cannot pair or the connection fails
   */
  async request(link) {
    this.attach(link);
    const peerId = link.opts.peerId;
    const session = await link.connect();
    if (!session.verifiedEnds()) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no security code: the connection cannot be verified')), CODE_WAIT_MS);
        const done = () => {
          clearTimeout(timer);
          resolve(undefined);
        };
        session.addEventListener('security-code', done, { once: true });
        session.addEventListener('closed', () => {
          clearTimeout(timer);
          reject(new Error('the connection closed'));
        }, { once: true });
      });
    }
    if (!session.canPair()) throw new Error('unsupported');
    const secret = newPairingSecret();
    const { room } = pairingKeys(secret);
    this.pending.get(peerId)?.answer('declined');
    return new Promise((answer) => {
      this.pending.set(peerId, { secret, room, session, answer });
      session.sendPair({ type: 'pair-request', secret });
    });
  }

  /** Forgets a pairing here and, where its device is connected, there too. @param {string} room */
  async unpair(room) {
    const answers = [];
    for (const v of this.verified.values()) {
      if (v.room === room && !v.session.closed && v.session.canPair()) answers.push(this.revoke(v.session, room));
    }
    // The room is left only once the device confirmed: sharing no room any more may end the
    // connection (always on the relay), and with it a revoke still on its way.
    await this.forget(room, Promise.all(answers));
  }

  /**
   * Sends `pair-revoke`; resolves on the answer, the connection's end, or after REVOKE_WAIT_MS.
   * @param {TransferSession} session @param {string} room
   */
  revoke(session, room) {
    return new Promise((resolve) => {
      const entry = {
        session,
        room,
        done: () => {
          clearTimeout(timer);
          session.removeEventListener('closed', entry.done);
          this.revoking.delete(entry);
          resolve(undefined);
        },
      };
      const timer = setTimeout(entry.done, REVOKE_WAIT_MS);
      session.addEventListener('closed', entry.done);
      this.revoking.add(entry);
      session.sendPair({ type: 'pair-revoke', room });
    });
  }

  /** @param {string} peerId @param {TransferSession} session @param {import('../protocol/control.js').PairMessage} msg */
  async onPair(peerId, session, msg) {
    switch (msg.type) {
      case 'pair-proof': {
        const pairing = this.pairings.get(msg.room);
        const keys = this.keys.get(msg.room);
        const ends = session.verifiedEnds();
        if (!pairing || !keys || !ends) return;
        if (!sameHex(msg.proof, pairProof(keys, ends.peer, ends.own))) {
          console.warn(`pairing: ${peerId}'s proof for room ${msg.room} does not check out`);
          this.unconfirmed.add(peerId);
          this.dispatchEvent(new Event('change'));
          return;
        }
        this.unconfirmed.delete(peerId);
        this.verified.set(peerId, { room: msg.room, session });
        // Proofs cross: the peer knows the pairing, so it gets ours even before the directory
        // shows it in the room.
        this.proveRoom(session, msg.room);
        const info = this.deps.directory.peer(peerId);
        await this.update({ ...pairing, name: info?.name ?? pairing.name, ...(info?.device ? { device: info.device } : {}), lastSeen: Date.now() });
        return;
      }
      case 'pair-request': {
        const keys = pairingKeys(msg.secret);
        if (this.pairings.has(keys.room)) {
          // Asked again for a pairing we hold (the other side lost its answer): say yes again.
          session.sendPair({ type: 'pair-accept', room: keys.room });
          return;
        }
        const name = this.deps.directory.peer(peerId)?.name ?? peerId;
        const code = session.securityCode ?? '';
        const yes = session.verifiedEnds() !== null && (await this.deps.askUser(name, code, session));
        if (session.closed) return;
        if (!yes) {
          session.sendPair({ type: 'pair-decline', room: keys.room });
          return;
        }
        await this.keep(msg.secret, keys.room, peerId);
        session.sendPair({ type: 'pair-accept', room: keys.room });
        this.proveRoom(session, keys.room);
        return;
      }
      case 'pair-accept': {
        const pend = this.pending.get(peerId);
        if (!pend || pend.session !== session || pend.room !== msg.room) return;
        this.pending.delete(peerId);
        await this.keep(pend.secret, pend.room, peerId);
        this.proveRoom(session, pend.room);
        pend.answer('accepted');
        return;
      }
      case 'pair-decline': {
        const pend = this.pending.get(peerId);
        if (!pend || pend.session !== session || pend.room !== msg.room) return;
        this.pending.delete(peerId);
        pend.answer('declined');
        return;
      }
      case 'pair-revoke': {
        // Only from the device that proved it holds this pairing, on this connection.
        const v = this.verified.get(peerId);
        if (v?.room !== msg.room || v.session !== session) return;
        // Answered first: leaving the room may end this connection.
        session.sendPair({ type: 'pair-revoked', room: msg.room });
        await this.forget(msg.room);
        return;
      }
      case 'pair-revoked':
        for (const r of this.revoking) if (r.session === session && r.room === msg.room) r.done();
        return;
    }
  }

  /** @param {string} secret @param {string} room @param {string} peerId */
  async keep(secret, room, peerId) {
    const info = this.deps.directory.peer(peerId);
    const now = Date.now();
    this.keys.set(room, pairingKeys(secret));
    this.deps.send({ type: 'join-paired', rooms: [room] });
    await this.update({ room, secret, name: info?.name ?? peerId, ...(info?.device ? { device: info.device } : {}), pairedAt: now, lastSeen: now });
  }
}
