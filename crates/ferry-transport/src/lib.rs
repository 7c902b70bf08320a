//! Transports for the transfer engine: the [`MessagePipe`] trait, a webrtc-rs DataChannel that
//! implements it, the signaling client, and ICE configuration. Nothing here knows the transfer
//! protocol beyond the channel's label and frame size limits.
#![warn(clippy::unwrap_used)]

pub mod datachannel;
pub mod fallback;
pub mod ice;
pub mod peer;
pub mod pipe;
pub mod relay;
pub mod signaling;
pub mod signaling_mux;
pub mod socket_buffers;

pub use fallback::{Link, LinkError, RelayMode, connect_with_fallback};
pub use ice::IcePath;
pub use peer::{ConnectError, PeerLink, PeerOptions, connect};
pub use pipe::{Message, MessagePipe, PipeError, memory_pipe};
pub use signaling::{PeerSignaling, SignalingClient, SignalingError};
pub use signaling_mux::{MuxPeer, SignalingMux};
