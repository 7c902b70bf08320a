//! The `turn` crate has no permission hook, so the peer policy is enforced by wrapping its
//! sockets: the listening socket answers CreatePermission / ChannelBind requests for refused
//! peers with 403 itself (the crate never sees them), and every relay socket drops datagrams to
//! and from refused addresses, which also covers the per-port rule for our own addresses.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use stun::attributes::ATTR_XOR_PEER_ADDRESS;
use stun::error_code::{CODE_FORBIDDEN, ErrorCodeAttribute};
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_REQUEST, Getter, METHOD_CHANNEL_BIND, METHOD_CREATE_PERMISSION,
    Message, MessageType, Setter,
};
use tokio::net::UdpSocket;
use turn::proto::peeraddr::PeerAddress;
use webrtc_util::Conn;

use crate::peer_policy::PeerPolicy;

type UtilResult<T> = Result<T, webrtc_util::Error>;

/// The TURN listening socket with the control-plane half of the policy.
pub(crate) struct ListenerGuard {
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) policy: Arc<PeerPolicy>,
}

/// The peers named by a CreatePermission / ChannelBind request, or `None` for anything else.
fn requested_peers(packet: &[u8]) -> Option<(Message, Vec<PeerAddress>)> {
    // ChannelData starts with 0b01; STUN with 0b00. Only STUN can ask for permissions.
    if packet.len() < 20 || packet[0] & 0xc0 != 0 {
        return None;
    }
    // The method from the header's type bits (M0-3, M4-6, M7-11 around the class bits), so
    // that the common datagrams (Binding, Allocate, Refresh: a flood too) skip the decode.
    let typ = u16::from_be_bytes([packet[0], packet[1]]);
    let method = (typ & 0x000f) | ((typ & 0x00e0) >> 1) | ((typ & 0x3e00) >> 2);
    // RFC 5766: CreatePermission 0x008, ChannelBind 0x009 (stun's `Method` hides its value).
    if method != 0x008 && method != 0x009 {
        return None;
    }
    let mut m = Message {
        raw: packet.to_vec(),
        ..Default::default()
    };
    m.decode().ok()?;
    if m.typ.class != CLASS_REQUEST
        || (m.typ.method != METHOD_CREATE_PERMISSION && m.typ.method != METHOD_CHANNEL_BIND)
    {
        return None;
    }
    let mut peers = Vec::new();
    for attr in m
        .attributes
        .0
        .iter()
        .filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS)
    {
        // Decode each attribute on its own: `get_from` only ever reads the first one.
        let mut single = Message {
            transaction_id: m.transaction_id,
            ..Default::default()
        };
        single.add(attr.typ, &attr.value);
        let mut peer = PeerAddress::default();
        if peer.get_from(&single).is_ok() {
            peers.push(peer);
        }
    }
    Some((m, peers))
}

fn forbidden(request: &Message) -> Option<Vec<u8>> {
    let mut out = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(Message {
            transaction_id: request.transaction_id,
            ..Default::default()
        }),
        Box::new(MessageType::new(request.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute {
            code: CODE_FORBIDDEN,
            reason: b"Peer address not allowed".to_vec(),
        }),
    ];
    out.build(&setters).ok()?;
    Some(out.raw)
}

#[async_trait]
impl Conn for ListenerGuard {
    async fn connect(&self, addr: SocketAddr) -> UtilResult<()> {
        Ok(self.socket.connect(addr).await?)
    }
    async fn recv(&self, buf: &mut [u8]) -> UtilResult<usize> {
        Ok(self.recv_from(buf).await?.0)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> UtilResult<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            let Some((request, peers)) = requested_peers(&buf[..n]) else {
                return Ok((n, from));
            };
            let refused = peers.iter().find(|p| !self.policy.permits_ip(p.ip));
            let Some(refused) = refused else {
                return Ok((n, from));
            };
            tracing::info!(client = %from, peer = %refused.ip, "TURN permission refused by peer policy");
            if let Some(reply) = forbidden(&request) {
                let _ = self.socket.send_to(&reply, from).await;
            }
        }
    }
    async fn send(&self, buf: &[u8]) -> UtilResult<usize> {
        Ok(self.socket.send(buf).await?)
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> UtilResult<usize> {
        Ok(self.socket.send_to(buf, target).await?)
    }
    fn local_addr(&self) -> UtilResult<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn close(&self) -> UtilResult<()> {
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// One allocation's relay socket with the data-plane half of the policy.
pub(crate) struct RelayGuard {
    pub(crate) socket: UdpSocket,
    pub(crate) policy: Arc<PeerPolicy>,
}

#[async_trait]
impl Conn for RelayGuard {
    async fn connect(&self, addr: SocketAddr) -> UtilResult<()> {
        Ok(self.socket.connect(addr).await?)
    }
    async fn recv(&self, buf: &mut [u8]) -> UtilResult<usize> {
        Ok(self.recv_from(buf).await?.0)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> UtilResult<(usize, SocketAddr)> {
        loop {
            let (n, from) = self.socket.recv_from(buf).await?;
            // Never an error here: the crate tears the allocation down on any recv error.
            if self.policy.permits(from) {
                return Ok((n, from));
            }
        }
    }
    async fn send(&self, buf: &[u8]) -> UtilResult<usize> {
        Ok(self.socket.send(buf).await?)
    }
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> UtilResult<usize> {
        if !self.policy.permits(target) {
            return Err(webrtc_util::Error::Other(format!(
                "peer {target} refused by policy"
            )));
        }
        Ok(self.socket.send_to(buf, target).await?)
    }
    fn local_addr(&self) -> UtilResult<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }
    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }
    async fn close(&self) -> UtilResult<()> {
        Ok(())
    }
    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}
