// Where received files go (FileSink, see transfer/engine.js):
// - kept in the Origin Private File System as they arrive (kept-partials.js) and offered as a
//   download once verified, wherever the browser has it: what breaks off is kept a day, so the
//   transfer resumes after a reload or a dropped connection;
// - else a streamed download through the service worker (sw.js) when the page is a secure context
//   (https, or localhost): written to disk as it arrives, nothing held in memory;
// - otherwise (plain http on a LAN address has no service workers) an in-memory Blob saved when
//   the file is verified — the UI warns about this before accepting large offers.
// Files of a folder are saved under their relative path with `/` turned into ` - `, because a
// download cannot create folders; the path is still shown in the UI.

import { t } from '../i18n.js';
import { expireKeptPartials, keptPartialSink, keptPartialsAvailable, keptPrefix } from './kept-partials.js';

/** @typedef {import('../transfer/engine.js').FileSink} FileSink */
/** @typedef {import('../transfer/engine.js').SinkFactory} SinkFactory */

/** How long a failed streamed download is given to be torn down before the next one starts. */
const ABORT_SETTLE_MS = 1000;

/**
 * Bytes a streamed download may hold in the service worker beyond what the browser's download
 * took: a write resolves only once the worker holds less than this. The engine grants the
 * sender credit as writes resolve, so a disk slower than the network slows the sender
 * (docs/protocol.md "Flow control") and no queue grows with the file.
 */
const STREAM_BUFFER_BYTES = 1024 * 1024;

/** The memory-receive budget where the browser does not say how much memory it has. */
export const DEFAULT_MEMORY_BUDGET_BYTES = 256 * 1024 * 1024;
/** Never more than this, however much memory the device reports. */
const MAX_MEMORY_BUDGET_BYTES = 1024 * 1024 * 1024;

/**
 * How much a receive into memory may hold before the offer dialog warns (docs/testing.md):
 * an eighth of `navigator.deviceMemory` (GiB, which browsers round down and cap at 8, and expose
 * only in secure contexts) between 256 MiB and 1 GiB; 256 MiB where the browser does not say.
 * A tab shares the device with everything else, and the page needs a second copy while it
 * hands the file to the browser's download, so the budget is a fraction of the device.
 * @param {number | undefined} [deviceMemoryGiB] defaults to this browser's `navigator.deviceMemory`
 */
export function memoryBudgetBytes(deviceMemoryGiB = /** @type {any} */ (globalThis.navigator)?.deviceMemory) {
  if (typeof deviceMemoryGiB !== 'number' || !(deviceMemoryGiB > 0)) return DEFAULT_MEMORY_BUDGET_BYTES;
  const eighth = (deviceMemoryGiB * 1024 * 1024 * 1024) / 8;
  return Math.min(MAX_MEMORY_BUDGET_BYTES, Math.max(DEFAULT_MEMORY_BUDGET_BYTES, eighth));
}

/** @param {string} path */
export function downloadName(path) {
  return path.split('/').join(' - ');
}

/** @type {Promise<ServiceWorkerRegistration | null> | null} */
let registration = null;

/** Registers /app/sw.js once; resolves to null where service workers are unavailable. */
export function streamingSupport() {
  if (!registration) {
    registration = (async () => {
      if (!('serviceWorker' in navigator) || !window.isSecureContext) return null;
      if (new URLSearchParams(location.search).get('sink') === 'memory') return null;
      try {
        const reg = await navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' });
        // Not `serviceWorker.ready`: that waits for a worker controlling *this* page, and the
        // page at / is outside the worker's /app/ scope on purpose.
        await activated(reg);
        return reg;
      } catch (e) {
        console.warn('service worker unavailable, receiving into memory', e);
        return null;
      }
    })();
  }
  return registration;
}

/** @param {ServiceWorkerRegistration} reg */
function activated(reg) {
  return new Promise((resolve, reject) => {
    const sw = reg.installing ?? reg.waiting ?? reg.active;
    if (!sw) return reject(new Error('no service worker'));
    if (sw.state === 'activated') return resolve(undefined);
    const timer = setTimeout(() => reject(new Error('service worker did not activate')), 10_000);
    sw.addEventListener('statechange', () => {
      if (sw.state === 'activated') {
        clearTimeout(timer);
        resolve(undefined);
      } else if (sw.state === 'redundant') {
        clearTimeout(timer);
        reject(new Error('service worker became redundant'));
      }
    });
  });
}

