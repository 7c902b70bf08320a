// Limits and names of transfer protocol v1; mirror of crates/ferry-protocol/src/transfer.rs.

export const TRANSFER_VERSION = 1;
export const CHANNEL_LABEL = 'ferry/1';
export const CHANNEL_ID = 0;
export const FRAME_HEADER_BYTES = 16;
export const MAX_FRAME_BYTES = 256 * 1024;
export const MAX_CONTROL_BYTES = 256 * 1024;
export const MAX_FILES_PER_OFFER = 10_000;
/** Most offers one selection is split into (`offer.selection.parts`). */
export const MAX_SELECTION_PARTS = 1000;
export const MAX_TEXT_BYTES = 64 * 1024;
export const MAX_FILE_SIZE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const APP_NAME = 'ferry-web/0.1.0';

// Repeated hello (docs/protocol.md "Repeated hello"): until the peer's hello arrives, ours goes out
// again every HELLO_RETRY_MS, at most HELLO_RETRIES times; a repeated hello from the peer is
// answered at most MAX_HELLO_ECHOES times per connection.
export const HELLO_RETRY_MS = 1000;
export const HELLO_RETRIES = 15;
export const MAX_HELLO_ECHOES = 3;

// Calls (docs/protocol.md §2 "Calls"): a peer whose hello lists FEATURE_CALL takes call-* messages;
// one that does not is never invited, and answers an invite with CALL_DECLINE_UNSUPPORTED.
export const FEATURE_CALL = 'call';

// The security code (docs/protocol.md §2 "Feature verify"): a peer whose hello lists
// FEATURE_VERIFY runs the verify-commit / verify-open exchange.
export const FEATURE_VERIFY = 'verify';
// Paired devices (docs/protocol.md §2 "Feature pair"): a peer whose hello lists FEATURE_PAIR takes
// pair-* messages; no other peer is sent one.
export const FEATURE_PAIR = 'pair';
export const MAX_CALL_ID_BYTES = 64;
export const CALL_DECLINE_UNSUPPORTED = 'unsupported';

// Flow control (docs/protocol.md §2 "Flow control"): a peer whose hello lists FEATURE_FLOW obeys
// `accept.credit` / `credit` as a sender; a receiver grants FLOW_WINDOW_BYTES in its accept and
// more only as its sink drains.
export const FEATURE_FLOW = 'flow';
export const FLOW_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * Codes of the transfer protocol's `error` message (docs/protocol.md §2); mirror of
 * TransferErrorCode in transfer.rs, both checked against vectors/error_codes.json. What a peer
 * sends is kept as a string (a newer peer may know more codes); what we send is one of these.
 */
export const TransferErrorCode = Object.freeze({
  BAD_MESSAGE: 'bad-message',
  UNKNOWN_TYPE: 'unknown-type',
  TOO_LARGE: 'too-large',
  INVALID_OFFER: 'invalid-offer',
  PROTOCOL_VIOLATION: 'protocol-violation',
  VERSION_MISMATCH: 'version-mismatch',
  UNKNOWN_TRANSFER: 'unknown-transfer',
});
/** @typedef {(typeof TransferErrorCode)[keyof typeof TransferErrorCode]} TransferErrorCodeName */
