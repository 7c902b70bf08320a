//! Everything the browser and the native peer must agree on: signaling messages, the transfer
//! protocol's control messages and binary frames, and the rules for names from the network.
//! Pure data, no I/O.
#![warn(clippy::unwrap_used)]
#![warn(missing_docs)]

pub mod names;
pub mod relay_crypto;
pub mod signaling;
pub mod transfer;
pub mod verify;