/** @param {string} url */
function startDownload(url) {
  // A hidden iframe: navigating it to an attachment response downloads without leaving the page.
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = url;
  document.body.append(frame);
  // The download outlives the iframe; remove it once the response has surely started.
  setTimeout(() => frame.remove(), 60_000);
}

let downloadSeq = 0;
/** @type {ReturnType<typeof setInterval> | undefined} */
let keepAlive;
let openStreams = 0;

/**
 * @param {ServiceWorkerRegistration} reg
 * @param {{path: string, size: number}} file
 * @returns {Promise<FileSink>}
 */
async function streamedSink(reg, file) {
  const worker = reg.active;
  if (!worker) throw new Error('service worker is not active');
  const channel = new MessageChannel();
  const id = `${Date.now().toString(36)}-${(downloadSeq++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  /** @type {() => void} */
  let aborted = () => {};
  /** Bytes posted to the worker that the download has not taken yet. */
  let held = 0;
  /** Set when the user cancelled the download in the browser: writes fail from then on. */
  let cancelled = false;
  /** The worker reports drained chunks (false for an older worker still active during an update). */
  let drains = false;
  /** Wakes a write waiting for the worker to drain. @type {(() => void) | null} */
  let drained = null;
  const wake = () => {
    drained?.();
    drained = null;
  };
  const ready = new Promise((resolve) => {
    channel.port1.onmessage = (m) => {
      if (m.data.type === 'ready') {
        drains = m.data.drains === true;
        resolve(m.data.url);
      }
      else if (m.data.type === 'drained') {
        held -= m.data.bytes;
        wake();
      } else if (m.data.type === 'cancelled') {
        cancelled = true;
        wake();
      } else if (m.data.type === 'aborted') aborted();
    };
  });
  worker.postMessage({ type: 'ferry-download', id, name: downloadName(file.path), size: file.size, port: channel.port2 }, [channel.port2]);
  startDownload(/** @type {string} */ (await ready));
  openStreams += 1;
  // Browsers stop idle service workers; messages to it count as activity.
  keepAlive ??= setInterval(() => reg.active?.postMessage({ type: 'ping' }), 10_000);
  let open = true;
  const finish = () => {
    if (!open) return;
    open = false;
    openStreams -= 1;
    if (openStreams === 0) {
      clearInterval(keepAlive);
      keepAlive = undefined;
    }
  };
  return {
    async write(bytes) {
      if (cancelled) throw new Error(t('downloadCancelled'));
      const buf = bytes.slice().buffer;
      held += buf.byteLength;
      channel.port1.postMessage({ type: 'chunk', data: buf }, [buf]);
      while (drains && held >= STREAM_BUFFER_BYTES && !cancelled && open) await new Promise((/** @type {(v?: any) => void} */ r) => (drained = r));
      if (cancelled) throw new Error(t('downloadCancelled'));
    },
    async close() {
      channel.port1.postMessage({ type: 'close' });
      finish();
    },
    // Resolves a moment after the worker has failed the download. Chromium cancels the *next*
    // download too when it starts while the failed one is still being torn down in the browser
    // process (the integrity e2e test lost ~1 in 5 runs that way; the worker's ack alone still
    // lost 1 in 12), so the engine waits for this before opening the next file's download.
    // Only failed files pay the delay.
    abort(reason) {
      const done = new Promise((resolve) => {
        aborted = () => setTimeout(resolve, ABORT_SETTLE_MS);
        setTimeout(resolve, 3000);
      });
      channel.port1.postMessage({ type: 'abort', reason });
      finish();
      wake();
      return done;
    },
  };
}

/** Received chunks are folded into a Blob every this many bytes (see memorySink). */
const MEMORY_PART_BYTES = 8 * 1024 * 1024;

/** @param {{path: string, size: number, type: string}} file @returns {FileSink} */
function memorySink(file) {
  // Chunks go into Blobs of MEMORY_PART_BYTES as they arrive: the browser owns a Blob's bytes
  // (Chromium may page big ones to disk), and the final Blob of Blobs is assembled without a
  // second copy of the whole file in the page.
  /** @type {Blob[]} */
  let parts = [];
  /** @type {Uint8Array<ArrayBuffer>[]} */
  let chunks = [];
  let pending = 0;
  return {
    write(bytes) {
      try {
        chunks.push(bytes.slice());
        pending += bytes.length;
        if (pending >= MEMORY_PART_BYTES) {
          parts.push(new Blob(chunks));
          chunks = [];
          pending = 0;
        }
      } catch {
        // A RangeError ("Array buffer allocation failed") says nothing to a user.
        parts = [];
        chunks = [];
        throw new Error(t('memoryFull'));
      }
    },
    async close() {
      const blob = new Blob([...parts, ...chunks], { type: file.type || 'application/octet-stream' });
      parts = [];
      chunks = [];
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = downloadName(file.path);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort() {
      parts = [];
      chunks = [];
    },
  };
}

/** Offers a received file as a download of `blob` (an in-memory Blob, or an OPFS File). @param {Blob} blob @param {string} path */
function presentDownload(blob, path) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = downloadName(path);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Free room the origin's storage must keep beyond a kept file, so that a file never fills it. */
const OPFS_HEADROOM_BYTES = 64 * 1024 * 1024;

/** @type {Promise<boolean> | null} */
let opfsUsable = null;

/**
 * Whether received files are kept in the Origin Private File System on this page: by default
 * wherever the browser has it (secure contexts of Chromium, Firefox and Safari), because only a
 * kept file can resume after a reload or a dropped connection. `?sink=stream` / `?sink=memory`
 * choose the other sinks (tests; a browser whose OPFS is there but refuses, as in some private
 * windows, falls back by itself).
 */
export function keepsPartials() {
  if (!opfsUsable) {
    const forced = new URLSearchParams(location.search).get('sink');
    opfsUsable =
      forced === 'stream' || forced === 'memory' || !keptPartialsAvailable()
        ? Promise.resolve(false)
        : expireKeptPartials().then(
            () => true,
            (e) => {
              console.warn('the origin private file system is unavailable: received files are not kept for a resume', e);
              return false;
            },
          );
  }
  return opfsUsable;
}

/** What this page receives into: `opfs` (kept, resumable), `stream` (service worker download) or `memory`. */
export async function storageKind() {
  // The download worker is registered either way: it takes what the OPFS has no room for.
  const [keeps, reg] = await Promise.all([keepsPartials(), streamingSupport()]);
  return keeps ? 'opfs' : reg ? 'stream' : 'memory';
}

/** Whether the origin's storage has room to keep `bytes` more (true where the browser does not say). @param {number} bytes */
async function roomToKeep(bytes) {
  try {
    const { quota, usage } = await navigator.storage.estimate();
    if (typeof quota !== 'number' || typeof usage !== 'number') return true;
    return quota - usage >= bytes + OPFS_HEADROOM_BYTES;
  } catch {
    return true;
  }
}

/**
 * `factory` makes the sinks; `streaming`: they go to disk as they arrive; `kept` (where files are
 * kept in the OPFS): the kept prefix of a file from a transfer that broke off, to resume from.
 * A new file the origin's storage has no room for, or whose kept file another transfer holds
 * (the same file arriving twice at once), goes to the streamed download instead (or memory).
 * @returns {Promise<{factory: SinkFactory, streaming: boolean, kept?: (file: {path: string, size: number}) => Promise<Blob | null>}>}
 */
export async function makeSinkFactory() {
  const reg = await streamingSupport();
  /** @type {SinkFactory} */
  const plain = reg ? (file) => streamedSink(reg, file) : (file) => memorySink(file);
  if (await keepsPartials()) {
    return {
      streaming: true,
      factory: async (file, index, transfer, offset = 0) => {
        if (offset === 0 && !(await roomToKeep(file.size))) return plain(file, index, transfer);
        try {
          return await keptPartialSink(file, offset, (f) => presentDownload(f.slice(0, f.size, file.type || 'application/octet-stream'), file.path));
        } catch (e) {
          if (offset > 0) throw e;
          console.warn('the file cannot be kept, receiving it without keeping', e);
          return plain(file, index, transfer);
        }
      },
      kept: keptPrefix,
    };
  }
  return { streaming: reg != null, factory: plain };
}
