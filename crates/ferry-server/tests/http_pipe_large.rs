//! Heavy: four 1 GiB pipes at once, curl on both ends, byte-exact (SHA-256 on both sides), and
//! the server's memory stays flat. Data comes from `openssl enc -aes-128-ctr` over /dev/zero
//! (deterministic, fast) and is never held in memory.

mod http_pipe_support;

use http_pipe_support::*;
use tokio::process::Command;

const GIB: u64 = 1024 * 1024 * 1024;

fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn generator(seed: u8) -> String {
    format!(
        // openssl fails with EPIPE when `head` has enough (SIGPIPE is ignored in test
        // processes); a short or empty stream still shows up as a hash mismatch.
        "{{ openssl enc -aes-128-ctr -nosalt -K {:032x} -iv {:032x} -in /dev/zero 2>/dev/null || true; }} | head -c {GIB}",
        seed as u128 + 1,
        0
    )
}

fn bash(script: String) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-o")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_parallel_1gib_pipes_are_byte_exact_and_memory_stays_flat() {
    let server = start_server().await;
    let rss_before = rss_kib("VmRSS:");
    let mut parties = Vec::new();
    for i in 0..4u8 {
        let url = format!("{}/big/{i}", server.url);
        // The receiver hashes what it gets; the sender hashes what it sends (tee), so both
        // ends are checked against each other, not against a stored copy.
        let mut receiver = bash(format!("curl -sS '{url}' | sha256sum"));
        let mut sender = bash(format!(
            "{} | tee >(sha256sum >&2) | curl -sS -T - '{url}' >/dev/null",
            generator(i)
        ));
        parties.push((i, receiver.spawn().unwrap(), sender.spawn().unwrap()));
    }
    let started = std::time::Instant::now();
    for (i, receiver, sender) in parties {
        let (received, sent) = tokio::join!(receiver.wait_with_output(), sender.wait_with_output());
        let (received, sent) = (received.unwrap(), sent.unwrap());
        assert!(received.status.success(), "receiver {i}: {received:?}");
        assert!(sent.status.success(), "sender {i}: {sent:?}");
        let got = String::from_utf8_lossy(&received.stdout);
        let want = String::from_utf8_lossy(&sent.stderr);
        let got = got.split_whitespace().next().unwrap();
        assert_eq!(
            Some(got),
            want.split_whitespace().next(),
            "pipe {i} differs"
        );
        assert_ne!(
            got,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
    let peak = rss_kib("VmHWM:");
    eprintln!(
        "4 x 1 GiB in {:?}; test process RSS before {} MiB, peak {} MiB",
        started.elapsed(),
        rss_before >> 10,
        peak >> 10
    );
    // 4 GiB went through; a server that buffered would have grown by GiBs.
    assert!(
        peak.saturating_sub(rss_before) < 128 * 1024,
        "memory grew by {} MiB",
        (peak - rss_before) >> 10
    );
}
