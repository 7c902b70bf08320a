// File names from the network (docs/protocol.md §3). Mirrors crates/ferry-protocol/src/names.rs
// exactly; both are tested against crates/ferry-protocol/vectors/names.json.

export const MAX_INPUT_BYTES = 16 * 1024;
export const MAX_COMPONENT_BYTES = 255;
export const MAX_EXTENSION_BYTES = 16;
export const MAX_DEPTH = 64;

const DEVICE_NAMES = new Set([
  'CON', 'PRN', 'AUX', 'NUL',
  'COM1', 'COM2', 'COM3', 'COM4', 'COM5', 'COM6', 'COM7', 'COM8', 'COM9',
  'LPT1', 'LPT2', 'LPT3', 'LPT4', 'LPT5', 'LPT6', 'LPT7', 'LPT8', 'LPT9',
]);

const encoder = new TextEncoder();
/** @param {string} s */
const utf8Len = (s) => encoder.encode(s).length;

export class NameError extends Error {
  /** @param {'too-long' | 'empty' | 'too-deep'} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Turns a name from the network into a relative `/`-joined path that cannot escape its folder.
 * @param {string} input
 * @returns {string}
 * @throws {NameError}
 */
export function sanitizePath(input) {
  if (utf8Len(input) > MAX_INPUT_BYTES) throw new NameError('too-long', 'name is longer than 16 KiB');
  /** @type {string[]} */
  const parts = [];
  for (const raw of input.split(/[/\\]/)) {
    if (raw === '' || raw === '.' || raw === '..') continue;
    const c = sanitizeComponent(raw);
    if (c !== null) parts.push(c);
  }
  if (parts.length === 0) throw new NameError('empty', 'name has nothing left once unsafe parts are removed');
  if (parts.length > MAX_DEPTH) throw new NameError('too-deep', 'path is nested more than 64 folders deep');
  return parts.join('/');
}

/** @param {string} input @returns {string | null} */
export function trySanitizePath(input) {
  try {
    return sanitizePath(input);
  } catch {
    return null;
  }
}

/** @param {number} cp */
function isForbidden(cp) {
  return cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f) || '<>:"|?*'.includes(String.fromCodePoint(cp));
}

/** @param {string} raw @returns {string | null} */
function sanitizeComponent(raw) {
  let replaced = '';
  for (const ch of raw) replaced += isForbidden(/** @type {number} */ (ch.codePointAt(0))) ? '_' : ch;
  const trimmed = replaced.replace(/[. ]+$/u, '');
  if (trimmed === '') return null;
  const stem = trimmed.split('.')[0];
  let out = DEVICE_NAMES.has(stem.toUpperCase()) ? `_${trimmed}` : trimmed;
  if (utf8Len(out) > MAX_COMPONENT_BYTES) out = truncateComponent(out);
  return out;
}

/** Cuts to 255 bytes of UTF-8 at a character boundary, keeping a short extension. @param {string} name */
function truncateComponent(name) {
  const dot = name.lastIndexOf('.');
  let ext = '';
  if (dot > 0 && utf8Len(name.slice(dot)) <= MAX_EXTENSION_BYTES) ext = name.slice(dot);
  const budget = MAX_COMPONENT_BYTES - utf8Len(ext);
  const stem = name.slice(0, name.length - ext.length);
  let out = '';
  let used = 0;
  for (const ch of stem) {
    const n = utf8Len(ch);
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  return out + ext;
}
