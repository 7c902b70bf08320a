//! An interrupted transfer resumes: the receiver keeps `name.ferry-part`, and the next
//! `ferry receive` of the same file offers its length, so only the rest travels.
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn receiver_interrupted_then_resumed_gets_the_whole_file() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let file = src.path().join("movie.bin");
    std::fs::write(&file, random_bytes(48 * 1024 * 1024, 42)).unwrap();

    // First attempt: stop the receiver once part of the file is on disk.
    let (sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let part = out.path().join("movie.bin.ferry-part");
    let t0 = Instant::now();
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 1024 * 1024 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no data arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    receiver.signal("INT");
    let r = receiver.finish(Duration::from_secs(20));
    let s = sender.finish(Duration::from_secs(20));
    assert_ne!(r.code, Some(0));
    assert_ne!(s.code, Some(0));
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(
        kept > 0 && kept < 48 * 1024 * 1024,
        "partial file kept: {kept} bytes"
    );

    // Second attempt: the prefix is reused and the result is byte for byte.
    let (sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(120));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    assert!(r.stderr.contains("resuming movie.bin from"), "{}", r.stderr);
    assert!(same_file(&file, &out.path().join("movie.bin")));
    assert!(!part.exists());
    assert_eq!(files_under(out.path()), ["movie.bin"]);
}

#[test]
fn a_kept_part_of_another_file_is_refused_by_the_sender_and_the_file_sent_whole() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let file = src.path().join("report.bin");
    std::fs::write(&file, random_bytes(6 * 1024 * 1024, 7)).unwrap();
    // A `.ferry-part` of the same name from some other file (say an earlier version).
    let part = out.path().join("report.bin.ferry-part");
    std::fs::write(&part, random_bytes(2 * 1024 * 1024, 8)).unwrap();

    let (sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(120));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(s.code, Some(0), "{}", s.stderr);
    assert!(
        r.stderr.contains("resuming report.bin from"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("differs from the sender's file: receiving it from the start"),
        "{}",
        r.stderr
    );
    assert!(same_file(&file, &out.path().join("report.bin")));
    assert!(!part.exists());
    assert_eq!(files_under(out.path()), ["report.bin"]);
}
