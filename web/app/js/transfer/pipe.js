// The message pipe: the one seam between the transfer engine and a transport. The engine runs
// unchanged over anything that implements it — an RTCDataChannel (datachannel-pipe.js), the
// WebSocket relay, or an in-memory pair in tests (memory-pipe.js).
//
// A pipe is ordered and reliable and carries two kinds of message: text (JSON control messages)
// and binary (data frames). Contract:
//
//   send(data: string | Uint8Array): void
//       Queue one message. Never blocks; throws if the pipe is closed. The engine keeps
//       `bufferedAmount()` under its high-water mark itself, so a pipe need not refuse sends.
//       The pipe must not keep a reference to `data` after returning (copy if it queues).
//   bufferedAmount(): number
//       Bytes accepted by send() but not yet handed to the network.
//   drained(): Promise<void>
//       Resolves once bufferedAmount() is at or below the pipe's low-water mark (at once if it
//       already is), or when the pipe closes.
//   maxMessageSize: number
//       Largest message the pipe carries; the engine sizes frames as min(256 KiB, this).
//   attach({message(data: string | ArrayBuffer): void, close(reason: string): void}): void
//       Where incoming messages and the end of the pipe are reported. Messages that arrived
//       before attach() must be held and delivered on attach (in order).
//   close(): void
//       Close the pipe; the handler's close() is called once, on both ends.

/**
 * @typedef {object} MessagePipe
 * @property {(data: string | Uint8Array) => void} send
 * @property {() => number} bufferedAmount
 * @property {() => Promise<void>} drained
 * @property {number} maxMessageSize
 * @property {(h: PipeHandler) => void} attach
 * @property {() => void} close
 *
 * @typedef {object} PipeHandler
 * @property {(data: string | ArrayBuffer) => void} message
 * @property {(reason: string) => void} close
 */

export {};
