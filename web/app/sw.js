// Service worker serving streamed downloads: a received file is written through a MessagePort
// into a ReadableStream that is the body of the response for /app/dl/<id>/<name>, so the browser
// saves it to disk as it arrives and a multi-GiB file never sits in memory. Scope: /app/.
//
// Page → worker: {type: 'ferry-download', id, name, size, port} (port transferred), then on the
// port: {type: 'chunk', data: ArrayBuffer} … and finally {type: 'close'} (verified) or
// {type: 'abort', reason} (hash mismatch, cancel, lost peer: the download fails instead of
// leaving a truncated or corrupt file that looks complete). {type: 'ping'} keeps us alive.
// Worker → page on the port: {type: 'ready', url, drains: true}, {type: 'drained', bytes} each time the
// download took a chunk (the page grants the sender credit from these: flow control, so a disk
// slower than the network slows the sender instead of filling this worker's memory),
// {type: 'aborted'} once an abort is done, and {type: 'cancelled'} if the user cancelled the
// download in the browser.

/** @type {Map<string, {stream: ReadableStream<Uint8Array>, name: string, size: number}>} */
const pending = new Map();

self.addEventListener('install', () => /** @type {any} */ (self).skipWaiting());
self.addEventListener('activate', (ev) => /** @type {any} */ (ev).waitUntil(/** @type {any} */ (self).clients.claim()));

self.addEventListener('message', (ev) => {
  const msg = /** @type {MessageEvent} */ (ev).data;
  if (!msg || msg.type !== 'ferry-download') return;
  const { id, name, size } = msg;
  /** @type {MessagePort} */
  const port = msg.port;
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let controller;
  /** Chunks from the page not yet taken by the download (the page bounds how many). @type {Uint8Array[]} */
  const queue = [];
  let closing = false;
  /** Wakes a pull waiting for the next chunk. @type {(() => void) | null} */
  let arrived = null;
  const stream = new ReadableStream(
    {
      start(c) {
        controller = c;
      },
      // Called when the download has room for one more chunk: that is when a chunk counts as
      // drained, not when it arrived here.
      async pull(c) {
        while (queue.length === 0 && !closing) await new Promise((/** @type {(v?: any) => void} */ r) => (arrived = r));
        const chunk = queue.shift();
        if (chunk) {
          c.enqueue(chunk);
          port.postMessage({ type: 'drained', bytes: chunk.byteLength });
        } else if (closing) {
          try {
            c.close();
          } catch {
            // Errored by an abort meanwhile: nothing to close.
          }
        }
      },
      cancel() {
        port.postMessage({ type: 'cancelled' });
      },
    },
    { highWaterMark: 1 },
  );
  port.onmessage = (m) => {
    const d = m.data;
    try {
      if (d.type === 'chunk') queue.push(new Uint8Array(d.data));
      else if (d.type === 'close') closing = true;
      else if (d.type === 'abort') {
        queue.length = 0;
        closing = true; // ends a pull waiting for a chunk that will not come
        controller.error(new Error(d.reason || 'aborted'));
      }
    } catch {
      // The stream is already closed or errored (e.g. the user cancelled the download).
    }
    arrived?.();
    arrived = null;
    if (d.type === 'abort') port.postMessage({ type: 'aborted' });
  };
  pending.set(id, { stream, name, size });
  // `drains`: this worker reports `drained` (an older one, still active during an update, does not).
  port.postMessage({ type: 'ready', url: `/app/dl/${id}/${encodeURIComponent(name)}`, drains: true });
});

self.addEventListener('fetch', (ev) => {
  const fe = /** @type {any} */ (ev);
  const url = new URL(fe.request.url);
  const m = /^\/app\/dl\/([A-Za-z0-9-]+)\//.exec(url.pathname);
  if (!m) return;
  const entry = pending.get(m[1]);
  if (!entry) {
    fe.respondWith(new Response('This download is no longer available.\n', { status: 404 }));
    return;
  }
  pending.delete(m[1]);
  fe.respondWith(
    new Response(entry.stream, {
      headers: {
        'Content-Type': 'application/octet-stream',
        // With a length, a stream that ends early is a failed download, never a short file.
        'Content-Length': String(entry.size),
        'Content-Disposition': `attachment; filename*=UTF-8''${rfc5987(entry.name)}`,
        'X-Content-Type-Options': 'nosniff',
      },
    }),
  );
});

/** encodeURIComponent leaves ' ( ) * unescaped, which RFC 5987 values may not contain. @param {string} s */
function rfc5987(s) {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
