//! Offer → consent → stream → verify → done, over an in-memory pipe.
mod common;

use common::{Msg, Pair, bytes};
use ferry_engine::{Event, Hasher, ResumeFrom};
use ferry_protocol::transfer::{ControlMessage, Role};
use sha2::Digest;

#[test]
fn folder_with_empty_and_multi_chunk_files_arrives_verified() {
    let mut p = Pair::new();
    p.a.engine.set_max_message_size(1000);
    let files = vec![
        ("dir/a.bin", bytes(10_000, 1)),
        ("dir/empty", vec![]),
        ("b.txt", bytes(3, 2)),
        ("dir/sub/c.bin", bytes(984 * 3, 3)), // exactly three full frames
        ("z-empty-last", vec![]),
    ];
    let id = p.a.offer(&files);
    p.drive();
    for (path, data) in &files {
        assert_eq!(p.b.complete.get(*path), Some(data), "{path}");
    }
    assert!(p.a.has(|e| matches!(e, Event::TransferDone { transfer_id, role: Role::Sender, .. } if *transfer_id == id)));
    assert!(p.b.has(|e| matches!(
        e,
        Event::TransferDone {
            role: Role::Receiver,
            failed: 0,
            ..
        }
    )));
    assert!(!p.a.engine.is_busy() && !p.b.engine.is_busy());
    // Every frame respected the negotiated size.
    assert!(p.a.sent.iter().all(|m| match m {
        Msg::Binary(b) => b.len() <= 1000,
        _ => true,
    }));
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
}

#[test]
fn both_directions_at_once_with_the_same_transfer_id() {
    let mut p = Pair::new();
    let ida = p.a.offer(&[("from-a", bytes(200_000, 4))]);
    let idb = p.b.offer(&[("from-b", bytes(150_000, 5))]);
    assert_eq!(ida, idb, "both pick id 1: roles keep them apart");
    p.drive();
    assert_eq!(p.b.complete["from-a"], bytes(200_000, 4));
    assert_eq!(p.a.complete["from-b"], bytes(150_000, 5));
}

#[test]
fn decline_writes_nothing() {
    let mut p = Pair::new();
    p.b.auto_accept = false;
    let id = p.a.offer(&[("x", bytes(100, 1))]);
    p.drive();
    assert!(p.b.has(|e| matches!(e, Event::OfferReceived { .. })));
    p.b.engine.decline(id).unwrap();
    p.drive();
    assert!(p.a.has(|e| matches!(e, Event::Declined { .. })));
    assert!(p.b.partial.is_empty() && p.b.complete.is_empty());
    assert!(!p.a.engine.is_busy());
}

#[test]
fn receiver_cancel_mid_stream_keeps_partial_and_late_frames_are_ignored() {
    let mut p = Pair::new();
    p.reads_per_step = 2;
    let id = p.a.offer(&[("big", bytes(2_000_000, 9))]);
    for _ in 0..6 {
        p.step();
    }
    // Frames are in flight when the receiver cancels: collect a's next output before delivering.
    p.b.engine
        .cancel(id, Role::Receiver, "cancelled by user")
        .unwrap();
    let in_flight = p.collect_a();
    assert!(in_flight.iter().any(|m| matches!(m, Msg::Binary(_))));
    for m in &in_flight {
        p.b.deliver(m);
    }
    p.drive();
    assert!(p.a.has(|e| matches!(e, Event::Cancelled { by_peer: true, role: Role::Sender, reason, .. } if reason == "cancelled by user")));
    assert!(p.b.has(|e| matches!(
        e,
        Event::Cancelled {
            by_peer: false,
            role: Role::Receiver,
            ..
        }
    )));
    assert!(p.b.complete.is_empty());
    let kept = &p.b.kept_partial["big"];
    assert!(!kept.is_empty() && kept.len() < 2_000_000);
    assert!(
        p.b.errors_sent().is_empty(),
        "late frames of a cancelled transfer are not errors"
    );
    assert!(!p.a.engine.is_busy() && !p.b.engine.is_busy());
}

