// Received files kept in the Origin Private File System so that a transfer that broke off (the
// sender's tab closed, the connection dropped, this tab reloaded) resumes from what arrived
// (`accept.resume` with the prefix's SHA-256, docs/protocol.md). Every received file goes this
// way where the browser has an OPFS (storage/sinks.js).
//
// In `ferry-partial/`: each receive writes a data file of its own, `<nonce>.part`, as it arrives
// (in place, by partial-file-worker.js, where the browser has sync access handles, so that a
// reload keeps it). `<key>.json` names the data file a later offer of the same file resumes
// from; `<key>` is the SHA-256 of the file's path and size, so the same file offered again, by
// any peer, finds its prefix, which is still checked by hash before anything is appended to it.
// A verified file is no longer resumable: its `<key>.json` goes, `<nonce>.done` notes when, it is
// offered as a download and removed once the download has had time to copy it out
// (`presentGraceMs`; a later page removes what an earlier one left). What breaks off is kept for
// KEEP_MS (a day) and removed at once when this side cancels or the file fails verification.
// A data file per receive means the same file arriving twice at once, or again while the
// browser still copies the first, never writes into another receive's file.

/** @typedef {import('../transfer/engine.js').FileSink} FileSink */

/** Kept partial files older than this are removed. */
export const KEEP_MS = 24 * 60 * 60 * 1000;
const DIR = 'ferry-partial';

/**
 * How long a verified file stays after it was offered as a download: the browser's download
 * copies it out of the OPFS meanwhile, and removing it sooner fails that copy. A minute, plus
 * the file's size at a slow disk's 10 MB/s.
 * @param {number} size
 */
export function presentGraceMs(size) {
  return 60_000 + (size / 10e6) * 1000;
}

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

/** @param {FileSystemDirectoryHandle} dir @param {string[]} names */
async function remove(dir, ...names) {
  for (const name of names) await dir.removeEntry(name).catch(() => {});
}

/** @param {FileSystemDirectoryHandle} dir @param {string} name @returns {Promise<any>} */
async function readJson(dir, name) {
  return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text());
}

/** @param {FileSystemDirectoryHandle} dir @param {string} name @param {object} value */
async function writeJson(dir, name, value) {
  const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
  await w.write(JSON.stringify(value));
  await w.close();
}

/** A data file name that no other receive uses. */
function newDataName() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}.part`;
}

/** The resumable entry of `key`: its note and data file, or null. @param {FileSystemDirectoryHandle} dir @param {string} key */
async function entry(dir, key) {
  try {
    const meta = await readJson(dir, `${key}.json`);
    if (typeof meta.data !== 'string' || !meta.data.endsWith('.part')) return null;
    return { meta, data: await (await dir.getFileHandle(meta.data)).getFile() };
  } catch {
    return null;
  }
}

/** The kept prefix of `file`, or null (none, expired, or not shorter than the file). @param {{path: string, size: number}} file */
export async function keptPrefix(file) {
  const dir = await folder();
  const key = await keyOf(file);
  const found = await entry(dir, key);
  if (!found) return null;
  if (Date.now() - found.meta.savedAt > KEEP_MS) {
    await remove(dir, `${key}.json`, found.meta.data);
    return null;
  }
  return found.data.size > 0 && found.data.size <= file.size ? found.data : null;
}

/** Removes kept files older than KEEP_MS, verified ones past their download's grace, and data files nothing refers to. */
export async function expireKeptPartials() {
  const dir = await folder();
  const now = Date.now();
  /** @type {Map<string, File>} */
  const data = new Map();
  const referred = new Set();
  // @ts-ignore: FileSystemDirectoryHandle is async-iterable in every browser with OPFS
  for await (const [name, handle] of dir.entries()) {
    if (name.endsWith('.part')) {
      data.set(name, await handle.getFile());
      continue;
    }
    try {
      const meta = JSON.parse(await (await handle.getFile()).text());
      const expired = name.endsWith('.done') ? now - meta.completedAt > presentGraceMs(meta.size) : now - meta.savedAt > KEEP_MS;
      if (expired) await remove(dir, name, meta.data);
      else referred.add(meta.data);
    } catch {
      await remove(dir, name);
    }
  }
  // A data file whose note was replaced (the same file received twice at once) or lost; one
  // written in the last minute may belong to a receive that is just starting.
  for (const [name, file] of data) if (!referred.has(name) && now - file.lastModified > 60_000) await remove(dir, name);
}

/**
 * @typedef {{write(bytes: Uint8Array): Promise<void>, close(): Promise<void>}} PartWriter
 */

/**
 * Writes the data file `name` in place from a dedicated worker (partial-file-worker.js), or null where the
 * browser has no sync access handles (the file is then written through a writable stream).
 * @param {string} name @param {number} offset @returns {Promise<PartWriter | null>}
 */
async function inPlaceWriter(name, offset) {
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
    await call({ op: 'open', dir: DIR, name, offset });
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
 * A sink writing `file` into the OPFS: into the kept data file of a resume (keeping its first
 * `offset` bytes), or a new one. Verified: offered as a download, then removed. Aborted: kept
 * for resume, except after a hash mismatch or this side's own cancel (`keep` false).
 * @param {{path: string, size: number, type: string}} file @param {number} offset @param {(f: File) => void} present
 * @returns {Promise<FileSink & {abort(reason: string, keep?: boolean): Promise<void>}>}
 */
export async function keptPartialSink(file, offset, present) {
  const dir = await folder();
  const key = await keyOf(file);
  const earlier = await entry(dir, key);
  if (offset > 0 && !earlier) throw new Error('the kept part of this file is gone');
  const dataName = offset > 0 ? /** @type {{meta: any}} */ (earlier).meta.data : newDataName();
  // An earlier part not resumed from (a prefix of another file, or none asked for) is replaced.
  if (offset === 0 && earlier) await remove(dir, earlier.meta.data);
  const handle = await dir.getFileHandle(dataName, { create: true });
  await writeJson(dir, `${key}.json`, { path: file.path, size: file.size, savedAt: Date.now(), data: dataName });
  const writer = (await inPlaceWriter(dataName, offset)) ?? (await streamWriter(handle, offset));
  let open = true;
  const closeOnce = async () => {
    if (!open) return;
    open = false;
    await writer.close();
  };
  /** Removes this receive's note, unless a later receive of the same file has replaced it. */
  const forgetNote = async () => {
    if ((await entry(dir, key))?.meta.data === dataName) await remove(dir, `${key}.json`);
  };
  return {
    async write(bytes) {
      await writer.write(bytes);
    },
    async close() {
      await closeOnce();
      // Noted first: a reload from here on neither resumes from it nor keeps it a day.
      await writeJson(dir, dataName.replace(/\.part$/, '.done'), { size: file.size, completedAt: Date.now(), data: dataName });
      await forgetNote();
      present(await handle.getFile());
      setTimeout(() => void remove(dir, dataName, dataName.replace(/\.part$/, '.done')), presentGraceMs(file.size));
    },
    async abort(reason, keep = reason !== 'hash mismatch') {
      // Closing commits what was written: that is the prefix a later transfer resumes from.
      await closeOnce().catch(() => {});
      if (!keep) {
        await forgetNote();
        await remove(dir, dataName);
      }
    },
  };
}
