//! A malicious sender — a test peer built from the engine and transport, speaking the real
//! protocol over a real DataChannel — offers names that try to escape `--out`. Everything lands
//! inside it.
mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use ferry_engine::{Engine, Event, Output};
use ferry_protocol::signaling::ServerMessage;
use ferry_protocol::transfer::{FRAME_HEADER_BYTES, OfferedFile};
use ferry_transport::{Message, MessagePipe, PeerOptions, SignalingClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_stay_inside_out() {
    let server = Server::start();
    let out_parent = TempDir::new("hostile");
    let out = out_parent.path().join("inbox");
    std::fs::create_dir_all(&out).unwrap();

    let long = "L".repeat(5000);
    let names = [
        "../../x",
        "/etc/passwd",
        "a\u{0}b",
        long.as_str(),
        "..\\..\\win.txt",
        "sub/../../../escape.txt",
        "CON",
    ];
    let contents: Vec<Vec<u8>> = names
        .iter()
        .enumerate()
        .map(|(i, _)| random_bytes(100 + i, i as u64 + 1))
        .collect();

    let mut sig = SignalingClient::connect(&server.url).await.unwrap();
    let room = sig.create_room().await.unwrap();
    // This sender speaks over its own ICE connection only; a receiver that gave up on ICE after
    // its 10 s and asked for the WebSocket relay (a loaded machine, soak K2 run 3) would leave it
    // with `RelayRequested`. What is tested here is names, not the path.
    let receiver = receive(
        &server,
        &room.id,
        &out,
        &["--yes", "--no-relay"],
        Stdio::null(),
    );
    let peer_id = loop {
        if let ServerMessage::PeerJoined { peer, .. } = sig.recv().await.unwrap() {
            break peer.id;
        }
    };
    let opts = PeerOptions {
        bind: vec!["127.0.0.1:0".into()],
        ..PeerOptions::default()
    };
    let link = ferry_transport::connect(&mut sig, &peer_id, &opts)
        .await
        .unwrap();

    let mut engine = Engine::new("evil/1");
    engine.set_max_message_size(link.pipe.max_message_size());
    engine.start(std::time::Instant::now());
    let files = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| OfferedFile {
            path: n.to_string(),
            size: c.len() as u64,
            mime: String::new(),
            mtime: None,
        })
        .collect();
    engine.send_raw_offer_for_tests(1, files);
    let sources: HashMap<u32, &Vec<u8>> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u32, c))
        .collect();
    let finished = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            while let Some(o) = engine.poll_output() {
                match o {
                    Output::SendText(t) => link.pipe.send(Message::Text(t)).await.unwrap(),
                    Output::SendBinary(b) => link.pipe.send(Message::Binary(b)).await.unwrap(),
                    Output::Event(Event::TransferDone { .. }) => return true,
                    Output::Event(Event::Cancelled { reason, .. }) => panic!("cancelled: {reason}"),
                    Output::Event(Event::Declined { .. }) => return false,
                    _ => {}
                }
            }
            if let Some(req) = engine.next_read() {
                let src = sources[&req.index];
                let mut buf = vec![0u8; FRAME_HEADER_BYTES];
                buf.extend_from_slice(&src[req.offset as usize..req.offset as usize + req.len]);
                engine.handle_read(req, buf);
                continue;
            }
            match link.pipe.recv().await {
                Some(Message::Text(t)) => engine.handle_text(&t),
                Some(Message::Binary(b)) => engine.handle_binary(&b),
                None => panic!("pipe closed early"),
            }
        }
    })
    .await
    .expect("transfer finished in time");
    assert!(finished, "receiver declined the offer");
    link.close().await;
    let r = tokio::task::spawn_blocking(move || receiver.finish(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    // Everything is inside --out, under sanitized names; nothing appeared next to it.
    let got = files_under(&out);
    let long_kept = "L".repeat(255);
    let mut expected = vec![
        "x".to_string(),
        "etc/passwd".into(),
        "a_b".into(),
        long_kept,
        "win.txt".into(),
        "sub/escape.txt".into(),
        "_CON".into(),
    ];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(
        files_under(out_parent.path()).len(),
        expected.len(),
        "nothing outside --out"
    );
    assert_eq!(std::fs::read(out.join("x")).unwrap(), contents[0]);
    assert_eq!(std::fs::read(out.join("etc/passwd")).unwrap(), contents[1]);
}
