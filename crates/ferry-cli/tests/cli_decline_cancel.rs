//! The ways a transfer ends without success: the receiver declines, either side presses Ctrl-C.
//! Both processes exit non-zero with a message that says what happened.
mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn declining_at_the_prompt_writes_nothing_and_both_sides_fail() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let file = src.path().join("secret.txt");
    std::fs::write(&file, b"do not want").unwrap();
    let (sender, code) = send(&server, &[&file]);
    let mut receiver = receive(&server, &code, out.path(), &[], Stdio::piped());
    receiver
        .child
        .stdin
        .take()
        .unwrap()
        .write_all(b"n\n")
        .unwrap();
    let r = receiver.finish(Duration::from_secs(60));
    let s = sender.finish(Duration::from_secs(30));
    assert_ne!(r.code, Some(0));
    assert_ne!(s.code, Some(0));
    assert!(r.stderr.contains("Accept? [Y/n]"), "{}", r.stderr);
    assert!(
        r.stderr.contains("secret.txt"),
        "offer is shown: {}",
        r.stderr
    );
    assert!(s.stderr.contains("declined"), "{}", s.stderr);
    assert!(files_under(out.path()).is_empty());
}

/// Starts sending a sparse 4 GiB `large.bin` (large enough to still be in flight when a test
/// interrupts it) and returns once its first bytes are on the receiver's disk.
fn start_large_transfer(server: &Server, src: &TempDir, out: &TempDir) -> (Peer, Peer, PathBuf) {
    let file = src.path().join("large.bin");
    let f = std::fs::File::create(&file).unwrap();
    f.set_len(4 * 1024 * 1024 * 1024).unwrap();
    let (sender, code) = send(server, &[&file]);
    let mut receiver = receive(server, &code, out.path(), &["--yes"], Stdio::null());
    receiver.wait_event("connected", Duration::from_secs(30));
    let part = out.path().join("large.bin.ferry-part");
    let t0 = std::time::Instant::now();
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 256 * 1024 {
        assert!(t0.elapsed() < Duration::from_secs(30), "no data arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    (sender, receiver, part)
}

fn cancel_mid_transfer(who_cancels: &str) {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let (sender, receiver, part) = start_large_transfer(&server, &src, &out);
    let (canceller, other) = if who_cancels == "sender" {
        (sender, receiver)
    } else {
        (receiver, sender)
    };
    canceller.signal("INT");
    let c = canceller.finish(Duration::from_secs(20));
    let o = other.finish(Duration::from_secs(20));
    assert_ne!(c.code, Some(0));
    assert_ne!(o.code, Some(0));
    assert!(c.stderr.contains("cancelled by the user"), "{}", c.stderr);
    assert!(
        o.stderr.contains("the peer cancelled the transfer"),
        "{}",
        o.stderr
    );
    // The partial data is kept for a resume, never presented as the complete file.
    assert!(!out.path().join("large.bin").exists());
    assert!(part.exists());
}

#[test]
fn ctrl_c_on_the_sender_tells_the_receiver() {
    cancel_mid_transfer("sender");
}

#[test]
fn ctrl_c_on_the_receiver_tells_the_sender() {
    cancel_mid_transfer("receiver");
}

#[test]
fn sender_notices_a_receiver_that_was_killed_and_waits_for_it() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let (mut sender, receiver, _part) = start_large_transfer(&server, &src, &out);
    // No goodbye. The hub sees the socket close and says the peer left; with ICE silent for 5 s
    // that is enough (ICE consent alone would take 30 s).
    receiver.signal("KILL");
    let killed = std::time::Instant::now();
    // The sender says so, and waits for the receiver to come back rather than giving up.
    let lost = sender.wait_event("connection-lost", Duration::from_secs(90));
    let noticed = killed.elapsed();
    assert!(
        noticed < Duration::from_secs(20),
        "took {noticed:?} to notice the peer was gone"
    );
    assert_eq!(lost["waitSeconds"], 600, "{lost}");
    sender.signal("INT");
    let s = sender.finish(Duration::from_secs(20));
    assert_ne!(s.code, Some(0));
    assert!(
        s.stderr.contains("The connection to the receiver was lost")
            && s.stderr
                .contains("cancelled while waiting for the receiver to come back"),
        "{}",
        s.stderr
    );
}
