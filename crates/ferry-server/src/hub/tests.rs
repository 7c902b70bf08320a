use std::collections::{HashMap, HashSet};

use ferry_protocol::signaling::{RoomKind, ServerMessage};

use super::*;

fn hub(opts: HubOptions) -> Hub {
    Hub::new(opts, Arc::new(Metrics::default()))
}

fn connect(hub: &Hub, id: &str, net: &str) -> (Session, Arc<Outbox>) {
    hub.connect(id.into(), "test".into(), net.into(), "t".into(), vec![])
}

fn messages(ob: &Outbox) -> Vec<ServerMessage> {
    ob.drain_now()
        .unwrap_or_default()
        .iter()
        .map(|m| serde_json::from_str(m).unwrap())
        .collect()
}

/// The peers `ob`'s owner believes share `room`, replaying its messages in order, and whether
/// every event came after the room's listing.
fn replay(msgs: &[ServerMessage], room: &str) -> (HashSet<String>, bool) {
    let mut listed = false;
    let mut in_order = true;
    let mut peers = HashSet::new();
    for m in msgs {
        match m {
            ServerMessage::Welcome { rooms, .. } => {
                for r in rooms.iter().filter(|r| r.id == room) {
                    listed = true;
                    peers.extend(r.peers.iter().map(|p| p.id.clone()));
                }
            }
            ServerMessage::RoomJoined { room: r } if r.id == room => {
                listed = true;
                peers.extend(r.peers.iter().map(|p| p.id.clone()));
            }
            ServerMessage::RoomPeers { room: r, peers: p } if r == room => {
                in_order &= listed;
                peers.extend(p.iter().map(|p| p.id.clone()));
            }
            ServerMessage::PeerJoined { room: r, peer } if r == room => {
                in_order &= listed;
                peers.insert(peer.id.clone());
            }
            ServerMessage::PeerLeft { room: r, peer_id } if r == room => {
                in_order &= listed;
                peers.remove(peer_id);
            }
            _ => {}
        }
    }
    (peers, in_order)
}

#[test]
fn slow_peers_are_dropped_without_recursion_or_cascade_to_readers() {
    // One unsharded room of peers that never read: each outbox holds its welcome and then fills
    // with peer-joined; a dropped peer's peer-left overflows the next ones. Before, each drop
    // recursed (send → remove → leave → send) and a few thousand overflowed the stack.
    let h = hub(HubOptions {
        outbox_messages: 200,
        lan_room_size: 100_000,
        ..HubOptions::default()
    });
    let mut sessions = Vec::new();
    for i in 0..3000 {
        sessions.push(connect(&h, &format!("p{i:05}"), "net"));
    }
    let stats = h.stats();
    // Only the last joiners, who have not yet been sent 200 messages, can still be there.
    assert!(
        stats.peers <= 200,
        "non-readers must have been dropped: {stats:?}"
    );
    let closed = sessions
        .iter()
        .filter(|(_, ob)| ob.drain_now() == Err(CloseReason::TooSlow))
        .count();
    assert!(closed >= 2800, "{closed} closed as too slow");
}

