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

#[test]
fn send_selection_marks_each_part_and_the_receiver_sees_which_selection_it_belongs_to() {
    let mut a = Engine::new("a");
    let mut b = Engine::new("b");
    let now = std::time::Instant::now();
    for e in [&mut a, &mut b] {
        e.start(now);
        e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    }
    // A selection that fits one offer goes as one, with no `selection` on the wire.
    let one = a.send_selection(listing(3, 10)).unwrap();
    assert_eq!(one.len(), 1);
    assert!(!offer_json(&mut a).contains("selection"));

    let files = listing(3_000, 120);
    let sent = a.send_selection(files.clone()).unwrap();
    assert!(sent.len() >= 2);
    let first = sent[0].0;
    let mut index = 0;
    for (i, &(id, start)) in sent.iter().enumerate() {
        assert_eq!(start, index, "part {i} starts where the one before ended");
        let json = offer_json(&mut a);
        let Ok(ControlMessage::Offer {
            transfer_id,
            files: listed,
            selection: Some(sel),
            ..
        }) = ControlMessage::parse(&json)
        else {
            panic!("part {i} is an offer with its selection: {}", &json[..200]);
        };
        assert_eq!(transfer_id, id);
        assert_eq!(
            (sel.first, sel.part, sel.parts),
            (first, i as u32, sent.len() as u32)
        );
        index += listed.len();
        b.handle_text(&json);
    }
    assert_eq!(index, files.len());
    let seen: Vec<_> = std::iter::from_fn(|| b.poll_output())
        .filter_map(|o| match o {
            ferry_engine::Output::Event(Event::OfferReceived { selection, .. }) => selection,
            _ => None,
        })
        .collect();
    assert_eq!(
        seen.len(),
        sent.len(),
        "every part is an offer with its selection"
    );
    assert!(seen.iter().all(|s| s.first == first));
}

#[test]
fn a_selection_over_max_selection_parts_is_refused_before_anything_is_sent() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    e.handle_text(r#"{"type":"hello","version":1,"app":"peer"}"#);
    while e.poll_output().is_some() {}
    // Names over half a message long: one file per part, so 1,001 files are 1,001 parts.
    let long = "x".repeat(130 * 1024);
    let many: Vec<LocalFile> = (0..1_001)
        .map(|i| LocalFile {
            path: format!("{long}/{i}"),
            size: 1,
            mime: String::new(),
            mtime: None,
        })
        .collect();
    match e.send_selection(many) {
        Err(CommandError::InvalidOffer(why)) => assert!(why.contains("at most 1000"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(!e.is_busy(), "no part was sent");
    assert!(e.poll_output().is_none());
}
