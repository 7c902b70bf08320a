//! `ferry send` → `ferry receive` over the WebSocket relay: forced on the sender (`--relay`, the
//! receiver follows from its ICE attempt); ICE made impossible on both (`FERRY_TEST_DROP_ICE=1`:
//! no candidates are sent), so both fall back after `--relay-after`; both forced. Byte for byte,
//! both report the relay path and the same security code, and the bytes the server sends to the
//! receiver never contain a marker from the file (helpers in common/mod.rs).
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn forced_on_one_side_the_other_follows_byte_for_byte_and_the_server_sees_no_plaintext() {
    let server = Server::start();
    let (proxy_url, seen) = recording_proxy(&server.url);
    let src = TempDir::new("relay-src");
    let out = TempDir::new("relay-out");
    let file = marked_file(src.path());

    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn(
        &server,
        &["send", "--yes", &file_arg, "--relay"],
        Stdio::null(),
    );
    let code = sender.room_code();
    // The receiver meets the sender through the proxy (signaling and relay alike).
    let out_arg = out.path().display().to_string();
    let receiver = Command::new(FERRY)
        .args(["receive", &code, "--out", &out_arg, "--yes", "--json"])
        .args([
            "--bind",
            "127.0.0.1:0",
            "--relay-after",
            "2",
            "--server",
            &proxy_url,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run ferry receive");
    let r_stdout = String::from_utf8_lossy(&receiver.stdout).to_string();
    let r_stderr = String::from_utf8_lossy(&receiver.stderr).to_string();
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(
        receiver.status.code(),
        Some(0),
        "receiver failed:\n{r_stderr}"
    );
    assert_eq!(s.code, Some(0), "sender failed:\n{}", s.stderr);

    assert!(same_file(&file, &out.path().join("secret notes.txt")));
    for (who, stdout, stderr) in [
        ("sender", &s.stdout, &s.stderr),
        ("receiver", &r_stdout, &r_stderr),
    ] {
        let done = json_events(stdout, "done");
        assert_eq!(done.len(), 1, "{who}: {stdout}");
        assert_eq!(done[0]["path"], "websocket", "{who}");
        assert!(
            stderr.contains("path: relay (WebSocket, end-to-end encrypted), security code "),
            "{who}: {stderr}"
        );
    }
    let code_of = |stdout: &str| json_events(stdout, "security-code")[0]["code"].clone();
    assert!(code_of(&s.stdout).is_string());
    assert_eq!(code_of(&s.stdout), code_of(&r_stdout));

    let bytes = std::mem::take(&mut *seen.lock().unwrap());
    let size = std::fs::metadata(&file).unwrap().len() as usize;
    assert!(
        bytes.len() > size,
        "the proxy saw only {} bytes",
        bytes.len()
    );
    assert!(
        !contains(&bytes, MARKER),
        "the plaintext marker crossed the server"
    );

    // The check can fail: the marker through the unencrypted HTTP pipe and the same proxy is
    // visible in what the server sends.
    let pipe_path = format!("/marker-check-{}", std::process::id());
    let proxy_addr = proxy_url.trim_start_matches("http://").to_string();
    let get_path = pipe_path.clone();
    let getter = std::thread::spawn(move || {
        let mut c = TcpStream::connect(proxy_addr).unwrap();
        write!(
            c,
            "GET {get_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = Vec::new();
        let _ = c.read_to_end(&mut body);
        body
    });
    let mut put = TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    write!(
        put,
        "PUT {pipe_path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        MARKER.len()
    )
    .unwrap();
    put.write_all(MARKER).unwrap();
    let mut ignore = Vec::new();
    let _ = put.read_to_end(&mut ignore);
    assert!(contains(&getter.join().unwrap(), MARKER));
    assert!(
        contains(&seen.lock().unwrap(), MARKER),
        "a plaintext path shows the marker"
    );
}

#[test]
fn both_forced_a_larger_file_streams_through_the_relay() {
    let server = Server::start();
    let src = TempDir::new("relay2-src");
    let out = TempDir::new("relay2-out");
    let file = src.path().join("big.bin");
    std::fs::write(&file, random_bytes(48 * 1024 * 1024 + 5, 9)).unwrap();
    let file_arg = file.display().to_string();
    let mut sender = Peer::spawn(
        &server,
        &["send", "--yes", &file_arg, "--relay"],
        Stdio::null(),
    );
    let code = sender.room_code();
    let receiver = receive(
        &server,
        &code,
        out.path(),
        &["--yes", "--relay"],
        Stdio::null(),
    );
    let r = receiver.finish(Duration::from_secs(120));
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "receiver failed:\n{}", r.stderr);
    assert_eq!(s.code, Some(0), "sender failed:\n{}", s.stderr);
    assert!(same_file(&file, &out.path().join("big.bin")));
    assert_eq!(json_events(&r.stdout, "done")[0]["path"], "websocket");
}

#[test]
fn with_ice_impossible_both_fall_back_after_their_timeout() {
    let server = Server::start();
    let src = TempDir::new("relay3-src");
    let out = TempDir::new("relay3-out");
    let file = src.path().join("fallback.bin");
    std::fs::write(&file, random_bytes(6 * 1024 * 1024 + 1, 4)).unwrap();
    let ferry = |args: &[&str]| {
        let mut c = Command::new(FERRY);
        c.args(args)
            .args(["--server", &server.url, "--bind", "127.0.0.1:0", "--json"])
            .args(["--relay-after", "2"])
            .env("FERRY_TEST_DROP_ICE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    let started = std::time::Instant::now();
    let file_arg = file.display().to_string();
    let mut sender = ferry(&["send", "--yes", &file_arg]).spawn().unwrap();
    let mut sender_out = std::io::BufReader::new(sender.stdout.take().unwrap());
    let code = loop {
        let mut line = String::new();
        use std::io::BufRead;
        assert!(sender_out.read_line(&mut line).unwrap() > 0, "sender ended");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["event"] == "room" {
            break v["code"].as_str().unwrap().to_string();
        }
    };
    let out_arg = out.path().display().to_string();
    let receiver = ferry(&["receive", &code, "--out", &out_arg, "--yes"])
        .output()
        .unwrap();
    let mut s_stdout = String::new();
    sender_out.read_to_string(&mut s_stdout).unwrap();
    let s = sender.wait_with_output().unwrap();
    let r_stdout = String::from_utf8_lossy(&receiver.stdout);
    let r_stderr = String::from_utf8_lossy(&receiver.stderr);
    assert_eq!(
        receiver.status.code(),
        Some(0),
        "receiver failed:\n{r_stderr}"
    );
    assert_eq!(
        s.status.code(),
        Some(0),
        "sender failed:\n{}",
        String::from_utf8_lossy(&s.stderr)
    );
    assert!(same_file(&file, &out.path().join("fallback.bin")));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "ICE got its time"
    );
    for stdout in [&s_stdout, &r_stdout.to_string()] {
        assert_eq!(
            json_events(stdout, "done")[0]["path"],
            "websocket",
            "{stdout}"
        );
    }
    assert_eq!(
        json_events(&s_stdout, "security-code")[0]["code"],
        json_events(&r_stdout, "security-code")[0]["code"]
    );
}