#[test]
fn a_big_network_is_split_into_rooms_of_bounded_size() {
    let h = hub(HubOptions {
        lan_room_size: 10,
        ..HubOptions::default()
    });
    let peers: Vec<_> = (0..35)
        .map(|i| connect(&h, &format!("p{i:02}"), "net"))
        .collect();
    let mut seen_by: HashMap<String, HashSet<String>> = HashMap::new();
    for (s, ob) in &peers {
        let msgs = messages(ob);
        let crowded = msgs.iter().any(|m| {
            matches!(m, ServerMessage::Welcome { rooms, .. }
                if rooms[0].kind == RoomKind::Lan && rooms[0].crowded)
        });
        let n: usize = s.peer_id[1..].parse().unwrap();
        assert_eq!(crowded, n >= 10, "{} crowded flag", s.peer_id);
        let (seen, in_order) = replay(&msgs, "lan");
        assert!(in_order);
        assert!(seen.len() <= 9, "{} sees {}", s.peer_id, seen.len());
        seen_by.insert(s.peer_id.clone(), seen);
    }
    // Consecutive joiners land together, and what each sees is symmetric.
    assert!(seen_by["p00"].contains("p09"));
    assert!(seen_by["p10"].contains("p19"));
    assert!(!seen_by["p00"].contains("p10"));
    for (a, seen) in &seen_by {
        for b in seen {
            assert!(seen_by[b].contains(a), "{a} sees {b} but not the reverse");
        }
    }
    assert_eq!(h.stats().lan_rooms, 4);
    // A place freed in the first room is taken by the next newcomer.
    h.disconnect(&peers[3].0);
    let (_, ob) = connect(&h, "new", "net");
    let (seen, _) = replay(&messages(&ob), "lan");
    assert!(seen.contains("p00") && seen.len() == 9, "{seen:?}");
}

#[test]
fn joins_cost_the_same_in_a_huge_network() {
    // Messages queued by the 10th and the 5,000th join of one network: bounded by the room size.
    let h = hub(HubOptions::default());
    let mut obs = Vec::new();
    for i in 0..5000 {
        let (_, ob) = connect(&h, &format!("p{i:05}"), "net");
        obs.push(ob);
        if i % 64 == 0 {
            for ob in &obs {
                let _ = ob.drain_now();
            }
        }
    }
    assert_eq!(h.stats().peers, 5000);
    assert_eq!(h.stats().lan_rooms, 5000usize.div_ceil(64));
    for ob in &obs {
        let _ = ob.drain_now();
    }
    let (_, newcomer) = connect(&h, "last", "net");
    let queued_elsewhere: usize = obs
        .iter()
        .map(|ob| ob.drain_now().map(|m| m.len()).unwrap_or(0))
        .sum();
    assert!(
        queued_elsewhere <= 63,
        "{queued_elsewhere} peer-joined messages"
    );
    assert!(messages(&newcomer).len() <= 3);
}

#[test]
fn simultaneous_joiners_all_learn_of_each_other_in_protocol_order() {
    for _ in 0..50 {
        let h = Arc::new(hub(HubOptions::default()));
        let (creator, cob) = connect(&h, "creator", "n0");
        let code = h.create_room(&creator).unwrap();
        let joiners: Vec<_> = (0..8)
            .map(|i| connect(&h, &format!("j{i}"), &format!("n{}", i + 1)))
            .collect();
        let barrier = Arc::new(std::sync::Barrier::new(joiners.len()));
        let threads: Vec<_> = joiners
            .iter()
            .map(|(s, _)| {
                let (h, s, code, barrier) = (h.clone(), s.clone(), code.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    h.join_room(&s, &code).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let everyone: HashSet<String> = joiners
            .iter()
            .map(|(s, _)| s.peer_id.clone())
            .chain(["creator".to_string()])
            .collect();
        for (s, ob) in joiners.iter().chain([&(creator.clone(), cob.clone())]) {
            let (seen, in_order) = replay(&messages(ob), &code);
            assert!(
                in_order,
                "{}: an event before the room's listing",
                s.peer_id
            );
            let mut expected = everyone.clone();
            expected.remove(&s.peer_id);
            assert_eq!(seen, expected, "{} missed someone", s.peer_id);
        }
    }
}

#[test]
fn wrong_guesses_close_a_room_to_newcomers_only() {
    let h = hub(HubOptions {
        wrong_guesses_per_room: 3,
        ..HubOptions::default()
    });
    let (owner, oob) = connect(&h, "owner", "a");
    let (guest, _) = connect(&h, "guest", "b");
    let (thief, _) = connect(&h, "thief", "c");
    let code = h.create_room(&owner).unwrap();
    h.join_room(&guest, &code).unwrap();
    h.leave_room(&guest, &code).unwrap();
    let _ = messages(&oob);
    // Same nameplate (first half), wrong secret.
    let mut wrong = code[..3].to_string();
    for c in ["222", "333", "444", "555"] {
        if code[3..] != *c {
            wrong.truncate(3);
            wrong.push_str(c);
            let err = h.join_room(&thief, &wrong).unwrap_err();
            assert_eq!(err.code, ErrorCode::RoomNotFound);
        }
    }
    let err = h.join_room(&thief, &code).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::RoomNotFound,
        "closed looks like absent"
    );
    assert!(
        messages(&oob).iter().any(|m| matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::Limit,
                ..
            }
        )),
        "members are told"
    );
    // A former member (reconnecting, say) may come back.
    h.join_room(&guest, &code).unwrap();
}

