// Module worker hashing file data off the main thread. Several files hash at once (a send and a
// receive can overlap), each under its own id.
// In:  {op: 'update', id, data: ArrayBuffer (transferred)} | {op: 'digest', id} | {op: 'drop', id}
// Out: {id, hex} in answer to 'digest'.

import { Sha256 } from './sha256.js';

/** @type {Map<number, Sha256>} */
const states = new Map();

self.onmessage = (ev) => {
  const { op, id, data } = ev.data;
  if (op === 'update') {
    let s = states.get(id);
    if (!s) states.set(id, (s = new Sha256()));
    s.update(new Uint8Array(data));
  } else if (op === 'digest') {
    const s = states.get(id) ?? new Sha256();
    states.delete(id);
    self.postMessage({ id, hex: s.hex() });
  } else if (op === 'drop') {
    states.delete(id);
  }
};
