//! What arrives on this instance's channel: one batch per hub operation, items in the order the
//! operation queued them. Each item becomes a [`ServerMessage`] pushed into local outboxes,
//! without waiting; a full outbox closes its peer as too slow (like the embedded hub).
//!
//! The channel is written only by `hub.lua`, but it is parsed as carefully as client input:
//! an item that does not parse is skipped and logged, never trusted to be well formed.

use std::sync::Arc;

use ferry_protocol::signaling::{
    ErrorCode, PeerInfo, RoomInfo, RoomKind, SIGNALING_VERSION, ServerMessage,
};
use serde::Deserialize;
use serde_json::Value;

use super::{LocalPeer, RedisHub};
use crate::outbox::{CloseReason, Push};

#[derive(Deserialize)]
struct Item {
    k: String,
    #[serde(default)]
    to: Vec<String>,
    conn: Option<String>,
    room: Option<String>,
    peer: Option<Value>,
    id: Option<String>,
    m: Option<String>,
    list: Option<Value>,
    lists: Option<Value>,
}

impl RedisHub {
    /// Delivers one batch published by `hub.lua`.
    pub(super) fn dispatch(&self, payload: &[u8]) {
        let items: Vec<Item> = match serde_json::from_slice(payload) {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable batch on the instance channel; skipped");
                return;
            }
        };
        let mut slow = Vec::new();
        {
            let mut local = self.local();
            for item in items {
                if item.k == "welcome" {
                    for id in &item.to {
                        if let Some(p) = local.get_mut(id)
                            && item.conn.as_deref() == Some(p.conn.to_string().as_str())
                        {
                            p.ready = true;
                        }
                    }
                }
                self.deliver(&local, item, &mut slow);
            }
        }
        self.drop_slow(slow);
    }

    fn deliver(
        &self,
        local: &std::collections::HashMap<String, LocalPeer>,
        item: Item,
        slow: &mut Vec<(String, u64)>,
    ) {
        let mut push = |peer: &LocalPeer, id: &str, msg: Arc<str>| {
            if peer.outbox.push(msg) == Push::Full {
                slow.push((id.to_string(), peer.conn));
            }
        };
        // Listings and closes are for one connection; events for whichever is current.
        let addressed = |id: &str| {
            local
                .get(id)
                .filter(|p| item.conn.as_deref() == Some(p.conn.to_string().as_str()))
        };
        let msg: Option<ServerMessage> = match item.k.as_str() {
            "welcome" => {
                for id in &item.to {
                    let Some(p) = addressed(id) else { continue };
                    let rooms = item.lists.as_ref().map(rooms).unwrap_or_default();
                    let mut pages = Vec::new();
                    let rooms = rooms
                        .into_iter()
                        .map(|r| {
                            let (first, rest) = r.paged();
                            pages.extend(rest);
                            first
                        })
                        .collect();
                    let welcome = ServerMessage::Welcome {
                        version: SIGNALING_VERSION,
                        peer: p.info.clone(),
                        token: p.token.clone(),
                        rooms,
                        ice_servers: p.ice_servers.clone(),
                    };
                    push(p, id, welcome.to_json().into());
                    for page in pages {
                        push(p, id, page.to_json().into());
                    }
                    p.welcomed.notify_one();
                }
                None
            }
            "listing" => {
                for id in &item.to {
                    let Some(p) = addressed(id) else { continue };
                    let Some(room) = item.list.as_ref().and_then(room) else {
                        continue;
                    };
                    let (room, pages) = room.paged();
                    push(p, id, ServerMessage::RoomJoined { room }.to_json().into());
                    for page in pages {
                        push(p, id, page.to_json().into());
                    }
                }
                None
            }
            "close" => {
                for id in &item.to {
                    if let Some(p) = addressed(id) {
                        p.outbox.close(CloseReason::Replaced);
                    }
                }
                None
            }
            "joined" => match (item.room, item.peer.as_ref().and_then(peer)) {
                (Some(room), Some(peer)) => Some(ServerMessage::PeerJoined { room, peer }),
                _ => None,
            },
            "left" => match (item.room, item.id) {
                (Some(room), Some(peer_id)) => Some(ServerMessage::PeerLeft { room, peer_id }),
                _ => None,
            },
            "updated" => item
                .peer
                .as_ref()
                .and_then(peer)
                .map(|peer| ServerMessage::PeerUpdated { peer }),
            "room-left" => item.room.map(|room| ServerMessage::RoomLeft { room }),
            "closed" => item.room.map(|code| {
                ServerMessage::error(
                    ErrorCode::Limit,
                    format!(
                        "room {code} no longer admits new peers: too many wrong codes were tried \
                         against it. Peers already in it stay; create a new room to invite more."
                    ),
                )
            }),
            "raw" => {
                if let Some(m) = item.m {
                    let m: Arc<str> = m.into();
                    for id in &item.to {
                        if let Some(p) = local.get(id).filter(|p| p.ready) {
                            push(p, id, m.clone());
                        }
                    }
                }
                None
            }
            other => {
                tracing::warn!(
                    kind = other,
                    "unknown item on the instance channel; skipped"
                );
                None
            }
        };
        if let Some(msg) = msg {
            let msg: Arc<str> = msg.to_json().into();
            for id in &item.to {
                if let Some(p) = local.get(id).filter(|p| p.ready) {
                    push(p, id, msg.clone());
                }
            }
        }
    }
}

fn peer(v: &Value) -> Option<PeerInfo> {
    serde_json::from_value(v.clone()).ok()
}

/// A listing; Lua encodes an empty list as `{}`, so anything but an array is no peers.
fn room(v: &Value) -> Option<RoomInfo> {
    let id = v.get("id")?.as_str()?.to_string();
    let kind = match v.get("kind")?.as_str()? {
        "lan" => RoomKind::Lan,
        "paired" => RoomKind::Paired,
        _ => RoomKind::Code,
    };
    let peers = v
        .get("peers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(peer).collect())
        .unwrap_or_default();
    let crowded = v.get("crowded").and_then(Value::as_bool).unwrap_or(false);
    Some(RoomInfo {
        id,
        kind,
        peers,
        crowded,
    })
}

fn rooms(v: &Value) -> Vec<RoomInfo> {
    v.as_array()
        .map(|a| a.iter().filter_map(room).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_from_lua() {
        // cjson writes an empty Lua table as `{}`: no peers, not an error.
        let empty = serde_json::json!({"id": "lan", "kind": "lan", "peers": {}, "crowded": true});
        let r = room(&empty).unwrap();
        assert!(r.peers.is_empty() && r.crowded && r.kind == RoomKind::Lan);
        let one = serde_json::json!({"id": "K7H3QD", "kind": "code", "crowded": false,
            "peers": [{"id": "0123456789abcdef", "name": "Swift Heron", "client": "cli"},
                      {"id": "x", "name": false, "client": false}]});
        let r = room(&one).unwrap();
        assert_eq!(r.kind, RoomKind::Code);
        // A peer whose hash vanished mid-script (fields false) is skipped, not trusted.
        assert_eq!(r.peers.len(), 1);
        assert!(room(&serde_json::json!({"kind": "lan"})).is_none());
    }
}
