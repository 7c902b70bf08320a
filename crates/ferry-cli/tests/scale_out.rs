//! Three `ferry serve --redis` instances sharing one real `redis-server` behave as one server:
//! LAN and code rooms, names, leaves and signals span instances, the guessing limit and the room
//! TTL hold cluster-wide, per-room event order holds across instances, paired rooms join devices
//! on different networks through different instances (and come back after a Redis restart),
//! and a CLI → CLI transfer
//! whose peers signal through different instances arrives byte for byte.
mod cluster;
mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use cluster::*;
use serde_json::json;

const NET: &str = "203.0.113.7";

fn signal(to: &str, n: u64) -> serde_json::Value {
    json!({"type": "signal", "to": to, "signal": {"kind": "app", "payload": {"n": n}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_names_leaves_and_signals_span_instances() {
    let Some(bin) = redis_server_or_skip("rooms_names_leaves_and_signals_span_instances") else {
        return;
    };
    let redis = Redis::start(bin);
    let opts = ["--room-ttl", "1s", "--wrong-guesses-per-room", "3"];
    let i: Vec<Instance> = (0..3)
        .map(|_| Instance::start(&redis.url(), &opts))
        .collect();

    // One public address, three instances: one LAN room.
    let mut a = Client::connect(&i[0], NET, None).await;
    assert!(listed(lan_room(&a.welcome)).is_empty(), "{}", a.welcome);
    let mut b = Client::connect(&i[1], NET, None).await;
    assert_eq!(listed(lan_room(&b.welcome)), [a.id.clone()]);
    let joined = a.recv_type("peer-joined").await;
    assert_eq!(
        (&joined["room"], &joined["peer"]["id"]),
        (&json!("lan"), &json!(b.id))
    );
    let mut c = Client::connect(&i[2], NET, None).await;
    let mut ab = vec![a.id.clone(), b.id.clone()];
    ab.sort();
    assert_eq!(listed(lan_room(&c.welcome)), ab);
    for x in [&mut a, &mut b] {
        assert_eq!(x.recv_type("peer-joined").await["peer"]["id"], json!(c.id));
    }
    // Another network is another room.
    let mut d = Client::connect(&i[2], "198.51.100.9", None).await;
    assert!(listed(lan_room(&d.welcome)).is_empty(), "{}", d.welcome);

    // A code room made on instance 0, joined through instance 2.
    let code = a.create_room().await;
    d.send(json!({"type": "join-room", "code": code.to_lowercase()}))
        .await;
    let room = d.recv_type("room-joined").await;
    assert_eq!(listed(&room["room"]), [a.id.clone()]);
    let joined = a.recv_type("peer-joined").await;
    assert_eq!(
        (&joined["room"], &joined["peer"]["id"]),
        (&json!(code), &json!(d.id))
    );

    // Names reach the room mates on other instances, and the peer itself.
    d.send(json!({"type": "set-name", "name": "Dee"})).await;
    let d_id = d.id.clone();
    for x in [&mut a, &mut d] {
        let upd = x.recv_type("peer-updated").await;
        assert_eq!(
            (&upd["peer"]["id"], &upd["peer"]["name"]),
            (&json!(d_id), &json!("Dee"))
        );
    }

    // Signals cross instances, stamped with the sender; never to a peer sharing no room.
    a.send(signal(&d.id, 1)).await;
    let s = d.recv_type("signal").await;
    assert_eq!(
        (&s["from"], &s["signal"]["payload"]["n"]),
        (&json!(a.id), &json!(1))
    );
    d.send(signal(&b.id, 2)).await;
    let e = d.recv_type("error").await;
    assert_eq!(e["code"], "peer-not-found", "{e}");

    // Leaves: a closed connection on instance 1, a left room on instance 2.
    b.ws.close(None).await.unwrap();
    for x in [&mut a, &mut c] {
        let left = x.recv_type("peer-left").await;
        assert_eq!(
            (&left["room"], &left["peerId"]),
            (&json!("lan"), &json!(b.id))
        );
    }
    d.send(json!({"type": "leave-room", "room": code})).await;
    assert_eq!(d.recv_type("room-left").await["room"], json!(code));
    let left = a.recv_type("peer-left").await;
    assert_eq!(
        (&left["room"], &left["peerId"]),
        (&json!(code), &json!(d.id))
    );

    // The TTL: once empty, the code expires for every instance.
    a.send(json!({"type": "leave-room", "room": code})).await;
    a.recv_type("room-left").await;
    // What is tested is time itself: the room must be gone once the 1 s TTL has passed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    d.send(json!({"type": "join-room", "code": code})).await;
    let m = d.recv_type("error").await;
    assert_eq!(m["code"], "room-not-found", "{m}");

    // The guessing limit counts wrong codes from every instance against the room.
    let code = a.create_room().await;
    let wrong: Vec<String> = ["2", "3", "4", "5"]
        .iter()
        .map(|x| format!("{}{}", &code[..3], x.repeat(3)))
        .filter(|w| *w != code)
        .take(3)
        .collect();
    for (n, w) in wrong.iter().enumerate() {
        let guesser = if n % 2 == 0 { &mut c } else { &mut d };
        guesser.send(json!({"type": "join-room", "code": w})).await;
        assert_eq!(guesser.recv_type("error").await["code"], "room-not-found");
    }
    let closed = a.recv_type("error").await;
    assert!(
        closed["message"]
            .as_str()
            .unwrap()
            .contains("no longer admits"),
        "{closed}"
    );
    d.send(json!({"type": "join-room", "code": code})).await;
    assert_eq!(d.recv_type("error").await["code"], "room-not-found");
}

/// Paired rooms (signaling v3) join two devices on two networks through two instances, carry
/// the device kind, bound what one join may do, and are re-asserted after Redis restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paired_rooms_span_instances_and_survive_a_redis_restart() {
    let Some(bin) = redis_server_or_skip("paired_rooms_span_instances_and_survive_a_redis_restart")
    else {
        return;
    };
    const PAIR: &str = "00112233445566778899aabbccddeeff";
    let mut redis = Redis::start(bin);
    let i: Vec<Instance> = (0..2).map(|_| Instance::start(&redis.url(), &[])).collect();
    let mut phone = Client::connect_query(&i[0].addr, NET, "?device=phone").await;
    let mut laptop = Client::connect(&i[1], "198.51.100.20", None).await;
    assert_eq!(phone.welcome["version"], 3, "{}", phone.welcome);

    phone
        .send(json!({"type": "join-paired", "rooms": [PAIR]}))
        .await;
    let room = phone.recv_type("room-joined").await;
    assert_eq!(
        (&room["room"]["id"], &room["room"]["kind"]),
        (&json!(PAIR), &json!("paired"))
    );
    assert!(listed(&room["room"]).is_empty(), "{room}");
    laptop
        .send(json!({"type": "join-paired", "rooms": [PAIR]}))
        .await;
    let room = laptop.recv_type("room-joined").await;
    assert_eq!(listed(&room["room"]), [phone.id.clone()]);
    // The device kind travels through Redis too.
    assert_eq!(room["room"]["peers"][0]["device"], "phone", "{room}");
    let joined = phone.recv_type("peer-joined").await;
    assert_eq!(
        (&joined["room"], &joined["peer"]["id"]),
        (&json!(PAIR), &json!(laptop.id))
    );
    assert!(joined["peer"].get("device").is_none(), "{joined}");
    phone.send(signal(&laptop.id, 1)).await;
    assert_eq!(laptop.recv_type("signal").await["from"], json!(phone.id));

    // A malformed id is refused; the well-formed one beside it is listed again. (The listing
    // comes through Redis, the refusal straight from this instance: either may come first.)
    laptop
        .send(json!({"type": "join-paired", "rooms": ["K7H3QD", PAIR]}))
        .await;
    let mut got = BTreeSet::new();
    while got.len() < 2 {
        let m = laptop
            .recv_until(|m| m["type"] == "room-joined" || m["type"] == "error")
            .await;
        match m["type"].as_str() {
            Some("room-joined") => assert_eq!(m["room"]["id"], PAIR, "{m}"),
            _ => assert_eq!(m["code"], "invalid-value", "{m}"),
        }
        got.insert(m["type"].as_str().unwrap_or_default().to_string());
    }
    laptop
        .send(json!({"type": "join-paired", "rooms": []}))
        .await;
    assert_eq!(laptop.recv_type("error").await["code"], "invalid-value");

    // Redis restarts empty: each instance re-asserts its peer in the paired room.
    redis.stop();
    for x in &i {
        x.wait_redis_up(false);
    }
    redis.restart();
    for x in &i {
        x.wait_redis_up(true);
    }
    let (phone_id, laptop_id) = (phone.id.clone(), laptop.id.clone());
    for (me, other) in [(&mut phone, &laptop_id), (&mut laptop, &phone_id)] {
        let w = me.recv_type("welcome").await;
        let paired = w["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == PAIR)
            .cloned()
            .unwrap_or_else(|| panic!("no paired room in {w}"));
        assert_eq!(paired["kind"], "paired");
        if !listed(&paired).contains(other) {
            me.recv_until(|m| {
                m["type"] == "peer-joined" && m["room"] == PAIR && m["peer"]["id"] == **other
            })
            .await;
        }
    }
    laptop.send(signal(&phone.id, 2)).await;
    assert_eq!(phone.recv_type("signal").await["from"], json!(laptop.id));

    laptop
        .send(json!({"type": "leave-room", "room": PAIR}))
        .await;
    assert_eq!(laptop.recv_type("room-left").await["room"], PAIR);
    let left = phone.recv_type("peer-left").await;
    assert_eq!(
        (&left["room"], &left["peerId"]),
        (&json!(PAIR), &json!(laptop.id))
    );
    laptop.send(signal(&phone.id, 3)).await;
    assert_eq!(laptop.recv_type("error").await["code"], "peer-not-found");
}

/// Peers join one LAN room concurrently through three instances. Each must see a consistent
/// room: its listing first, then a `peer-joined` for every later peer and for no peer already
/// listed (the per-room order that docs/protocol.md promises).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_order_holds_across_instances() {
    let Some(bin) = redis_server_or_skip("join_order_holds_across_instances") else {
        return;
    };
    let redis = Redis::start(bin);
    let i: Vec<Instance> = (0..3).map(|_| Instance::start(&redis.url(), &[])).collect();
    const PEERS: usize = 24;
    let mut joins = Vec::new();
    for n in 0..PEERS {
        let addr = i[n % 3].addr.clone();
        joins.push(tokio::spawn(async move {
            Client::connect_addr(&addr, NET, None).await
        }));
    }
    let mut clients = Vec::new();
    for j in joins {
        clients.push(j.await.unwrap());
    }
    let everyone: BTreeSet<String> = clients.iter().map(|c| c.id.clone()).collect();
    for c in &mut clients {
        let mut known: BTreeSet<String> = listed(lan_room(&c.welcome)).into_iter().collect();
        while known.len() + 1 < PEERS {
            let m = c.recv().await;
            if m["type"] == "peer-joined" {
                let id = m["peer"]["id"].as_str().unwrap().to_string();
                assert!(
                    known.insert(id.clone()),
                    "{id} announced twice, or after its listing"
                );
            } else if m["type"] == "room-peers" {
                known.extend(listed(&m));
            }
        }
        known.insert(c.id.clone());
        assert_eq!(known, everyone);
    }
}

/// `ferry send` through instance 0, `ferry receive` through instance 1: the signaling (and the
/// room) spans instances, the bytes go peer to peer.
#[test]
fn cli_transfer_signaled_through_two_instances() {
    let Some(bin) = redis_server_or_skip("cli_transfer_signaled_through_two_instances") else {
        return;
    };
    let redis = Redis::start(bin);
    let i0 = Instance::start(&redis.url(), &[]);
    let i1 = Instance::start(&redis.url(), &[]);
    let src = common::TempDir::new("scale-src");
    let out = common::TempDir::new("scale-out");
    let file = src.path().join("payload.bin");
    std::fs::write(&file, common::random_bytes(8 * 1024 * 1024 + 13, 10)).unwrap();
    let file_s = file.display().to_string();
    let mut sender =
        common::Peer::spawn_at(&i0.url, &["send", "--yes", &file_s], Stdio::null(), &[]);
    let room = sender.wait_event("room", WAIT);
    let code = room["code"].as_str().unwrap().to_string();
    let out_s = out.path().display().to_string();
    let receiver = common::Peer::spawn_at(
        &i1.url,
        &["receive", &code, "--out", &out_s, "--yes"],
        Stdio::null(),
        &[],
    );
    let r = receiver.finish(Duration::from_secs(120));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "receiver failed:\n{}", r.stderr);
    assert_eq!(s.code, Some(0), "sender failed:\n{}", s.stderr);
    assert!(common::same_file(&file, &out.path().join("payload.bin")));
}
