//! A folder of thousands of files: its listing is more than one control message may carry
//! (256 KiB), so `ferry send` offers it in parts and `ferry receive` takes every part before it
//! reports, asking once for all of them (`offer.selection`). Before, the one oversized offer was
//! refused by the receiver and the sender waited for an answer forever.
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn a_folder_too_long_for_one_offer_arrives_whole_in_parts() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let root = src.path().join("photos");
    std::fs::create_dir_all(&root).unwrap();
    // 3,000 entries of ~170 bytes each (name, size, type, mtime): over 256 KiB of listing.
    let n = 3_000;
    let mut expected = Vec::new();
    for i in 0..n {
        let name = format!("IMG_{i:05}_{}.jpg", "x".repeat(100));
        std::fs::write(root.join(&name), random_bytes(i % 300, i as u64)).unwrap();
        expected.push(format!("photos/{name}"));
    }
    expected.sort();

    let (sender, code) = send(&server, &[&root]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(300));
    let s = sender.finish(Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "receiver failed:\n{}", r.stderr);
    assert_eq!(s.code, Some(0), "sender failed:\n{}", s.stderr);
    assert!(
        s.stderr.contains("receiver accepted part 1 of ")
            && s.stderr.contains("receiver accepted part 2 of "),
        "{}",
        s.stderr
    );
    assert_eq!(files_under(out.path()), expected);
    for rel in &expected {
        let name = rel.trim_start_matches("photos/");
        assert!(
            same_file(&root.join(name), &out.path().join(rel)),
            "{rel} differs"
        );
    }
    assert!(r.stderr.contains("all files verified"), "{}", r.stderr);
    // One question for the whole folder: the parts say they are one selection.
    assert_eq!(
        r.stderr.matches("Offer: ").count(),
        1,
        "asked once:\n{}",
        r.stderr
    );
    assert!(r.stderr.contains("Offer: 3000 files"), "{}", r.stderr);
}
