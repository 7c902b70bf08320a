// Control (JSON text) messages of transfer protocol v1: parsed once, here, into checked objects,
// with the same acceptance rules as serde in crates/ferry-protocol/src/transfer.rs (tested against
// vectors/control.json). The rest of the web app never reads raw JSON from a peer.

import { MAX_CALL_ID_BYTES, MAX_CONTROL_BYTES, MAX_FILES_PER_OFFER, MAX_FILE_SIZE, MAX_SELECTION_PARTS, MAX_TEXT_BYTES, TransferErrorCode } from './constants.js';
import { sanitizePath } from './names.js';

/**
 * @typedef {{path: string, size: number, type: string, mtime?: number}} OfferedFile
 * @typedef {{index: number, offset: number, sha256?: string}} ResumePoint
 * @typedef {{first: number, part: number, parts: number}} SelectionPart
 * @typedef {'sender' | 'receiver'} Role
 * @typedef {{type: 'hello', version: number, app: string, features?: string[]}
 *  | {type: 'offer', transferId: number, files: OfferedFile[], totalSize: number, selection?: SelectionPart}
 *  | {type: 'accept', transferId: number, resume?: ResumePoint[], credit?: number}
 *  | {type: 'credit', transferId: number, bytes: number}
 *  | {type: 'file-restart', transferId: number, index: number}
 *  | {type: 'decline', transferId: number}
 *  | {type: 'cancel', transferId: number, role: Role, reason: string}
 *  | {type: 'file-end', transferId: number, index: number, sha256: string}
 *  | {type: 'file-verified', transferId: number, index: number, ok: boolean}
 *  | {type: 'done', transferId: number}
 *  | {type: 'text', id: string, text: string}
 *  | {type: 'error', code: string, message: string}
 *  | {type: 'call-invite', callId: string, audio: boolean, video: boolean, screen?: boolean}
 *  | {type: 'call-accept', callId: string}
 *  | {type: 'call-decline', callId: string, reason: string}
 *  | {type: 'call-end', callId: string, reason?: string}
 *  | {type: 'call-media', callId: string, muted: boolean, cameraOff: boolean, screen: boolean}
 *  | {type: 'verify-commit', commit: string}
 *  | {type: 'verify-open', nonce: string}
 *  | {type: 'pair-request', secret: string}
 *  | {type: 'pair-accept', room: string}
 *  | {type: 'pair-decline', room: string}
 *  | {type: 'pair-proof', room: string, proof: string}
 *  | {type: 'pair-revoke', room: string}
 *  | {type: 'pair-revoked', room: string}} ControlMessage
 * @typedef {Extract<ControlMessage, {type: `pair-${string}`}>} PairMessage
 * @typedef {Extract<ControlMessage, {callId: string}>} CallMessage
 */

export class ControlError extends Error {
  /** @param {import('./constants.js').TransferErrorCodeName} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const encoder = new TextEncoder();

const bad = (/** @type {string} */ m) => new ControlError(TransferErrorCode.BAD_MESSAGE, `malformed message: ${m}`);

/** @param {any} o @param {string} k */
function u32(o, k) {
  const v = o[k];
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw bad(`${k} must be an integer from 0 to 2^32-1`);
  return v;
}
/**
 * A u64, as serde reads it in Rust. Values past 2^53 - 1 are not exact here, but every limit
 * they meet is lower (MAX_FILE_SIZE), so they are refused where the Rust side refuses them: a
 * file that big is an invalid offer, a resume offset past the end restarts the file.
 * @param {any} o @param {string} k
 */
