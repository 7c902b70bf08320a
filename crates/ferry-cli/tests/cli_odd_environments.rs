//! Odd environments: a network namespace with only `lo` and no multicast route (some containers,
//! `unshare -n`), where the mDNS socket cannot be opened, also without IPv6; and RUST_BACKTRACE set in the
//! environment, which must not turn a user-facing error into a stack dump.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ferry");

#[test]
fn a_transfer_works_in_a_namespace_without_multicast() {
    transfer_in_a_fresh_namespace("nomcast", 18090, "");
}

/// The same namespace with IPv6 switched off as well (no `::1`, no IPv6 sockets to be had):
/// the UDP mux, mDNS and gathering must all go on with IPv4 loopback alone.
#[test]
fn a_transfer_works_in_a_namespace_without_multicast_or_ipv6() {
    transfer_in_a_fresh_namespace(
        "noipv6",
        18091,
        "sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1\n\
         if ip -6 addr show | grep -q inet6; then echo \"IPv6 is still up\"; exit 3; fi",
    );
}

/// A `ferry serve`, `ferry send` and `ferry receive` (default `--bind`, so no loopback host
/// candidates) in one fresh namespace: only `lo`, up, no default route and no route for
/// 224.0.0.0/4; `setup` runs first to take more away.
fn transfer_in_a_fresh_namespace(name: &str, port: u16, setup: &str) {
    if unsafe_free_euid() != Some(0) {
        eprintln!("\n*** SKIPPED: needs root for unshare -n. CI runs it as root. ***\n");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ferry-{name}-{}", std::process::id()));
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = dir.join("data.bin");
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
{setup}
# `! cmd` would not stop a `set -e` script: these checks exit by hand.
if ip route get 224.0.0.251 >/dev/null 2>&1; then echo "multicast is routed"; exit 3; fi
if ip route show default | grep -q .; then echo "a default route exists"; exit 3; fi
{bin} serve --host 127.0.0.1 --port {port} --no-turn --log-level warn > {dir}/serve.log 2>&1 &
server=$!
trap 'kill $server' EXIT
for i in $(seq 100); do grep -q listening {dir}/serve.log && break; sleep 0.1; done
timeout 60 {bin} send {file} --yes --server http://127.0.0.1:{port} --json > {dir}/send.log 2>&1 &
sender=$!
for i in $(seq 100); do grep -q '"code"' {dir}/send.log && break; sleep 0.1; done
code=$(grep -o '"code":"[A-Z0-9]*"' {dir}/send.log | cut -d'"' -f4)
timeout 60 {bin} receive "$code" --yes --server http://127.0.0.1:{port} --out {out}
wait $sender
"#,
        bin = BIN,
        dir = dir.display(),
        file = file.display(),
        out = out.display(),
    );
    let status = Command::new("unshare")
        .args(["-n", "bash", "-c", &script])
        .status()
        .expect("unshare");
    let send_log = std::fs::read_to_string(dir.join("send.log")).unwrap_or_default();
    assert!(
        status.success(),
        "transfer failed; sender said:\n{send_log}"
    );
    assert_eq!(std::fs::read(out.join("data.bin")).unwrap(), data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_read_well_even_with_rust_backtrace_set() {
    let out = Command::new(BIN)
        .args(["receive", "ABCDEF", "--server", "http://127.0.0.1:1"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("Error: "), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

/// The effective user id, read from /proc (no unsafe, no libc binding needed).
fn unsafe_free_euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
