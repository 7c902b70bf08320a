//! What a broken or malicious peer can send, and what the engine does with it: answer with an
//! `error`, cancel the affected transfer where the protocol says so, never panic.
mod common;

use common::{Msg, Pair, bytes};
use ferry_engine::{Engine, Event, IoRequest, Output};
use ferry_protocol::transfer::{ControlMessage, DataFrame, OfferedFile, Role};

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn errors(outs: &[Output]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Output::SendText(t) => match ControlMessage::parse(t).unwrap() {
                ControlMessage::Error { code, .. } => Some(code),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn hello(e: &mut Engine) {
    e.start(std::time::Instant::now());
    e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    drain(e);
}

#[test]
fn unknown_types_and_malformed_json_get_errors_and_nothing_else() {
    let mut e = Engine::new("t");
    hello(&mut e);
    e.handle_text(r#"{"type":"warp","speed":9}"#);
    e.handle_text("{not json");
    e.handle_text(r#"{"type":"accept","transferId":-1}"#);
    e.handle_text(&format!(
        r#"{{"type":"text","id":"1","text":"{}"}}"#,
        "x".repeat(300 * 1024)
    ));
    let outs = drain(&mut e);
    assert_eq!(
        errors(&outs),
        ["unknown-type", "bad-message", "bad-message", "too-large"]
    );
    assert!(!e.is_busy());
}

#[test]
fn truncated_and_oversize_frames_are_refused() {
    let mut e = Engine::new("t");
    hello(&mut e);
    e.handle_binary(&[0u8; 15]);
    e.handle_binary(&vec![0u8; 256 * 1024 + 1]);
    e.handle_binary(&[]);
    let outs = drain(&mut e);
    assert_eq!(errors(&outs), ["bad-message", "too-large", "bad-message"]);
}

#[test]
fn frames_out_of_place_cancel_the_transfer() {
    for (index, offset, len, what) in [
        (1u32, 0u64, 10usize, "wrong file"),
        (0, 5, 10, "gap"),
        (0, 0, 101, "runs past the end"),
    ] {
        let mut e = Engine::new("t");
        hello(&mut e);
        e.handle_text(r#"{"type":"offer","transferId":3,"totalSize":150,"files":[{"path":"a","size":100},{"path":"b","size":50}]}"#);
        drain(&mut e);
        e.accept(3, vec![]).unwrap();
        drain(&mut e);
        let payload = vec![1u8; len];
        e.handle_binary(
            &DataFrame {
                transfer_id: 3,
                index,
                offset,
                payload: &payload,
            }
            .encode(),
        );
        let outs = drain(&mut e);
        assert_eq!(errors(&outs), ["protocol-violation"], "{what}");
        assert!(outs.iter().any(|o| matches!(o, Output::SendText(t) if matches!(ControlMessage::parse(t).unwrap(), ControlMessage::Cancel { transfer_id: 3, role: Role::Receiver, .. }))), "{what}");
        assert!(
            outs.iter()
                .any(|o| matches!(o, Output::Io(IoRequest::Abort { transfer_id: 3 }))),
            "{what}"
        );
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, Output::Io(IoRequest::Write { .. }))),
            "{what}"
        );
    }
}

#[test]
fn data_before_accept_and_for_unknown_transfers() {
    let mut e = Engine::new("t");
    hello(&mut e);
    e.handle_binary(
        &DataFrame {
            transfer_id: 9,
            index: 0,
            offset: 0,
            payload: b"x",
        }
        .encode(),
    );
    assert_eq!(errors(&drain(&mut e)), ["unknown-transfer"]);
    e.handle_text(
        r#"{"type":"offer","transferId":4,"totalSize":1,"files":[{"path":"a","size":1}]}"#,
    );
    drain(&mut e);
    e.handle_binary(
        &DataFrame {
            transfer_id: 4,
            index: 0,
            offset: 0,
            payload: b"x",
        }
        .encode(),
    );
    let outs = drain(&mut e);
    assert_eq!(errors(&outs), ["protocol-violation"]);
    assert!(
        !outs.iter().any(
            |o| matches!(o, Output::Io(_)) && !matches!(o, Output::Io(IoRequest::Abort { .. }))
        )
    );
}

#[test]
fn hostile_names_are_sanitized_or_the_offer_refused() {
    let mut e = Engine::new("t");
    hello(&mut e);
    let offer = |files: Vec<OfferedFile>, total: u64| {
        serde_json::json!({"type":"offer","transferId":1,"totalSize":total,"files":files})
            .to_string()
    };
    let f = |p: &str| OfferedFile {
        path: p.into(),
        size: 1,
        mime: String::new(),
        mtime: None,
    };
    let long = "n".repeat(5000);
    e.handle_text(&offer(
        vec![
            f("../../x"),
            f("/etc/passwd"),
            f("a\u{0}b"),
            f(&long),
            f("C:\\Windows\\con.txt"),
        ],
        5,
    ));
    let outs = drain(&mut e);
    let paths: Vec<String> = outs
        .iter()
        .find_map(|o| match o {
            Output::Event(Event::OfferReceived { files, .. }) => {
                Some(files.iter().map(|f| f.path.as_str().to_string()).collect())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(&paths[..3], ["x", "etc/passwd", "a_b"]);
    assert!(paths[3].len() <= 255);
    assert_eq!(paths[4], "C_/Windows/_con.txt");
    for p in &paths {
        assert!(!p.starts_with('/') && !p.split('/').any(|c| c == ".." || c.is_empty()));
    }
    // A name with nothing left is refused: the whole offer is declined, nothing is written.
    e.handle_text(
        &offer(vec![f("ok"), f("../..")], 2).replace("\"transferId\":1", "\"transferId\":2"),
    );
    let outs = drain(&mut e);
    assert_eq!(errors(&outs), ["invalid-offer"]);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::SendText(t) if t.contains("\"decline\"")))
    );
    // Sizes that do not add up.
    e.handle_text(&offer(vec![f("a")], 7).replace("\"transferId\":1", "\"transferId\":3"));
    assert_eq!(errors(&drain(&mut e)), ["invalid-offer"]);
}

#[test]
fn version_mismatch_closes() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    drain(&mut e);
    e.handle_text(r#"{"type":"hello","version":2,"app":"future"}"#);
    let outs = drain(&mut e);
    assert_eq!(errors(&outs), ["version-mismatch"]);
    assert!(matches!(outs.last(), Some(Output::Close)));
}

#[test]
fn messages_that_cross_a_cancel_are_dropped_silently() {
    // The receiver cancels while the sender's file-end and the receiver's done cross on the wire.
    let mut p = Pair::new();
    let id = p.a.offer(&[("f", bytes(10, 1))]);
    p.drive();
    assert!(p.b.complete.contains_key("f"));
    // Late duplicates of already-finished traffic: a cancel for a finished transfer, a late
    // accept after a cancel, a decline after done.
    p.b.deliver(&Msg::Text(
        ControlMessage::Cancel {
            transfer_id: id,
            role: Role::Sender,
            reason: "late".into(),
        }
        .to_json(),
    ));
    p.a.deliver(&Msg::Text(
        ControlMessage::Accept {
            transfer_id: id,
            resume: vec![],
            credit: None,
        }
        .to_json(),
    ));
    p.a.deliver(&Msg::Text(
        ControlMessage::Decline { transfer_id: id }.to_json(),
    ));
    p.a.deliver(&Msg::Text(
        ControlMessage::Cancel {
            transfer_id: id,
            role: Role::Receiver,
            reason: "late".into(),
        }
        .to_json(),
    ));
    p.drive();
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
    // But an accept for a transfer that never existed is an error.
    p.a.deliver(&Msg::Text(
        ControlMessage::Accept {
            transfer_id: 99,
            resume: vec![],
            credit: None,
        }
        .to_json(),
    ));
    p.drive();
    assert_eq!(p.a.errors_sent(), ["unknown-transfer"]);
}

#[test]
fn accept_racing_a_sender_cancel_is_ignored() {
    let mut p = Pair::new();
    p.b.auto_accept = false;
    let id = p.a.offer(&[("f", bytes(10, 1))]);
    p.drive();
    p.a.engine
        .cancel(id, Role::Sender, "changed my mind")
        .unwrap();
    p.b.engine.accept(id, vec![]).unwrap();
    p.drive();
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
    assert!(p.b.has(|e| matches!(e, Event::Cancelled { by_peer: true, .. })));
    assert!(p.b.complete.is_empty());
}

#[test]
fn resume_offset_past_the_end_restarts_the_file() {
    let mut e = Engine::new("s");
    hello(&mut e);
    let id = e
        .send_offer(vec![ferry_engine::LocalFile {
            path: "f".into(),
            size: 10,
            mime: String::new(),
            mtime: None,
        }])
        .unwrap();
    drain(&mut e);
    e.handle_text(
        &ControlMessage::Accept {
            transfer_id: id,
            resume: vec![ferry_protocol::transfer::ResumePoint {
                index: 0,
                offset: 11,
                sha256: None,
            }],
            credit: None,
        }
        .to_json(),
    );
    drain(&mut e);
    let r = e.next_read().unwrap();
    assert_eq!((r.offset, r.len), (0, 10));
}

fn hellos(outs: &[Output]) -> usize {
    outs.iter()
        .filter(|o| matches!(o, Output::SendText(t) if t.contains(r#""type":"hello""#)))
        .count()
}

#[test]
fn hello_is_repeated_until_heard_and_repeats_are_answered_a_bounded_number_of_times() {
    use ferry_engine::{HELLO_RETRY_INTERVAL, MAX_HELLO_ECHOES};
    let t0 = std::time::Instant::now();
    let mut e = Engine::new("t");
    e.start(t0);
    assert_eq!(hellos(&drain(&mut e)), 1);
    assert_eq!(e.poll_timeout(), Some(t0 + HELLO_RETRY_INTERVAL));
    e.handle_timeout(t0 + HELLO_RETRY_INTERVAL / 2);
    assert_eq!(hellos(&drain(&mut e)), 0, "not before it is due");
    // The peer's hello was lost: ours goes out again, for as long as we have not heard theirs.
    e.handle_timeout(t0 + HELLO_RETRY_INTERVAL);
    assert_eq!(hellos(&drain(&mut e)), 1);
    assert_eq!(e.poll_timeout(), Some(t0 + 2 * HELLO_RETRY_INTERVAL));
    e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    assert!(e.heard_from_peer());
    assert_eq!(hellos(&drain(&mut e)), 0, "a first hello needs no answer");
    assert_eq!(e.poll_timeout(), None, "no repeats once heard");
    e.handle_timeout(t0 + 10 * HELLO_RETRY_INTERVAL);
    assert_eq!(hellos(&drain(&mut e)), 0);
    // The peer repeats: it has not heard ours. Answered, but only MAX_HELLO_ECHOES times.
    for _ in 0..10 {
        e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    }
    assert_eq!(hellos(&drain(&mut e)), MAX_HELLO_ECHOES as usize);
}

#[test]
fn hello_is_repeated_at_most_hello_retries_times() {
    use ferry_engine::HELLO_RETRY_INTERVAL;
    use ferry_protocol::transfer::HELLO_RETRIES;
    let mut now = std::time::Instant::now();
    let mut e = Engine::new("t");
    e.start(now);
    let mut sent = hellos(&drain(&mut e));
    for _ in 0..HELLO_RETRIES + 10 {
        now += HELLO_RETRY_INTERVAL;
        e.handle_timeout(now);
        sent += hellos(&drain(&mut e));
    }
    assert_eq!(sent, 1 + HELLO_RETRIES as usize);
    assert_eq!(e.poll_timeout(), None, "gave up");
}

#[test]
fn file_verified_before_its_file_end_is_refused() {
    let mut e = Engine::new("s");
    hello(&mut e);
    let file = |p: &str| ferry_engine::LocalFile {
        path: p.into(),
        size: 3,
        mime: String::new(),
        mtime: None,
    };
    let id = e.send_offer(vec![file("a"), file("b")]).unwrap();
    drain(&mut e);
    let verified = |index| {
        ControlMessage::FileVerified {
            transfer_id: id,
            index,
            ok: true,
        }
        .to_json()
    };
    // While the offer is unanswered.
    e.handle_text(&verified(0));
    assert_eq!(errors(&drain(&mut e)), ["protocol-violation"]);
    e.handle_text(
        &ControlMessage::Accept {
            transfer_id: id,
            resume: vec![],
            credit: None,
        }
        .to_json(),
    );
    drain(&mut e);
    // Accepted, but file 1's file-end has not gone out yet.
    e.handle_text(&verified(1));
    assert_eq!(errors(&drain(&mut e)), ["protocol-violation"]);
    let r = e.next_read().unwrap();
    e.handle_read(r, vec![0; 16 + r.len]);
    drain(&mut e);
    e.handle_text(&verified(0));
    let outs = drain(&mut e);
    assert!(errors(&outs).is_empty());
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Event(Event::FileVerified {
            index: 0,
            ok: true,
            ..
        })
    )));
}
