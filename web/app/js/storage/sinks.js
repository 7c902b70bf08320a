// Where received files go (FileSink, see transfer/engine.js):
// - streamed download through the service worker (sw.js) when the page is a secure context
//   (https, or localhost): written to disk as it arrives, nothing held in memory;
// - otherwise (plain http on a LAN address has no service workers) an in-memory Blob saved when
//   the file is verified — the UI warns about this before accepting large offers.
// Files of a folder are saved under their relative path with `/` turned into ` - `, because a
// download cannot create folders; the path is still shown in the UI.

/** @typedef {import('../transfer/engine.js').FileSink} FileSink */
/** @typedef {import('../transfer/engine.js').SinkFactory} SinkFactory */

/** How long a failed streamed download is given to be torn down before the next one starts. */
const ABORT_SETTLE_MS = 1000;

/** Above this, a receive into memory gets a warning in the offer dialog. */
export const MEMORY_WARNING_BYTES = 256 * 1024 * 1024;

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
  const ready = new Promise((resolve) => {
    channel.port1.onmessage = (m) => {
      if (m.data.type === 'ready') resolve(m.data.url);
      else if (m.data.type === 'aborted') aborted();
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
    write(bytes) {
      const buf = bytes.slice().buffer;
      channel.port1.postMessage({ type: 'chunk', data: buf }, [buf]);
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
      return done;
    },
  };
}

/** @param {{path: string, size: number, type: string}} file @returns {FileSink} */
function memorySink(file) {
  /** @type {Uint8Array<ArrayBuffer>[]} */
  let chunks = [];
  return {
    write(bytes) {
      chunks.push(bytes.slice());
    },
    async close() {
      const blob = new Blob(chunks, { type: file.type || 'application/octet-stream' });
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
      chunks = [];
    },
  };
}

/** @returns {Promise<{factory: SinkFactory, streaming: boolean}>} */
export async function makeSinkFactory() {
  const reg = await streamingSupport();
  if (reg) return { streaming: true, factory: (file) => streamedSink(reg, file) };
  return { streaming: false, factory: (file) => memorySink(file) };
}