#[test]
fn sender_cancel_stops_the_receiver() {
    let mut p = Pair::new();
    let id = p.a.offer(&[("big", bytes(1_000_000, 9))]);
    p.step();
    p.step();
    p.step();
    p.a.engine.cancel(id, Role::Sender, "Ctrl-C").unwrap();
    p.drive();
    assert!(p.b.has(|e| matches!(
        e,
        Event::Cancelled {
            by_peer: true,
            role: Role::Receiver,
            ..
        }
    )));
    assert!(p.b.complete.is_empty());
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
}

#[test]
fn resume_sends_only_the_missing_suffix_and_hashes_the_whole_file() {
    let data = bytes(500_000, 7);
    let mut p = Pair::new();
    p.b.auto_accept = false;
    let id = p.a.offer(&[("f.bin", data.clone())]);
    p.drive();
    let held = 300_000usize;
    p.b.kept_partial
        .insert("f.bin".into(), data[..held].to_vec());
    let mut h = Hasher::new();
    h.update(&data[..held]);
    p.b.engine
        .accept(
            id,
            vec![ResumeFrom {
                index: 0,
                offset: held as u64,
                hasher: h,
            }],
        )
        .unwrap();
    p.drive();
    assert_eq!(p.b.complete["f.bin"], data);
    let sent_payload: usize =
        p.a.sent
            .iter()
            .map(|m| match m {
                Msg::Binary(b) => b.len() - 16,
                _ => 0,
            })
            .sum();
    assert_eq!(sent_payload, data.len() - held);
}

#[test]
fn a_kept_prefix_that_is_not_the_file_is_refused_and_the_file_sent_whole() {
    let data = bytes(500_000, 7);
    let mut p = Pair::new();
    p.b.auto_accept = false;
    let id = p.a.offer(&[("f.bin", data.clone())]);
    p.drive();
    // The receiver kept 300,000 bytes of another file under the same name.
    let other = bytes(300_000, 8);
    p.b.kept_partial.insert("f.bin".into(), other.clone());
    let mut h = Hasher::new();
    h.update(&other);
    p.b.engine
        .accept(
            id,
            vec![ResumeFrom {
                index: 0,
                offset: other.len() as u64,
                hasher: h,
            }],
        )
        .unwrap();
    p.drive();
    // The accept carried the prefix's hash; the sender checked it and restarted the file.
    assert!(
        p.b.sent
            .iter()
            .any(|m| matches!(m, Msg::Text(t) if t.contains("\"sha256\"")))
    );
    assert!(
        p.a.sent
            .iter()
            .any(|m| matches!(m, Msg::Text(t) if t.contains("\"file-restart\"")))
    );
    assert!(p.b.has(|e| matches!(e, Event::FileRestarted { index: 0, .. })));
    assert_eq!(
        p.b.complete["f.bin"], data,
        "verified, not a mismatch at the end"
    );
    let sent_payload: usize =
        p.a.sent
            .iter()
            .map(|m| match m {
                Msg::Binary(b) => b.len() - 16,
                _ => 0,
            })
            .sum();
    assert_eq!(sent_payload, data.len(), "the whole file, once");
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
}

#[test]
fn corrupted_bytes_fail_verification_but_the_transfer_goes_on() {
    let mut p = Pair::new();
    p.a.offer(&[("one", bytes(1000, 1)), ("two", bytes(1000, 2))]);
    // Let the offer and accept cross, then corrupt the first frame on the wire.
    while !p
        .b
        .sent
        .iter()
        .any(|m| matches!(m, Msg::Text(t) if t.contains("\"accept\"")))
    {
        p.step();
    }
    let mut out = p.collect_a();
    let first = out.iter_mut().find_map(|m| match m {
        Msg::Binary(b) => Some(b),
        _ => None,
    });
    first.unwrap()[20] ^= 0xff;
    for m in &out {
        p.b.deliver(m);
    }
    p.drive();
    assert!(!p.b.complete.contains_key("one"));
    assert!(p.b.kept_partial.contains_key("one"));
    assert_eq!(p.b.complete["two"], bytes(1000, 2));
    assert!(p.a.has(|e| matches!(
        e,
        Event::FileVerified {
            index: 0,
            ok: false,
            role: Role::Sender,
            ..
        }
    )));
    assert!(p.b.has(|e| matches!(e, Event::TransferDone { failed: 1, .. })));
    // The sender counts the receiver's verdicts too: its summary says one file failed.
    assert!(p.a.has(|e| matches!(
        e,
        Event::TransferDone {
            failed: 1,
            role: Role::Sender,
            ..
        }
    )));
}

