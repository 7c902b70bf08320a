// Turning what the user picked or dropped into {blob, path} items, folders included.

/** @typedef {{blob: Blob, path: string, mtime?: number}} SendItem */

/** @param {FileList | File[]} files @returns {SendItem[]} */
export function itemsFromFileList(files) {
  return [...files].map((f) => ({ blob: f, path: f.webkitRelativePath || f.name, mtime: f.lastModified }));
}

/** Dropped files and folders (walked recursively). @param {DataTransfer} dt @returns {Promise<SendItem[]>} */
export async function itemsFromDrop(dt) {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter((e) => e != null);
  if (entries.length === 0) return itemsFromFileList(dt.files);
  /** @type {SendItem[]} */
  const out = [];
  /** @param {FileSystemEntry} entry @param {string} prefix */
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((res, rej) => /** @type {FileSystemFileEntry} */ (entry).file(res, rej));
      out.push({ blob: file, path: prefix + entry.name, mtime: file.lastModified });
    } else if (entry.isDirectory) {
      const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
      // readEntries returns at most ~100 entries per call; call until it returns none.
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(/** @type {FileSystemEntry} */ (e), '');
  return out;
}

/**
 * Sends what is picked in `inputs` (each cleared after, so the same file can be picked again)
 * or dropped on `target` (outlined while something is dragged over it).
 * @param {HTMLElement} target @param {HTMLInputElement[]} inputs
 * @param {(items: SendItem[]) => void} send
 */
export function sendPickedAndDropped(target, inputs, send) {
  for (const input of inputs) {
    input.addEventListener('change', () => {
      const items = itemsFromFileList(input.files ?? []);
      input.value = '';
      send(items);
    });
  }
  target.addEventListener('dragover', (e) => {
    e.preventDefault();
    target.classList.add('dragover');
  });
  target.addEventListener('dragleave', () => target.classList.remove('dragover'));
  target.addEventListener('drop', async (e) => {
    e.preventDefault();
    target.classList.remove('dragover');
    if (e.dataTransfer) send(await itemsFromDrop(e.dataTransfer));
  });
}