#[test]
fn room_cap_and_expiry() {
    let h = hub(HubOptions {
        max_code_rooms: 2,
        code_room_ttl: Duration::from_secs(60),
        ..HubOptions::default()
    });
    let (s, _) = connect(&h, "p", "n");
    let a = h.create_room(&s).unwrap();
    h.create_room(&s).unwrap();
    assert_eq!(h.create_room(&s).unwrap_err().code, ErrorCode::Limit);
    h.leave_room(&s, &a).unwrap();
    assert_eq!(h.sweep_expired_rooms(Instant::now()), 0);
    assert_eq!(
        h.sweep_expired_rooms(Instant::now() + Duration::from_secs(61)),
        1
    );
    h.create_room(&s).unwrap();
}

#[test]
fn close_all_frees_every_outbox() {
    let h = hub(HubOptions::default());
    let obs: Vec<_> = (0..10)
        .map(|i| connect(&h, &format!("p{i}"), "n").1)
        .collect();
    h.close_all(CloseReason::ShuttingDown);
    assert!(
        obs.iter()
            .all(|ob| ob.drain_now() == Err(CloseReason::ShuttingDown))
    );
    assert_eq!(h.stats().queued_bytes, 0);
}

#[test]
fn quiet_peers_churn_without_reaching_the_room_and_are_announced_if_they_stay() {
    let h = hub(HubOptions::default());
    let (_, early) = connect(&h, "early", "n");
    let _ = messages(&early);
    let quiet = |id: &str| {
        h.connect_with(
            id.into(),
            "t".into(),
            String::new(),
            "n".into(),
            "t".into(),
            vec![],
            Some(Duration::ZERO),
        )
    };
    // A churner: arrives and leaves quietly, many times. The room hears nothing.
    for i in 0..50 {
        let (s, _) = quiet(&format!("churn{i}"));
        h.disconnect(&s);
    }
    assert!(messages(&early).is_empty(), "churn reached the room");
    // One that stays is announced to those before it; one who came after saw it listed and is
    // told when it leaves; `early` never knew of it before the announcement.
    let (stayer, _) = quiet("stayer");
    let (_, late) = connect(&h, "late", "n");
    assert!(replay(&messages(&late), "lan").0.contains("stayer"));
    assert!(
        messages(&early)
            .iter()
            .all(|m| !matches!(m, ServerMessage::PeerJoined { peer, .. } if peer.id == "stayer"))
    );
    assert_eq!(h.announce_quiet(Instant::now()), 1);
    let seen = messages(&early);
    assert!(
        seen.iter()
            .any(|m| matches!(m, ServerMessage::PeerJoined { peer, .. } if peer.id == "stayer"))
    );
    assert!(messages(&late).is_empty(), "late listed it already");
    h.disconnect(&stayer);
    assert_eq!(replay(&messages(&early), "lan").0.len(), 0);
    assert!(
        messages(&late)
            .iter()
            .any(|m| matches!(m, ServerMessage::PeerLeft { peer_id, .. } if peer_id == "stayer"))
    );
}

const PAIR_A: &str = "0123456789abcdef0123456789abcdef";
const PAIR_B: &str = "fedcba9876543210fedcba9876543210";