#[test]
fn a_repeated_verdict_for_a_file_counts_once_on_the_sender() {
    let mut p = Pair::new();
    let id =
        p.a.offer(&[("one", bytes(1000, 1)), ("two", bytes(1000, 2))]);
    let is_done = |m: &Msg| matches!(m, Msg::Text(t) if t.contains("\"done\""));
    // Run the transfer, holding back the receiver's `done`.
    let mut done = None;
    for _ in 0..1000 {
        for m in p.collect_a() {
            p.b.deliver(&m);
        }
        for m in p.collect_b() {
            if is_done(&m) {
                done = Some(m);
            } else {
                p.a.deliver(&m);
            }
        }
        if done.is_some() {
            break;
        }
    }
    let done = done.expect("the receiver finished");
    // Then a contradicting verdict for file 0, twice, before the `done`.
    let mismatch = Msg::Text(format!(
        r#"{{"type":"file-verified","transferId":{id},"index":0,"ok":false}}"#
    ));
    p.a.deliver(&mismatch);
    p.a.deliver(&mismatch);
    p.a.deliver(&done);
    p.drive();
    assert!(p.a.has(|e| matches!(
        e,
        Event::TransferDone {
            failed: 1,
            role: Role::Sender,
            ..
        }
    )));
}

#[test]
fn text_messages_interleave_with_data() {
    let mut p = Pair::new();
    p.a.offer(&[("f", bytes(300_000, 1))]);
    p.step();
    p.step();
    p.a.engine.send_text("hi 👋").unwrap();
    p.b.engine.send_text("hello").unwrap();
    p.drive();
    assert!(p.b.has(|e| matches!(e, Event::Text { text, .. } if text == "hi 👋")));
    assert!(p.a.has(|e| matches!(e, Event::Text { text, .. } if text == "hello")));
    assert_eq!(p.b.complete["f"], bytes(300_000, 1));
}

#[test]
fn offers_wait_for_the_peer_hello() {
    let mut a = ferry_engine::Engine::new("a");
    a.start(std::time::Instant::now());
    a.send_offer(vec![ferry_engine::LocalFile {
        path: "x".into(),
        size: 1,
        mime: String::new(),
        mtime: None,
    }])
    .unwrap();
    let mut texts = vec![];
    while let Some(o) = a.poll_output() {
        if let ferry_engine::Output::SendText(t) = o {
            texts.push(ControlMessage::parse(&t).unwrap());
        }
    }
    assert!(matches!(texts.as_slice(), [ControlMessage::Hello { .. }]));
    a.handle_text(r#"{"type":"hello","version":1,"app":"b"}"#);
    let mut offer_sent = false;
    while let Some(o) = a.poll_output() {
        if let ferry_engine::Output::SendText(t) = o {
            offer_sent |= matches!(
                ControlMessage::parse(&t).unwrap(),
                ControlMessage::Offer { .. }
            );
        }
    }
    assert!(offer_sent);
}

#[test]
fn a_lost_pipe_ends_running_transfers_on_both_sides() {
    let mut p = Pair::new();
    p.a.offer(&[("f", bytes(1_000_000, 1))]);
    for _ in 0..4 {
        p.step();
    }
    p.a.engine.handle_closed();
    p.b.engine.handle_closed();
    p.drive();
    for side in [&p.a, &p.b] {
        assert!(side.has(|e| matches!(e, Event::Cancelled { by_peer: false, reason, .. } if reason.contains("lost"))));
    }
    assert!(p.b.complete.is_empty() && p.b.kept_partial.contains_key("f"));
    assert!(!p.a.engine.is_busy() && !p.b.engine.is_busy());
}
