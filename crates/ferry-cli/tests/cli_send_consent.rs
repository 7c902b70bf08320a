//! `ferry send` asks before it sends to a peer that joined its room (room codes can be guessed,
//! issue 17): a declined peer gets nothing and the sender waits for the next one; `--yes` skips the
//! question; without a terminal to ask on and without `--yes` it refuses to start.
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Only a hang takes this long; a loaded machine can take seconds to answer a prompt.
const HANG: Duration = Duration::from_secs(30);

#[test]
fn without_a_terminal_and_without_yes_it_refuses_to_start() {
    let server = Server::start();
    let src = TempDir::new("consent-src");
    let file = src.path().join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    let file_arg = file.display().to_string();
    let sender = Peer::spawn(&server, &["send", &file_arg], Stdio::null());
    let s = sender.finish(Duration::from_secs(10));
    assert_ne!(s.code, Some(0));
    assert!(s.stderr.contains("--yes"), "says what to do: {}", s.stderr);
    assert!(
        s.stderr.contains("not a terminal"),
        "says why: {}",
        s.stderr
    );
    assert!(
        json_events(&s.stdout, "room").is_empty(),
        "no room was created"
    );
}

#[test]
fn a_declined_peer_gets_nothing_and_the_sender_sends_to_the_next_it_accepts() {
    let server = Server::start();
    let src = TempDir::new("consent-src2");
    let out1 = TempDir::new("consent-out1");
    let out2 = TempDir::new("consent-out2");
    let file = src.path().join("secret.bin");
    let data = random_bytes(200_000, 17);
    std::fs::write(&file, &data).unwrap();
    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn_in_terminal(&server, &["send", "--no-qr", &file_arg]);
    let code = sender.room_code();

    // The first to join (a guesser, say) is declined. It starts connecting at once; it must get
    // no connection and no offer.
    let first = receive(
        &server,
        &code,
        out1.path(),
        &["--yes", "--connect-timeout", "5", "--no-relay"],
        Stdio::null(),
    );
    let joined = sender.wait_event("peer-joined", Duration::from_secs(20));
    assert_eq!(joined["peer"]["client"], "cli");
    let prompt = sender.wait_event("prompt", HANG);
    let name = joined["peer"]["name"].as_str().unwrap().to_string();
    assert_eq!(
        prompt["question"],
        format!("Send 1 file (195.31 KiB) to \"{name}\" (cli)?")
    );
    sender.type_line("n");
    let answer = sender.wait_event("answer", HANG);
    assert_eq!(answer["send"], false);
    assert_eq!(answer["by"], "user");
    let f = first.finish(Duration::from_secs(60));
    assert_ne!(f.code, Some(0), "the declined peer never connects");
    assert!(
        json_events(&f.stdout, "connected").is_empty(),
        "{}",
        f.stdout
    );
    assert!(files_under(out1.path()).is_empty());

    // The sender is still waiting: the next peer is asked about, accepted, and gets the file.
    let second = receive(&server, &code, out2.path(), &["--yes"], Stdio::null());
    sender.wait_event("prompt", Duration::from_secs(20));
    sender.type_line("y");
    let answer = sender.wait_event("answer", HANG);
    assert_eq!(answer["send"], true);
    let r = second.finish(Duration::from_secs(60));
    assert_eq!(r.code, Some(0), "receiver: {}", r.stderr);
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(s.code, Some(0), "sender: {}", s.stdout);
    assert!(same_file(&file, &out2.path().join("secret.bin")));
}

#[test]
fn yes_sends_to_the_first_peer_without_asking_and_says_so() {
    let server = Server::start();
    let src = TempDir::new("consent-src3");
    let out = TempDir::new("consent-out3");
    let file = src.path().join("a.txt");
    std::fs::write(&file, b"hello").unwrap();
    let (mut sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let answer = sender.wait_event("answer", Duration::from_secs(20));
    assert_eq!(answer["send"], true);
    assert_eq!(answer["by"], "--yes");
    let r = receiver.finish(Duration::from_secs(60));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(
        (r.code, s.code),
        (Some(0), Some(0)),
        "{}\n{}",
        r.stderr,
        s.stderr
    );
    assert!(json_events(&s.stdout, "prompt").is_empty());
    assert_eq!(std::fs::read(out.path().join("a.txt")).unwrap(), b"hello");
}
