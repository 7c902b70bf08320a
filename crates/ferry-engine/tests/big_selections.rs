//! Selections too long for one offer: a folder of a few thousand files lists more than one
//! control message may carry (256 KiB), so it goes as several offers.
mod common;

use common::Pair;
use ferry_engine::{CommandError, Engine, Event, LocalFile, split_offer};
use ferry_protocol::transfer::{ControlMessage, MAX_CONTROL_BYTES, MAX_FILES_PER_OFFER, Role};

fn listing(n: usize, path_len: usize) -> Vec<LocalFile> {
    (0..n)
        .map(|i| LocalFile {
            path: format!("photos/{:0>width$}.jpg", i, width = path_len),
            size: (i % 7) as u64,
            mime: "image/jpeg".into(),
            mtime: Some(1_700_000_000_000 + i as u64),
        })
        .collect()
}

fn offer_json(e: &mut Engine) -> String {
    while let Some(o) = e.poll_output() {
        if let ferry_engine::Output::SendText(t) = o
            && t.contains("\"offer\"")
        {
            return t;
        }
    }
    panic!("no offer on the wire");
}

#[test]
fn a_listing_over_one_message_is_refused_with_a_clear_error_not_sent() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    match e.send_offer(listing(3_000, 120)) {
        Err(CommandError::InvalidOffer(why)) => {
            assert!(why.contains("3000 files") && why.contains("split"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_busy(), "nothing left waiting for an answer");
}

#[test]
fn split_offers_each_fit_one_message_and_keep_the_order() {
    for (n, path_len) in [(3_000, 120), (25_000, 1), (1, 4_000), (0, 1)] {
        let files = listing(n, path_len);
        let parts = split_offer(files.clone());
        let flat: Vec<LocalFile> = parts.iter().flatten().cloned().collect();
        assert_eq!(flat, files, "{n} files: order and content kept");
        let mut e = Engine::new("t");
        e.start(std::time::Instant::now());
        e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
        for part in parts {
            assert!(!part.is_empty() && part.len() <= MAX_FILES_PER_OFFER);
            let count = part.len();
            e.send_offer(part).expect("a split part is a valid offer");
            let json = offer_json(&mut e);
            assert!(json.len() <= MAX_CONTROL_BYTES, "{} bytes", json.len());
            assert!(
                matches!(ControlMessage::parse(&json), Ok(ControlMessage::Offer { files, .. }) if files.len() == count),
                "the peer parses it"
            );
        }
    }
    assert!(split_offer(listing(3_000, 120)).len() >= 2);
    // Even the shortest entries (~30 bytes) hit the byte limit before the 10,000-file one.
    assert!(split_offer(listing(25_000, 1)).len() >= 3);
}

#[test]
fn every_part_of_a_split_selection_arrives_verified() {
    let mut p = Pair::new();
    let files: Vec<(String, Vec<u8>)> = (0..2_500)
        .map(|i| (format!("tree/{:0>150}", i), vec![i as u8; i % 5]))
        .collect();
    let local: Vec<LocalFile> = files
        .iter()
        .map(|(path, b)| LocalFile {
            path: path.clone(),
            size: b.len() as u64,
            mime: String::new(),
            mtime: None,
        })
        .collect();
    let parts = split_offer(local);
    assert!(parts.len() >= 2, "the listing needs more than one offer");
    let mut next = 0;
    for part in parts {
        let chunk: Vec<(&str, Vec<u8>)> = files[next..next + part.len()]
            .iter()
            .map(|(p, b)| (p.as_str(), b.clone()))
            .collect();
        next += part.len();
        p.a.offer(&chunk);
    }
    p.drive();
    for (path, data) in &files {
        assert_eq!(p.b.complete.get(path.as_str()), Some(data), "{path}");
    }
    let done = |role: Role| move |e: &Event| matches!(e, Event::TransferDone { role: r, failed: 0, .. } if *r == role);
    assert!(p.a.events.iter().filter(|e| done(Role::Sender)(e)).count() >= 2);
    assert!(!p.a.engine.is_busy() && !p.b.engine.is_busy());
    assert!(p.a.errors_sent().is_empty() && p.b.errors_sent().is_empty());
}
