// Who is around: the rooms this peer is in and the peers in each, folded into one list where a
// peer sharing two rooms appears once. Fed with server messages; emits `change`.

/** @typedef {{id: string, name: string, client: string, device?: string}} PeerInfo `device`: phone, tablet, desktop, or absent */
/** @typedef {{id: string, kind: 'lan' | 'code' | 'paired', peers: PeerInfo[]}} RoomInfo */

export class PeerDirectory extends EventTarget {
  constructor() {
    super();
    /** @type {PeerInfo | null} */
    this.self = null;
    /** @type {Map<string, Map<string, PeerInfo>>} room id → peers */
    this.rooms = new Map();
    /** @type {Map<string, 'lan' | 'code' | 'paired'>} */
    this.roomKinds = new Map();
  }

  /** @param {any} msg a server message */
  apply(msg) {
    switch (msg.type) {
      case 'welcome':
        this.self = msg.peer;
        this.rooms.clear();
        this.roomKinds.clear();
        for (const r of msg.rooms ?? []) this.addRoom(r);
        break;
      case 'room-joined':
        this.addRoom(msg.room);
        break;
      case 'room-peers': {
        // The rest of a big room's list, right after its welcome / room-joined (protocol v2).
        const peers = this.rooms.get(msg.room);
        for (const p of msg.peers ?? []) peers?.set(p.id, p);
        break;
      }
      case 'room-left':
        this.rooms.delete(msg.room);
        this.roomKinds.delete(msg.room);
        break;
      case 'peer-joined':
        this.rooms.get(msg.room)?.set(msg.peer.id, msg.peer);
        break;
      case 'peer-left':
        this.rooms.get(msg.room)?.delete(msg.peerId);
        break;
      case 'peer-updated':
        if (this.self && msg.peer.id === this.self.id) this.self = msg.peer;
        for (const peers of this.rooms.values()) {
          if (peers.has(msg.peer.id)) peers.set(msg.peer.id, msg.peer);
        }
        break;
      default:
        return;
    }
    this.dispatchEvent(new Event('change'));
  }

  /** @param {RoomInfo} room */
  addRoom(room) {
    this.rooms.set(room.id, new Map(room.peers.map((p) => [p.id, p])));
    this.roomKinds.set(room.id, room.kind);
  }

  /** Every other peer once, with the rooms it shares with us, in a stable order. */
  peers() {
    /** @type {Map<string, {info: PeerInfo, rooms: string[]}>} */
    const out = new Map();
    for (const [roomId, peers] of this.rooms) {
      for (const p of peers.values()) {
        const e = out.get(p.id);
        if (e) e.rooms.push(roomId);
        else out.set(p.id, { info: p, rooms: [roomId] });
      }
    }
    return [...out.values()].sort((a, b) => a.info.name.localeCompare(b.info.name) || a.info.id.localeCompare(b.info.id));
  }

  /** @param {string} id */
  peer(id) {
    for (const peers of this.rooms.values()) {
      const p = peers.get(id);
      if (p) return p;
    }
    return null;
  }

  codeRooms() {
    return [...this.roomKinds].filter(([, k]) => k === 'code').map(([id]) => id);
  }
}
