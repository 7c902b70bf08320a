//! Faults of a `ferry serve --redis` cluster, with real processes: an instance killed
//! mid-session (its peers come back through another, same identity, and the others see them
//! leave and return), and Redis restarted empty mid-session (instances keep their connections,
//! say so in the log and in `/metrics`, and re-assert their peers without a restart).
mod cluster;

use std::time::Instant;

use cluster::*;
use serde_json::{Value, json};

const NET: &str = "203.0.113.7";

fn signal(to: &str, n: u64) -> Value {
    json!({"type": "signal", "to": to, "signal": {"kind": "app", "payload": {"n": n}}})
}

fn is_left(m: &Value, room: &str, id: &str) -> bool {
    m["type"] == "peer-left" && m["room"] == room && m["peerId"] == id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_instance_peers_come_back_through_another() {
    let Some(bin) = redis_server_or_skip("killed_instance_peers_come_back_through_another") else {
        return;
    };
    let redis = Redis::start(bin);
    let mut i: Vec<Instance> = (0..3).map(|_| Instance::start(&redis.url(), &[])).collect();
    let mut a = Client::connect(&i[0], NET, None).await;
    let b = Client::connect(&i[1], NET, None).await;
    a.recv_type("peer-joined").await;
    let code = a.create_room().await;
    let mut b = b;
    b.send(json!({"type": "join-room", "code": code})).await;
    b.recv_type("room-joined").await;
    a.recv_type("peer-joined").await;

    let killed = Instant::now();
    i[1].kill();
    drop(b.ws);
    // Nobody says goodbye for b: its presence expires with its instance's heartbeats.
    let (mut lan_gone, mut code_gone) = (false, false);
    while !(lan_gone && code_gone) {
        let m = a.recv_type("peer-left").await;
        lan_gone |= is_left(&m, "lan", &b.id);
        code_gone |= is_left(&m, &code, &b.id);
    }
    println!(
        "presence of the killed instance's peer expired after {} ms",
        killed.elapsed().as_millis()
    );

    // b's client reconnects through the load balancer, here instance 2, with its token.
    let mut b2 = Client::connect(&i[2], NET, Some(&b.token)).await;
    assert_eq!(
        b2.id, b.id,
        "the token keeps the identity on another instance"
    );
    assert_eq!(listed(lan_room(&b2.welcome)), [a.id.clone()]);
    let back = a.recv_type("peer-joined").await;
    assert_eq!(
        (&back["room"], &back["peer"]["id"]),
        (&json!("lan"), &json!(b.id))
    );
    b2.send(json!({"type": "join-room", "code": code})).await;
    let room = b2.recv_type("room-joined").await;
    assert_eq!(listed(&room["room"]), [a.id.clone()]);
    a.send(signal(&b2.id, 7)).await;
    assert_eq!(b2.recv_type("signal").await["from"], json!(a.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_mid_session() {
    let Some(bin) = redis_server_or_skip("redis_restart_mid_session") else {
        return;
    };
    let mut redis = Redis::start(bin);
    let i: Vec<Instance> = (0..2).map(|_| Instance::start(&redis.url(), &[])).collect();
    let mut a = Client::connect(&i[0], NET, None).await;
    let mut b = Client::connect(&i[1], NET, None).await;
    a.recv_type("peer-joined").await;
    let mut c = Client::connect(&i[0], NET, None).await;
    let code = a.create_room().await;
    b.send(json!({"type": "join-room", "code": code})).await;
    b.recv_type("room-joined").await;
    a.recv_type("peer-joined").await;

    redis.stop();
    for x in &i {
        x.wait_redis_up(false);
    }
    // Connections stay; what needs no Redis is still answered, what does says why.
    a.send(json!({"type": "ping"})).await;
    a.recv_type("pong").await;
    a.send(signal(&b.id, 1)).await;
    let e = a.recv_type("error").await;
    assert!(e["message"].as_str().unwrap().contains("Redis"), "{e}");
    // Between two peers of one instance sharing a room, signals still go through.
    a.send(signal(&c.id, 3)).await;
    let s = c.recv_type("signal").await;
    assert_eq!(
        (&s["from"], &s["signal"]["payload"]["n"]),
        (&json!(a.id), &json!(3))
    );
    assert!(i[0].log().contains("lost Redis"), "{}", i[0].log());

    // Back, empty: every instance re-asserts its peers and sends each a fresh welcome.
    redis.restart();
    for x in &i {
        x.wait_redis_up(true);
    }
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    for (me, other) in [(&mut a, &b_id), (&mut b, &a_id)] {
        let w = me.recv_type("welcome").await;
        let rooms = w["rooms"].as_array().unwrap();
        let ids: Vec<&str> = rooms.iter().map(|r| r["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&"lan") && ids.contains(&code.as_str()), "{w}");
        // The other instance may re-assert its peer before or after this one.
        let listed_other = rooms
            .iter()
            .find(|r| r["id"] == code.as_str())
            .is_some_and(|r| listed(r).contains(other));
        if !listed_other {
            me.recv_until(|m| {
                m["type"] == "peer-joined"
                    && m["room"] == code.as_str()
                    && m["peer"]["id"] == **other
            })
            .await;
        }
    }
    a.send(signal(&b.id, 2)).await;
    let s = b.recv_type("signal").await;
    assert_eq!(
        (&s["from"], &s["signal"]["payload"]["n"]),
        (&json!(a.id), &json!(2))
    );
    assert!(i[0].metric("ferry_redis_resyncs_total").unwrap() >= 1.0);
    assert!(i[0].metric("ferry_redis_disconnects_total").unwrap() >= 1.0);
    assert!(i[0].log().contains("Redis is back"), "{}", i[0].log());
}

/// A rolling restart: SIGTERM closes the instance's clients with 1001 and takes its peers out of
/// Redis at once (the others need not wait for the heartbeat sweep); they come back elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_hands_peers_to_the_other_instances() {
    let Some(bin) = redis_server_or_skip("graceful_stop_hands_peers_to_the_other_instances") else {
        return;
    };
    let redis = Redis::start(bin);
    let mut i: Vec<Instance> = (0..2).map(|_| Instance::start(&redis.url(), &[])).collect();
    let mut a = Client::connect(&i[0], NET, None).await;
    let mut b = Client::connect(&i[1], NET, None).await;
    a.recv_type("peer-joined").await;

    let stopped = Instant::now();
    // The shell's own `kill`: no procps needed.
    let term = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", i[1].pid())])
        .status()
        .unwrap();
    assert!(term.success());
    let close = b.recv_close().await;
    assert_eq!(close, Some(1001));
    let m = a.recv_type("peer-left").await;
    assert!(is_left(&m, "lan", &b.id), "{m}");
    let took = stopped.elapsed();
    println!("peer-left {} ms after SIGTERM", took.as_millis());
    assert!(
        took < DEAD_AFTER_HINT,
        "left only with the heartbeat sweep ({took:?})"
    );
    i[1].kill();

    let b2 = Client::connect(&i[0], NET, Some(&b.token)).await;
    assert_eq!(b2.id, b.id);
    let back = a.recv_type("peer-joined").await;
    assert_eq!(back["peer"]["id"], json!(b.id));
}

/// The heartbeat sweep removes a dead instance's peers after 5 s; a graceful stop must be faster.
const DEAD_AFTER_HINT: std::time::Duration = std::time::Duration::from_secs(4);
