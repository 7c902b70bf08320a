// Binary data frames (docs/protocol.md §2): transferId u32 BE | index u32 BE | offset u64 BE | payload.

import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, TransferErrorCode } from './constants.js';

export class FrameError extends Error {
  /** @param {'too-large' | 'truncated'} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
    /** The `error` code that answers it (TransferError::code in Rust). */
    this.errorCode = code === 'too-large' ? TransferErrorCode.TOO_LARGE : TransferErrorCode.BAD_MESSAGE;
  }
}

/**
 * @typedef {{transferId: number, index: number, offset: number, payload: Uint8Array}} DataFrame
 */

/**
 * Parses a binary message; the payload is a view into `buf`, not a copy.
 * @param {ArrayBuffer | Uint8Array} buf
 * @returns {DataFrame}
 */
export function parseFrame(buf) {
  const bytes = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  if (bytes.byteLength > MAX_FRAME_BYTES) throw new FrameError('too-large', `binary message of ${bytes.byteLength} bytes is over the limit`);
  if (bytes.byteLength < FRAME_HEADER_BYTES) {
    throw new FrameError('truncated', `binary frame of ${bytes.byteLength} bytes is shorter than its 16-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  // An offset above 2^53 - 1 is not exact as a number, but it cannot be a position in any file
  // we accept (sizes are capped there), so it is still the wrong offset: a protocol violation for
  // the transfer, as in Rust, not a malformed frame.
  return {
    transferId: view.getUint32(0),
    index: view.getUint32(4),
    offset: view.getUint32(8) * 2 ** 32 + view.getUint32(12),
    payload: bytes.subarray(FRAME_HEADER_BYTES),
  };
}

/**
 * Writes a frame header into the first 16 bytes of `out`.
 * @param {Uint8Array} out @param {number} transferId @param {number} index @param {number} offset
 */
export function writeHeader(out, transferId, index, offset) {
  const view = new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, transferId);
  view.setUint32(4, index);
  view.setUint32(8, Math.floor(offset / 2 ** 32));
  view.setUint32(12, offset % 2 ** 32);
}

/** @param {DataFrame} f @returns {Uint8Array} */
export function encodeFrame(f) {
  const out = new Uint8Array(FRAME_HEADER_BYTES + f.payload.byteLength);
  writeHeader(out, f.transferId, f.index, f.offset);
  out.set(f.payload, FRAME_HEADER_BYTES);
  return out;
}