function u64(o, k) {
  const v = o[k];
  if (!Number.isInteger(v) || v < 0) throw bad(`${k} must be a non-negative integer`);
  if (v >= 2 ** 64) throw bad(`${k} is too large`);
  return v;
}
/** @param {any} o @param {string} k */
function str(o, k) {
  const v = o[k];
  if (typeof v !== 'string') throw bad(`${k} must be a string`);
  return v;
}
/** @param {any} o @param {string} k @param {string} dflt */
function optStr(o, k, dflt) {
  return o[k] === undefined ? dflt : str(o, k);
}
/** @param {any} v @param {string} k */
function obj(v, k) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${k} must be an object`);
  return v;
}
/** @param {any} o @param {string} k */
function bool(o, k) {
  if (typeof o[k] !== 'boolean') throw bad(`${k} must be a boolean`);
  return /** @type {boolean} */ (o[k]);
}
/** A call id: 1 to MAX_CALL_ID_BYTES bytes, as ControlMessage::parse checks it. @param {any} o */
function callId(o) {
  const v = str(o, 'callId');
  if (v.length === 0 || encoder.encode(v).length > MAX_CALL_ID_BYTES) throw bad(`callId must be 1 to ${MAX_CALL_ID_BYTES} bytes`);
  return v;
}
/** @param {any} o @param {string} k */
function arr(o, k) {
  if (!Array.isArray(o[k])) throw bad(`${k} must be an array`);
  return /** @type {any[]} */ (o[k]);
}

/** @type {Record<string, (o: any) => ControlMessage>} */
const PARSERS = {
  hello: (o) => {
    /** @type {ControlMessage} */
    const msg = { type: 'hello', version: u32(o, 'version'), app: str(o, 'app') };
    // Optional and additive: a peer without it does nothing beyond transfers.
    if (o.features !== undefined) {
      msg.features = arr(o, 'features').map((f, i) => {
        if (typeof f !== 'string') throw bad(`features[${i}] must be a string`);
        return f;
      });
    }
    return msg;
  },
  offer: (o) => ({
    type: 'offer',
    transferId: u32(o, 'transferId'),
    files: arr(o, 'files').map((f, i) => {
      obj(f, `files[${i}]`);
      /** @type {OfferedFile} */
      const out = { path: str(f, 'path'), size: u64(f, 'size'), type: optStr(f, 'type', '') };
      if (f.mtime !== undefined && f.mtime !== null) out.mtime = u64(f, 'mtime');
      return out;
    }),
    totalSize: u64(o, 'totalSize'),
    ...(o.selection === undefined || o.selection === null
      ? {}
      : { selection: { first: u32(obj(o.selection, 'selection'), 'first'), part: u32(o.selection, 'part'), parts: u32(o.selection, 'parts') } }),
  }),
  accept: (o) => ({
    type: 'accept',
    transferId: u32(o, 'transferId'),
    resume: (o.resume === undefined ? [] : arr(o, 'resume')).map((r, i) => {
      obj(r, `resume[${i}]`);
      /** @type {ResumePoint} */
      const point = { index: u32(r, 'index'), offset: u64(r, 'offset') };
      // The receiver's hash of its kept prefix, checked by the sender (absent: not checked).
      if (r.sha256 !== undefined && r.sha256 !== null) point.sha256 = str(r, 'sha256');
      return point;
    }),
    // Flow control (feature `flow`): absent means none for this transfer.
    ...(o.credit === undefined || o.credit === null ? {} : { credit: u64(o, 'credit') }),
  }),
  credit: (o) => {
    const bytes = u64(o, 'bytes');
    if (bytes === 0 || bytes > MAX_FILE_SIZE) throw bad(`credit must be 1 to ${MAX_FILE_SIZE} bytes`);
    return { type: 'credit', transferId: u32(o, 'transferId'), bytes };
  },
  decline: (o) => ({ type: 'decline', transferId: u32(o, 'transferId') }),
  cancel: (o) => {
    const role = str(o, 'role');
    if (role !== 'sender' && role !== 'receiver') throw bad('role must be "sender" or "receiver"');
    return { type: 'cancel', transferId: u32(o, 'transferId'), role, reason: optStr(o, 'reason', '') };
  },
  'file-restart': (o) => ({ type: 'file-restart', transferId: u32(o, 'transferId'), index: u32(o, 'index') }),
  'file-end': (o) => ({ type: 'file-end', transferId: u32(o, 'transferId'), index: u32(o, 'index'), sha256: str(o, 'sha256') }),
  'file-verified': (o) => {
    if (typeof o.ok !== 'boolean') throw bad('ok must be a boolean');
    return { type: 'file-verified', transferId: u32(o, 'transferId'), index: u32(o, 'index'), ok: o.ok };
  },
  done: (o) => ({ type: 'done', transferId: u32(o, 'transferId') }),
  text: (o) => ({ type: 'text', id: str(o, 'id'), text: str(o, 'text') }),
  error: (o) => ({ type: 'error', code: str(o, 'code'), message: str(o, 'message') }),
  'call-invite': (o) => {
    /** @type {ControlMessage} */
    const msg = { type: 'call-invite', callId: callId(o), audio: bool(o, 'audio'), video: bool(o, 'video') };
    if (o.screen !== undefined && bool(o, 'screen')) msg.screen = true;
    return msg;
  },
  'call-accept': (o) => ({ type: 'call-accept', callId: callId(o) }),
  'call-decline': (o) => ({ type: 'call-decline', callId: callId(o), reason: str(o, 'reason') }),
  'call-end': (o) => {
    /** @type {ControlMessage} */
    const msg = { type: 'call-end', callId: callId(o) };
    const reason = optStr(o, 'reason', '');
    if (reason) msg.reason = reason;
    return msg;
  },
  'call-media': (o) => ({ type: 'call-media', callId: callId(o), muted: bool(o, 'muted'), cameraOff: bool(o, 'cameraOff'), screen: bool(o, 'screen') }),
  'verify-commit': (o) => ({ type: 'verify-commit', commit: hex32(o, 'commit') }),
  'verify-open': (o) => ({ type: 'verify-open', nonce: hex32(o, 'nonce') }),
  'pair-request': (o) => ({ type: 'pair-request', secret: hex32(o, 'secret') }),
  'pair-accept': (o) => ({ type: 'pair-accept', room: pairedRoom(o) }),
  'pair-decline': (o) => ({ type: 'pair-decline', room: pairedRoom(o) }),
  'pair-proof': (o) => ({ type: 'pair-proof', room: pairedRoom(o), proof: hex32(o, 'proof') }),
  'pair-revoke': (o) => ({ type: 'pair-revoke', room: pairedRoom(o) }),
  'pair-revoked': (o) => ({ type: 'pair-revoked', room: pairedRoom(o) }),
};

/** A paired room id: 32 lowercase hex digits, as is_paired_room_id in Rust. @param {any} o */
function pairedRoom(o) {
  const v = str(o, 'room');
  if (!/^[0-9a-f]{32}$/.test(v)) throw bad('room must be 32 lowercase hex digits');
  return v;
}

/** 64 lowercase hex digits (a verify commitment or nonce). @param {any} o @param {string} key */
function hex32(o, key) {
  const v = str(o, key);
  if (!/^[0-9a-f]{64}$/.test(v)) throw bad(`${key} must be 64 lowercase hex digits`);
  return v;
}

/**
 * Parses one text message from a peer.
 * @param {string} text
 * @returns {ControlMessage}
 * @throws {ControlError}
 */
export function parseControl(text) {
  // UTF-16 length ≤ UTF-8 length × 1, so a cheap check first, the exact one only when close.
  if (text.length > MAX_CONTROL_BYTES || (text.length * 3 > MAX_CONTROL_BYTES && encoder.encode(text).length > MAX_CONTROL_BYTES)) {
    throw new ControlError(TransferErrorCode.TOO_LARGE, `message of ${text.length} characters is over the limit`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw bad(/** @type {Error} */ (e).message);
  }
  const kind = value !== null && typeof value === 'object' && !Array.isArray(value) && typeof value.type === 'string' ? value.type : '';
  const parser = Object.hasOwn(PARSERS, kind) ? PARSERS[kind] : undefined;
  if (!parser) throw new ControlError(TransferErrorCode.UNKNOWN_TYPE, `unknown message type ${JSON.stringify(String(kind).slice(0, 64))}`);
  const msg = parser(value);
  if (msg.type === 'text' && encoder.encode(msg.text).length > MAX_TEXT_BYTES) {
    throw new ControlError(TransferErrorCode.TOO_LARGE, 'text message is over 64 KiB');
  }
  return msg;
}

/**
 * @typedef {{path: string, size: number, type: string, mtime?: number}} ValidatedFile
 *   `path` is sanitized: safe to join under a target folder.
 */

/**
 * Checks an offer from the network: file count, sizes, their sum, and every path.
 * @param {OfferedFile[]} files @param {number} totalSize
 * @returns {ValidatedFile[]}
 * @throws {Error} with a message for the `invalid-offer` error
 */
export function validateOffer(files, totalSize) {
  if (files.length === 0) throw new Error('invalid offer: no files');
  if (files.length > MAX_FILES_PER_OFFER) throw new Error(`invalid offer: ${files.length} files; at most ${MAX_FILES_PER_OFFER} per offer`);
  let sum = 0;
  const out = files.map((f) => {
      if (f.size > MAX_FILE_SIZE) throw new Error(`invalid offer: file size ${f.size} too large`);
      sum += f.size;
      if (!Number.isSafeInteger(sum)) throw new Error('invalid offer: total size overflows');
      let path;
      try {
        path = sanitizePath(f.path);
      } catch (e) {
        throw new Error(`invalid offer: file name ${JSON.stringify([...f.path].slice(0, 80).join(''))}: ${/** @type {Error} */ (e).message}`);
      }
      // eslint-disable-next-line no-control-regex
      const type = [...f.type.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')].slice(0, 255).join('');
      /** @type {ValidatedFile} */
      const v = { path, size: f.size, type };
      if (f.mtime !== undefined) v.mtime = f.mtime;
      return v;
    });
  if (sum !== totalSize) throw new Error(`invalid offer: totalSize ${totalSize} does not match the sum of file sizes ${sum}`);
  return out;
}

/**
 * Checks `offer.selection` against the offer's own transfer id (as SelectionPart::validate in Rust).
 * @param {SelectionPart} sel @param {number} transferId
 * @throws {Error} with a message for the `invalid-offer` error
 */
export function validateSelection(sel, transferId) {
  if (sel.parts < 2 || sel.parts > MAX_SELECTION_PARTS) {
    throw new Error(`invalid offer: selection: ${sel.parts} parts; a selection is 2 to ${MAX_SELECTION_PARTS} offers`);
  }
  if (sel.part >= sel.parts) throw new Error(`invalid offer: selection: part ${sel.part} of ${sel.parts}`);
  if ((sel.part === 0) !== (sel.first === transferId)) {
    throw new Error(`invalid offer: selection: part ${sel.part} of transfer ${transferId} names transfer ${sel.first} as part 0`);
  }
}
