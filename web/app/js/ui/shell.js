// The installed app's side of shell-sw.js: registers it (secure contexts only: a plain-http page
// has no service workers, so it neither works offline nor can be installed, as its notice says),
// hands it the list of loaded assets to keep for offline use, and picks up what another app
// shared into ferry (/?shared=<id>): the files, or else the text, then asks which device gets it.
// `document.body.dataset.shell` is `unsupported`, `registered` or `cached` (for tests).

const SHARED_CACHE = 'ferry-shared';

export async function registerShell() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) {
    document.body.dataset.shell = 'unsupported';
    return;
  }
  try {
    await navigator.serviceWorker.register('/app/shell-sw.js', { scope: '/' });
  } catch (e) {
    console.warn('app shell worker unavailable: no offline use', e);
    document.body.dataset.shell = 'unsupported';
    return;
  }
  document.body.dataset.shell = 'registered';
  const sendList = () => {
    const urls = [location.pathname === '/' ? '/' : '/index.html', ...performance.getEntriesByType('resource').map((r) => r.name)];
    navigator.serviceWorker.controller?.postMessage({ type: 'cache-shell', urls: [...new Set(urls)] });
  };
  navigator.serviceWorker.addEventListener('message', (ev) => {
    if (ev.data?.type === 'shell-cached' && ev.data.count > 0) document.body.dataset.shell = 'cached';
  });
  if (navigator.serviceWorker.controller) sendList();
  else navigator.serviceWorker.addEventListener('controllerchange', sendList, { once: true });
}

/**
 * What another app shared into ferry, read once and removed from the cache.
 * @returns {Promise<{items: import('./file-picking.js').SendItem[], text: string} | null>}
 */
export async function takeShared() {
  const params = new URLSearchParams(location.search);
  const id = params.get('shared');
  if (typeof caches === 'undefined') return null;
  // A share whose page never got to take it (closed during the redirect) is dropped on the next
  // visit rather than kept forever.
  if (!id) {
    if ((await caches.keys()).includes(SHARED_CACHE)) await caches.delete(SHARED_CACHE);
    return null;
  }
  if (!/^[0-9a-f-]{36}$/.test(id)) return null;
  params.delete('shared');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
  const cache = await caches.open(SHARED_CACHE);
  const metaResponse = await cache.match(`/app/shared/${id}/meta`);
  if (!metaResponse) return null;
  /** @type {{files: {name: string, type: string, mtime: number}[], text: string}} */
  const meta = await metaResponse.json();
  /** @type {import('./file-picking.js').SendItem[]} */
  const items = [];
  for (const [i, f] of meta.files.entries()) {
    const r = await cache.match(`/app/shared/${id}/${i}`);
    if (!r) continue;
    const blob = await r.blob();
    const file = new File([blob], f.name, { type: f.type, lastModified: f.mtime });
    items.push({ blob: file, path: file.name, mtime: file.lastModified });
    await cache.delete(`/app/shared/${id}/${i}`);
  }
  await cache.delete(`/app/shared/${id}/meta`);
  return { items, text: meta.text ?? '' };
}
