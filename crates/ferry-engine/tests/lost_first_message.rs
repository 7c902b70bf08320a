//! The first messages on a fresh pipe can be lost (webrtc-rs, a negotiated channel whose other end
//! is not set up yet; issue 14). The engine holds offers until the peer's `hello` and repeats its
//! own on the clock the driver passes in, so a transfer still starts — deterministically here,
//! with the Pair's clock and loss hook.
mod common;

use std::time::Duration;

use common::{Dir, Msg, Pair, bytes};
use ferry_engine::{Event, HELLO_RETRY_INTERVAL, MAX_HELLO_ECHOES};
use ferry_protocol::transfer::HELLO_RETRIES;

fn hellos_sent(msgs: &[Msg]) -> usize {
    msgs.iter()
        .filter(|m| matches!(m, Msg::Text(t) if t.contains(r#""type":"hello""#)))
        .count()
}

fn heard(side: &common::Side) -> bool {
    side.has(|e| matches!(e, Event::PeerHello { .. }))
}

#[test]
fn a_lost_hello_is_repeated_and_the_held_offer_then_goes_out() {
    // A's hello is lost; B wants to send. B must not offer into the void.
    let mut p = Pair::losing_first(Dir::AToB, 1);
    let id = p.b.offer(&[("f", bytes(100_000, 3))]);
    p.drive();
    assert!(heard(&p.a) && !heard(&p.b));
    assert!(p.a.complete.is_empty(), "nothing moves without time");
    assert!(
        !p.b.sent
            .iter()
            .any(|m| matches!(m, Msg::Text(t) if t.contains("offer"))),
        "the offer is held until A's hello"
    );
    // One retry interval later B says hello again, A answers, and B's offer goes out.
    p.advance(HELLO_RETRY_INTERVAL);
    p.drive();
    assert!(heard(&p.b));
    assert_eq!(p.a.complete["f"], bytes(100_000, 3));
    assert!(
        p.b.has(|e| matches!(e, Event::TransferDone { transfer_id, .. } if *transfer_id == id))
    );
    assert_eq!(p.lost.len(), 1);
}

#[test]
fn both_first_messages_lost_and_the_transfer_still_runs() {
    let mut p = Pair::with_loss(Some(Box::new({
        let mut seen = [0usize; 2];
        move |d, _| {
            let i = d as usize;
            seen[i] += 1;
            seen[i] == 1
        }
    })));
    p.a.offer(&[("x", bytes(70_000, 1))]);
    p.b.offer(&[("y", bytes(80_000, 2))]);
    p.drive_for(3 * HELLO_RETRY_INTERVAL);
    assert_eq!(p.b.complete["x"], bytes(70_000, 1));
    assert_eq!(p.a.complete["y"], bytes(80_000, 2));
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
}

#[test]
fn a_peer_that_never_hears_us_gets_a_bounded_number_of_hellos() {
    let mut p = Pair::with_loss(Some(Box::new(|d, _| d == Dir::AToB)));
    p.a.offer(&[("f", bytes(10, 1))]);
    p.drive_for(Duration::from_secs(60));
    // B never hears A: B repeats, bounded; A (which heard B at once and never repeats on its
    // own) answers the repeats a bounded number of times.
    assert_eq!(hellos_sent(&p.b.sent), 1 + HELLO_RETRIES as usize);
    assert_eq!(hellos_sent(&p.a.sent), 1 + MAX_HELLO_ECHOES as usize);
    assert_eq!(p.b.engine.poll_timeout(), None);
    assert!(p.b.complete.is_empty());
}
