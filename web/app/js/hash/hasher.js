// Hashers for the transfer engine: `update(bytes)` many times, then `digest()` → hex.
// In the page they run in a Worker (hash-worker.js); node tests use the same code inline.

import { Sha256 } from './sha256.js';

/**
 * @typedef {{update(bytes: Uint8Array): void, digest(): Promise<string>, drop(): void}} Hasher
 * `update` may keep or transfer `bytes`: the caller must not use them afterwards.
 * @typedef {() => Hasher} HasherFactory
 */

/** @returns {Hasher} */
export function inlineHasher() {
  const s = new Sha256();
  return {
    update: (b) => void s.update(b),
    digest: async () => s.hex(),
    drop: () => {},
  };
}

/** One worker for the page, many hash states in it. */
export class WorkerHashPool {
  constructor() {
    this.worker = new Worker(new URL('./hash-worker.js', import.meta.url), { type: 'module' });
    this.nextId = 1;
    /** @type {Map<number, (hex: string) => void>} */
    this.waiting = new Map();
    this.worker.onmessage = (ev) => {
      const { id, hex } = ev.data;
      this.waiting.get(id)?.(hex);
      this.waiting.delete(id);
    };
  }

  /** @type {HasherFactory} */
  create = () => {
    const id = this.nextId++;
    return {
      update: (bytes) => {
        // Transfer when the view covers its whole buffer; otherwise copy just the view.
        const buf = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
        this.worker.postMessage({ op: 'update', id, data: buf }, [buf]);
      },
      digest: () =>
        new Promise((resolve) => {
          this.waiting.set(id, resolve);
          this.worker.postMessage({ op: 'digest', id });
        }),
      drop: () => this.worker.postMessage({ op: 'drop', id }),
    };
  };
}
