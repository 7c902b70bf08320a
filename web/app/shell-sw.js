// The app shell's service worker (scope `/`, allowed by the server's Service-Worker-Allowed
// header): the installed app opens without the server, and another app can share files or text
// into ferry (Web Share Target, manifest.webmanifest). Downloads are another worker's job
// (sw.js, scope /app/, which takes the /app/dl/ navigations as the longer scope).
//
// Shell: the page and its assets are fetched from the network first (they change with the server
// binary) and kept in a cache that answers when the network fails. The page sends the list of what
// it loaded ({type: 'cache-shell', urls}) once this worker controls it, since the first visit's
// modules load before the worker exists; the worker answers {type: 'shell-cached', count}.
//
// Share target: the POST to /?share-target=1 is turned into cache entries under
// /app/shared/<id>/ (the files, and `meta` with names and text) and a 303 to /?shared=<id>;
// the page reads and deletes them (ui/shell.js).

const SHELL_CACHE = 'ferry-shell-v1';
const SHARED_CACHE = 'ferry-shared';

const sw = /** @type {any} */ (self);

sw.addEventListener('install', (/** @type {any} */ ev) => {
  ev.waitUntil(caches.open(SHELL_CACHE).then((c) => c.add('/')).then(() => sw.skipWaiting()));
});

sw.addEventListener('activate', (/** @type {any} */ ev) => {
  ev.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith('ferry-shell-') && key !== SHELL_CACHE) await caches.delete(key);
      await sw.clients.claim();
    })(),
  );
});

sw.addEventListener('message', (/** @type {any} */ ev) => {
  const msg = ev.data;
  if (!msg || msg.type !== 'cache-shell' || !Array.isArray(msg.urls)) return;
  const urls = msg.urls.filter((/** @type {unknown} */ u) => typeof u === 'string' && isShellPath(new URL(u, sw.location.origin)));
  ev.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((c) => c.addAll(urls))
      .then(
        () => ev.source?.postMessage({ type: 'shell-cached', count: urls.length }),
        (/** @type {Error} */ e) => ev.source?.postMessage({ type: 'shell-cached', count: 0, error: e.message }),
      ),
  );
});

/** The page and the app's own static files; never downloads, signaling, relays or pipes. @param {URL} url */
function isShellPath(url) {
  if (url.origin !== sw.location.origin) return false;
  if (url.pathname === '/' || url.pathname === '/index.html') return true;
  return url.pathname.startsWith('/app/') && !url.pathname.startsWith('/app/dl/') && !url.pathname.startsWith('/app/shared/');
}

sw.addEventListener('fetch', (/** @type {any} */ ev) => {
  const request = /** @type {Request} */ (ev.request);
  const url = new URL(request.url);
  if (request.method === 'POST' && url.origin === sw.location.origin && url.pathname === '/' && url.searchParams.has('share-target')) {
    ev.respondWith(receiveShare(request));
    return;
  }
  if (request.method !== 'GET' || !isShellPath(url)) return;
  ev.respondWith(networkFirst(request, url));
});

/** @param {Request} request @param {URL} url */
async function networkFirst(request, url) {
  const cache = await caches.open(SHELL_CACHE);
  // Every address of the page (/?room=CODE, /?shared=…) is the same document.
  const key = request.mode === 'navigate' || url.pathname === '/index.html' ? '/' : url.pathname;
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') await cache.put(key, response.clone());
    return response;
  } catch (e) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw e;
  }
}

/** @param {Request} request */
async function receiveShare(request) {
  const form = await request.formData();
  const files = form.getAll('files').filter((f) => typeof f !== 'string');
  const text = ['title', 'text', 'url']
    .map((k) => form.get(k))
    .filter((v) => typeof v === 'string' && v.trim())
    .join('\n');
  const id = crypto.randomUUID();
  const cache = await caches.open(SHARED_CACHE);
  const names = [];
  for (const [i, f] of files.entries()) {
    const file = /** @type {File} */ (f);
    names.push({ name: file.name || `shared-${i + 1}`, type: file.type, mtime: file.lastModified });
    await cache.put(`/app/shared/${id}/${i}`, new Response(file));
  }
  await cache.put(`/app/shared/${id}/meta`, new Response(JSON.stringify({ files: names, text })));
  return Response.redirect(`/?shared=${id}`, 303);
}

// An offer notification shown through this worker (Android): back to the app's window.
sw.addEventListener('notificationclick', (/** @type {any} */ ev) => {
  ev.notification.close();
  ev.waitUntil(
    sw.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((/** @type {any[]} */ list) => (list[0] ? list[0].focus() : sw.clients.openWindow('/'))),
  );
});
