// The devices this browser is paired with, kept in IndexedDB (docs/security.md "Paired devices"):
// per origin, shared by the tabs of one browser profile, kept across restarts, removed only by
// Unpair (here or on the other device). Four calls on one object store: plain IndexedDB, no
// wrapper library. Tabs tell each other of changes over a BroadcastChannel, so a pairing made in
// one tab makes the others join its room too.
//
// Where IndexedDB is missing or refused (some private modes), pairings live in page memory only
// and `persistent` is false; the settings panel says so.

const DB_NAME = 'ferry';
const STORE = 'pairings';

/**
 * @typedef {{room: string, secret: string, name: string, device?: string, pairedAt: number,
 *   lastSeen: number}} Pairing `room` is derived from `secret` (protocol/pairing.js); `name` and
 *   `device` are what the other device was called when last verified
 */

/** @param {IDBRequest | IDBTransaction} req */
function done(req) {
  return new Promise((resolve, reject) => {
    if ('oncomplete' in req) {
      req.oncomplete = () => resolve(undefined);
      req.onabort = req.onerror = () => reject(req.error ?? new Error('IndexedDB transaction failed'));
    } else {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
    }
  });
}

async function openDb() {
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'room' });
  return /** @type {Promise<IDBDatabase>} */ (done(req));
}

/** Events: `change` (another tab changed the list; this tab's own writes are not announced to itself). */
export class PairingStore extends EventTarget {
  constructor() {
    super();
    /** @type {Promise<IDBDatabase | null>} */
    this.db = typeof indexedDB === 'undefined' ? Promise.resolve(null) : openDb().catch(() => null);
    /** @type {Map<string, Pairing>} page-memory fallback */
    this.memory = new Map();
    this.persistent = true;
    this.channel = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel('ferry-pairings');
    if (this.channel) this.channel.onmessage = () => this.dispatchEvent(new Event('change'));
    void this.db.then((db) => {
      if (!db) this.persistent = false;
    });
  }

  /** @returns {Promise<Pairing[]>} oldest first */
  async list() {
    const db = await this.db;
    const all = db ? /** @type {Pairing[]} */ (await done(db.transaction(STORE).objectStore(STORE).getAll())) : [...this.memory.values()];
    return all.sort((a, b) => a.pairedAt - b.pairedAt);
  }

  /** @param {string} room @returns {Promise<Pairing | null>} */
  async get(room) {
    const db = await this.db;
    if (!db) return this.memory.get(room) ?? null;
    return /** @type {Pairing | undefined} */ (await done(db.transaction(STORE).objectStore(STORE).get(room))) ?? null;
  }

  /** @param {Pairing} pairing */
  async put(pairing) {
    await this.write((s) => s.put(pairing), () => this.memory.set(pairing.room, pairing));
  }

  /** @param {string} room */
  async remove(room) {
    await this.write((s) => s.delete(room), () => this.memory.delete(room));
  }

  /** @param {(s: IDBObjectStore) => void} op @param {() => void} fallback */
  async write(op, fallback) {
    const db = await this.db;
    if (db) {
      const tx = db.transaction(STORE, 'readwrite');
      op(tx.objectStore(STORE));
      await done(tx);
    } else {
      fallback();
    }
    this.channel?.postMessage('change');
  }
}
