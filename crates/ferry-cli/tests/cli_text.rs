//! `ferry send --text`: a message on its own (the receiver prints it on stdout and exits 0), a
//! message before files, and a message too long for the protocol refused before connecting.
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn a_text_on_its_own_is_printed_by_the_receiver() {
    let server = Server::start();
    let out = TempDir::new("text-out");
    let message = "hi 👋 from the terminal\nsecond line";
    let mut sender = Peer::spawn(
        &server,
        &["send", "--yes", "--text", message],
        Stdio::null(),
    );
    let code = sender.room_code();
    let receiver = receive(&server, &code, out.path(), &[], Stdio::null());
    let r = receiver.finish(Duration::from_secs(60));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(s.code, Some(0), "sender: {}\n{}", s.stdout, s.stderr);
    assert_eq!(r.code, Some(0), "receiver: {}\n{}", r.stdout, r.stderr);
    let texts = json_events(&r.stdout, "text");
    assert_eq!(texts.len(), 1, "{}", r.stdout);
    assert_eq!(texts[0]["text"], message);
    assert_eq!(json_events(&r.stdout, "done")[0]["texts"], 1);
    assert!(files_under(out.path()).is_empty(), "a text writes no file");
}

#[test]
fn a_text_before_files_arrives_first_and_the_files_still_do() {
    let server = Server::start();
    let src = TempDir::new("text-src");
    let out = TempDir::new("text-out2");
    let file = src.path().join("notes.bin");
    let data = random_bytes(300_000, 3);
    std::fs::write(&file, &data).unwrap();
    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn(
        &server,
        &[
            "send",
            "--yes",
            &file_arg,
            "--text",
            "the notes, as promised",
        ],
        Stdio::null(),
    );
    let code = sender.room_code();
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(60));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(s.code, Some(0), "sender: {}", s.stderr);
    assert_eq!(r.code, Some(0), "receiver: {}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let text_at = lines.iter().position(|l| l.contains(r#""event":"text""#));
    let offer_at = lines.iter().position(|l| l.contains(r#""event":"done""#));
    assert!(text_at.is_some() && text_at < offer_at, "{}", r.stdout);
    assert_eq!(std::fs::read(out.path().join("notes.bin")).unwrap(), data);
}

#[test]
fn a_text_over_64_kib_is_refused_before_connecting() {
    let server = Server::start();
    let long = "x".repeat(64 * 1024 + 1);
    let sender = Peer::spawn(&server, &["send", "--yes", "--text", &long], Stdio::null());
    let s = sender.finish(Duration::from_secs(20));
    assert_ne!(s.code, Some(0));
    assert!(s.stderr.contains("at most 65536"), "{}", s.stderr);
    assert!(s.stdout.is_empty(), "no room was created: {}", s.stdout);
}
