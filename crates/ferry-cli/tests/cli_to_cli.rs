//! `ferry send` → `ferry receive` on loopback through a real `ferry serve`: a folder of mixed
//! files arrives byte for byte, verified, inside `--out`; both peers show the same security code.
mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Size of the big file. The issue asks for 1 GiB; `FERRY_TEST_BIG_MIB` lowers it where the debug
/// build of the WebRTC stack is too slow for that (see docs/benchmarks.md for release numbers).
fn big_size() -> u64 {
    std::env::var("FERRY_TEST_BIG_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1024)
        * 1024
        * 1024
}

#[test]
fn folder_of_mixed_files_arrives_byte_for_byte() {
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("out");
    let root = src.path().join("album");
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    std::fs::write(root.join("nested/small.bin"), random_bytes(1000, 1)).unwrap();
    std::fs::write(
        root.join("nested/deeper/odd.bin"),
        random_bytes(3 * 262_128 + 7, 2),
    )
    .unwrap();
    std::fs::write(root.join("ünïcødé name.txt"), "héllo").unwrap();
    // The big file is sparse: its holes read as zeros, and mixing in random bytes at both ends
    // and the middle makes sure offsets are right.
    let big = root.join("big.img");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(big_size()).unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = f;
        for at in [0, big_size() / 2 + 12345, big_size() - 4096] {
            f.seek(SeekFrom::Start(at)).unwrap();
            f.write_all(&random_bytes(4096, at)).unwrap();
        }
    }
    // A file with the same name already in --out is not overwritten.
    std::fs::create_dir_all(out.path().join("album")).unwrap();
    std::fs::write(out.path().join("album/empty.txt"), b"mine").unwrap();

    let (sender, code) = send(&server, &[&root]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    // A hang guard, not a speed check: the debug build on a loaded 2-core machine has taken
    // over 10 minutes for the 1 GiB (a fixed 572 s bound failed in a soak run at load 19), so the
    // receiver only has to keep writing: 120 s without a byte is a hang.
    let out_dir = out.path().to_path_buf();
    let r = receiver.finish_unless_stalled(
        || bytes_under(&out_dir),
        Duration::from_secs(120),
        Duration::from_secs(3600),
    );
    let s = sender.finish(Duration::from_secs(30));
    assert_eq!(r.code, Some(0), "receiver failed:\n{}", r.stderr);
    assert_eq!(s.code, Some(0), "sender failed:\n{}", s.stderr);

    assert_eq!(
        files_under(out.path()),
        [
            "album/big.img",
            "album/empty (1).txt",
            "album/empty.txt",
            "album/nested/deeper/odd.bin",
            "album/nested/small.bin",
            "album/ünïcødé name.txt",
        ]
    );
    assert_eq!(
        std::fs::read(out.path().join("album/empty.txt")).unwrap(),
        b"mine"
    );
    assert_eq!(
        std::fs::read(out.path().join("album/empty (1).txt")).unwrap(),
        b""
    );
    for rel in [
        "big.img",
        "nested/deeper/odd.bin",
        "nested/small.bin",
        "ünïcødé name.txt",
    ] {
        assert!(
            same_file(&root.join(rel), &out.path().join("album").join(rel)),
            "{rel} differs"
        );
    }
    // Both sides report the path and the summary.
    // Loopback is a direct path between host candidates; a connectivity check that beats the
    // trickled candidate shows up as peer-reflexive (prflx), which is still direct.
    assert!(r.stdout.contains(r#""path":"direct""#), "{}", r.stdout);
    assert!(
        s.stderr.contains("path: direct (host)") || s.stderr.contains("path: direct (prflx)"),
        "{}",
        s.stderr
    );
    assert!(r.stderr.contains("all files verified"), "{}", r.stderr);
}

/// Feature `verify` on the direct path: both peers derive the same security code from their
/// DTLS fingerprints and nonces, print it, and put it in `--json` (event and summary).
#[test]
fn both_peers_show_the_same_security_code() {
    let server = Server::start();
    let src = TempDir::new("code-src");
    let out = TempDir::new("code-out");
    let file = src.path().join("a.txt");
    std::fs::write(&file, b"compare the codes").unwrap();
    let (sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(120));
    let s = sender.finish(Duration::from_secs(60));
    assert_eq!(
        (r.code, s.code),
        (Some(0), Some(0)),
        "{}\n{}",
        r.stderr,
        s.stderr
    );
    let code_of = |stdout: &str| {
        let ev = json_events(stdout, "security-code");
        assert_eq!(ev.len(), 1, "one security-code event: {stdout}");
        ev[0]["code"].as_str().unwrap().to_string()
    };
    let (sc, rc) = (code_of(&s.stdout), code_of(&r.stdout));
    assert_eq!(sc, rc);
    assert!(
        sc.len() == 7 && sc.as_bytes()[3] == b' ',
        "six digits with a space: {sc}"
    );
    for (who, f) in [("sender", &s), ("receiver", &r)] {
        assert_eq!(
            json_events(&f.stdout, "done")[0]["securityCode"],
            sc.as_str(),
            "{who}"
        );
        assert!(
            f.stderr.contains(&format!("Security code: {sc} ")),
            "{who}: {}",
            f.stderr
        );
        assert!(
            f.stderr.contains(&format!(", security code {sc}")),
            "{who}: {}",
            f.stderr
        );
    }
}