#[test]
fn paired_rooms_join_two_networks_and_vanish_with_their_last_member() {
    let h = hub(HubOptions::default());
    let (laptop, laptop_ob) = connect(&h, "aaaaaaaaaaaaaaa1", "home");
    let (phone, phone_ob) = connect(&h, "aaaaaaaaaaaaaaa2", "carrier");
    messages(&laptop_ob);
    messages(&phone_ob);
    // On different networks they cannot signal each other.
    assert!(h.forward(&laptop, &phone.peer_id, app_signal()).is_err());

    h.join_paired(&laptop, &[PAIR_A.into()]).unwrap();
    h.join_paired(&phone, &[PAIR_A.into(), PAIR_B.into()])
        .unwrap();
    assert_eq!(h.stats().paired_rooms, 2);
    let (seen, in_order) = replay(&messages(&laptop_ob), PAIR_A);
    assert!(in_order && seen.contains(&phone.peer_id), "{seen:?}");
    let phone_msgs = messages(&phone_ob);
    let kinds: Vec<_> = phone_msgs
        .iter()
        .filter_map(|m| match m {
            ServerMessage::RoomJoined { room } => Some((room.id.clone(), room.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (PAIR_A.to_string(), RoomKind::Paired),
            (PAIR_B.to_string(), RoomKind::Paired)
        ]
    );
    assert!(replay(&phone_msgs, PAIR_A).0.contains(&laptop.peer_id));
    h.forward(&laptop, &phone.peer_id, app_signal()).unwrap();

    // Joining again lists the room again, and changes nothing else.
    h.join_paired(&laptop, &[PAIR_A.into()]).unwrap();
    assert!(
        messages(&phone_ob)
            .iter()
            .all(|m| !matches!(m, ServerMessage::PeerJoined { .. }))
    );

    h.leave_room(&laptop, PAIR_A).unwrap();
    assert!(
        messages(&phone_ob)
            .iter()
            .any(|m| matches!(m, ServerMessage::PeerLeft { room, .. } if room == PAIR_A))
    );
    assert!(h.forward(&laptop, &phone.peer_id, app_signal()).is_err());
    assert!(h.leave_room(&laptop, PAIR_A).is_err(), "left already");
    h.disconnect(&phone);
    assert_eq!(h.stats().paired_rooms, 0, "empty paired rooms are not kept");
    assert_eq!(h.stats().lan_rooms, 1);
}

#[test]
fn paired_rooms_are_bounded_and_malformed_ids_refused() {
    let h = hub(HubOptions::default());
    let (s, _ob) = connect(&h, "bbbbbbbbbbbbbbb0", "net");
    let err = h
        .join_paired(&s, &["K7H3QD".into(), PAIR_A.to_uppercase()])
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    // A malformed id does not keep the good ones out.
    let err = h
        .join_paired(&s, &["nope".into(), PAIR_A.into()])
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidValue);
    assert_eq!(h.stats().paired_rooms, 1);

    let ids: Vec<String> = (0..MAX_PAIRED_ROOMS_PER_PEER + 1)
        .map(|i| format!("{i:032x}"))
        .collect();
    let err = h.join_paired(&s, &ids).unwrap_err();
    assert_eq!(err.code, ErrorCode::Limit);
    assert_eq!(h.stats().paired_rooms, MAX_PAIRED_ROOMS_PER_PEER);

    let mut members = Vec::new();
    for i in 0..MAX_PEERS_PER_PAIRED_ROOM {
        let (m, _) = connect(&h, &format!("c{i:015}"), "elsewhere");
        h.join_paired(&m, &[PAIR_B.into()]).unwrap();
        members.push(m);
    }
    let (late, _) = connect(&h, "dddddddddddddddd", "elsewhere");
    let err = h.join_paired(&late, &[PAIR_B.into()]).unwrap_err();
    assert_eq!(err.code, ErrorCode::Limit);
    // A member asking again is not refused as one too many.
    h.join_paired(&members[0], &[PAIR_B.into()]).unwrap();
}

fn app_signal() -> Signal {
    Signal::App {
        payload: serde_json::json!({"hi": 1}),
    }
}
