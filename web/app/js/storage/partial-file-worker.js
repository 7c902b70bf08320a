// Writes one kept partial file (storage/kept-partials.js) in place, through a
// FileSystemSyncAccessHandle: every write lands in the file at once. The page's own
// FileSystemWritableFileStream writes to a hidden copy that becomes the file only on close(), so
// a tab that reloads or crashes mid-transfer kept nothing; with this, what arrived before the
// reload is there to resume from. Sync access handles exist in dedicated workers only.
//
// Messages: {id, op: 'open', dir, name, offset} (the file keeps its first `offset` bytes),
// {id, op: 'write', bytes: ArrayBuffer, at}, {id, op: 'close'}; each is answered
// {id, ok: true} or {id, ok: false, error}, in order.

/** @type {any} FileSystemSyncAccessHandle (not in every TypeScript DOM library yet) */
let handle = null;
/** Bytes written since the last flush: flushed every FLUSH_BYTES, so a crash of the whole browser loses little. */
let unflushed = 0;
const FLUSH_BYTES = 16 * 1024 * 1024;

const scope = /** @type {any} */ (self);

/** A reloaded page's new worker may find the old one's lock not yet released: a few tries. @param {FileSystemFileHandle} file */
async function syncHandle(file) {
  for (let i = 0; ; i++) {
    try {
      return await /** @type {any} */ (file).createSyncAccessHandle();
    } catch (e) {
      if (i >= 20 || /** @type {Error} */ (e).name !== 'NoModificationAllowedError') throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** @param {any} msg */
async function run(msg) {
  switch (msg.op) {
    case 'open': {
      const root = await navigator.storage.getDirectory();
      const dir = await root.getDirectoryHandle(msg.dir, { create: true });
      handle = await syncHandle(await dir.getFileHandle(msg.name, { create: true }));
      handle.truncate(msg.offset);
      return;
    }
    case 'write': {
      const bytes = new Uint8Array(msg.bytes);
      for (let done = 0; done < bytes.length; ) {
        const n = handle.write(bytes.subarray(done), { at: msg.at + done });
        if (n <= 0) throw new Error('the disk took no more bytes');
        done += n;
      }
      unflushed += bytes.length;
      if (unflushed >= FLUSH_BYTES) {
        handle.flush();
        unflushed = 0;
      }
      return;
    }
    case 'close':
      if (handle) {
        handle.flush();
        handle.close();
      }
      handle = null;
      return;
  }
  throw new Error(`unknown op ${msg.op}`);
}

// One message at a time, in order: a write must not overtake the open before it.
let queue = Promise.resolve();
scope.onmessage = (/** @type {MessageEvent} */ ev) => {
  const msg = ev.data;
  queue = queue.then(async () => {
    try {
      await run(msg);
      scope.postMessage({ id: msg.id, ok: true });
    } catch (e) {
      const err = /** @type {Error} */ (e);
      scope.postMessage({ id: msg.id, ok: false, error: `${err.name}: ${err.message}` });
    }
  });
};
