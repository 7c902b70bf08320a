//! A receiver whose disk fills up mid-transfer: both sides end with a clear error naming the
//! cause, nothing is presented as a complete file, and the partial data stays for a resume once
//! space is freed. The "disk" is a real 2 MiB tmpfs mounted by the test (needs root; skipped
//! loudly otherwise — CI runs as root).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// A tmpfs of `size` mounted on `dir`, unmounted on drop (also when the test fails).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Self {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "ferry-test"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount tmpfs on {}", dir.display());
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[test]
fn a_full_disk_fails_both_sides_clearly_and_keeps_the_partial_file() {
    if !is_root() {
        eprintln!(
            "\n*** SKIPPED: the full-disk test mounts a tmpfs and needs root. CI runs it as root. ***\n"
        );
        return;
    }
    let server = Server::start();
    let src = TempDir::new("src");
    let out = TempDir::new("small-disk");
    let _disk = SmallDisk::mount(out.path(), "2m");

    let file = src.path().join("big.bin");
    std::fs::write(&file, random_bytes(6 * 1024 * 1024, 17)).unwrap();
    let (sender, code) = send(&server, &[&file]);
    let receiver = receive(&server, &code, out.path(), &["--yes"], Stdio::null());
    let r = receiver.finish(Duration::from_secs(90));
    let s = sender.finish(Duration::from_secs(30));

    assert_ne!(r.code, Some(0), "receiver must fail: {}", r.stdout);
    assert!(
        r.stderr.contains("No space left on device"),
        "the receiver says why: {}",
        r.stderr
    );
    assert_ne!(s.code, Some(0), "sender must fail: {}", s.stdout);
    assert!(
        s.stderr.contains("No space left on device"),
        "the sender is told why: {}",
        s.stderr
    );
    assert!(
        !out.path().join("big.bin").exists(),
        "no complete-looking file"
    );
    let part = out.path().join("big.bin.ferry-part");
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(kept > 0, "the partial data is kept for a resume");
}
