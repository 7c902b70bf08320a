// Partial received files kept in the Origin Private File System so that a transfer that broke
// off (the sender's tab closed, the connection dropped, this tab reloaded) resumes from what
// arrived (`accept.resume` with the prefix's SHA-256, docs/protocol.md). Used on the `?sink=opfs`
// path: each file is written to `ferry-partial/<key>.part` as it arrives — in place, by
// partial-file-worker.js, where the browser has sync access handles, so that a reload keeps it —
// offered as a download once verified and then removed. What breaks off is kept for KEEP_MS (a day) and removed at once when this side
// cancels or the file fails verification. `<key>` is the SHA-256 of the file's path and size,
// so the same file offered again, by any peer, finds its prefix; the prefix is still checked by
// hash before anything is appended to it.

/** @typedef {import('../transfer/engine.js').FileSink} FileSink */

/** Kept partial files older than this are removed. */
export const KEEP_MS = 24 * 60 * 60 * 1000;
const DIR = 'ferry-partial';

export function keptPartialsAvailable() {
  return typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function' && globalThis.isSecureContext === true;
}

async function folder() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

/** @param {{path: string, size: number}} file */
async function keyOf(file) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${file.path}\n${file.size}`));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {FileSystemDirectoryHandle} dir @param {string} key */
async function forget(dir, key) {
  for (const name of [`${key}.part`, `${key}.json`]) await dir.removeEntry(name).catch(() => {});
}

/** The kept prefix of `file`, or null (none, expired, or not shorter than the file). @param {{path: string, size: number}} file */
export async function keptPrefix(file) {
  const dir = await folder();
  const key = await keyOf(file);
  try {
    const meta = JSON.parse(await (await (await dir.getFileHandle(`${key}.json`)).getFile()).text());
    const data = await (await dir.getFileHandle(`${key}.part`)).getFile();
    if (Date.now() - meta.savedAt > KEEP_MS) {
      await forget(dir, key);
      return null;
    }
    return data.size > 0 && data.size <= file.size ? data : null;
  } catch {
    return null;
  }
}

/** Removes kept files older than KEEP_MS (and stray halves of a pair). */
export async function expireKeptPartials() {
  const dir = await folder();
  // @ts-ignore: FileSystemDirectoryHandle is async-iterable in every browser with OPFS
  for await (const [name, handle] of dir.entries()) {
    if (!name.endsWith('.json')) continue;
    const key = name.slice(0, -5);
    try {
      const meta = JSON.parse(await (await handle.getFile()).text());
      if (Date.now() - meta.savedAt > KEEP_MS) await forget(dir, key);
    } catch {
      await forget(dir, key);
    }
  }
}

/**
 * @typedef {{write(bytes: Uint8Array): Promise<void>, close(): Promise<void>}} PartWriter
 */

/**
 * Writes `<key>.part` in place from a dedicated worker (partial-file-worker.js), or null where the
 * browser has no sync access handles (the file is then written through a writable stream).
 * @param {string} key @param {number} offset @returns {Promise<PartWriter | null>}
 */
async function inPlaceWriter(key, offset) {
  if (typeof Worker === 'undefined') return null;
  const worker = new Worker(new URL('./partial-file-worker.js', import.meta.url), { type: 'module' });
  let nextId = 0;
  /** @type {Map<number, {resolve: () => void, reject: (e: Error) => void}>} */
  const waiting = new Map();
  /** @param {Error} e */
  const failAll = (e) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  worker.onmessage = (ev) => {
    const w = waiting.get(ev.data.id);
    waiting.delete(ev.data.id);
    if (ev.data.ok) w?.resolve();
    else w?.reject(new Error(ev.data.error));
  };
  worker.onerror = (ev) => failAll(new Error(ev.message || 'the file writer stopped'));
  /** @param {object} msg @param {Transferable[]} [transfer] @returns {Promise<void>} */
  const call = (msg, transfer = []) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
  try {
    await call({ op: 'open', dir: DIR, name: `${key}.part`, offset });
  } catch (e) {
    worker.terminate();
    // No sync access handles here (TypeError): the stream writer instead. Anything else (the
    // file is held by another tab, the disk is full) is the sink's failure to report.
    if (/** @type {Error} */ (e).message.startsWith('TypeError')) return null;
    throw e;
  }
  let at = offset;
  return {
    async write(bytes) {
      const copy = bytes.slice();
      const pos = at;
      at += copy.byteLength;
      await call({ op: 'write', bytes: copy.buffer, at: pos }, [copy.buffer]);
    },
    async close() {
      try {
        await call({ op: 'close' });
      } finally {
        worker.terminate();
      }
    },
  };
}

/**
 * Writes `handle` through a FileSystemWritableFileStream: what was written becomes the file only
 * on close() (a reload before that keeps nothing).
 * @param {FileSystemFileHandle} handle @param {number} offset @returns {Promise<PartWriter>}
 */
async function streamWriter(handle, offset) {
  const writable = await handle.createWritable({ keepExistingData: offset > 0 });
  await writable.truncate(offset);
  await writable.seek(offset);
  return {
    write: (bytes) => writable.write(bytes.slice()),
    close: () => writable.close(),
  };
}

/**
 * A sink writing into the kept file of `file`, keeping its first `offset` bytes (a resumed
 * prefix). Verified: offered as a download, then removed. Aborted: kept for resume, except after
 * a hash mismatch or this side's own cancel (`keep` false).
 * @param {{path: string, size: number, type: string}} file @param {number} offset @param {(f: File) => void} present
 * @returns {Promise<FileSink & {abort(reason: string, keep?: boolean): Promise<void>}>}
 */
export async function keptPartialSink(file, offset, present) {
  const dir = await folder();
  const key = await keyOf(file);
  const handle = await dir.getFileHandle(`${key}.part`, { create: true });
  const meta = await (await dir.getFileHandle(`${key}.json`, { create: true })).createWritable();
  await meta.write(JSON.stringify({ path: file.path, size: file.size, savedAt: Date.now() }));
  await meta.close();
  const writer = (await inPlaceWriter(key, offset)) ?? (await streamWriter(handle, offset));
  let open = true;
  const closeOnce = async () => {
    if (!open) return;
    open = false;
    await writer.close();
  };
  return {
    async write(bytes) {
      await writer.write(bytes);
    },
    async close() {
      await closeOnce();
      present(await handle.getFile());
      // The download reads the File; give it time before the kept copy goes.
      setTimeout(() => void forget(dir, key), 60_000);
    },
    async abort(reason, keep = reason !== 'hash mismatch') {
      // Closing commits what was written: that is the prefix a later transfer resumes from.
      await closeOnce().catch(() => {});
      if (!keep) await forget(dir, key);
    },
  };
}
