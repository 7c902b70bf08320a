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
