//! Where `ferry receive` puts files: `<out>/<safe path>.ferry-part` while arriving, renamed to the
//! final name only after the hash verified, never over an existing file (`name (1).ext` instead).
//! The suffix is ferry's own so a user's `x.part` (a browser's unfinished download, say) is never
//! mistaken for a resumable prefix, and so never deleted when that prefix fails to verify.

use std::path::{Path, PathBuf};

use ferry_engine::Hasher;
use ferry_protocol::names::SafeRelativePath;
use sha2::Digest;
use tokio::io::AsyncReadExt;

pub const PART_SUFFIX: &str = ".ferry-part";

pub fn final_path(out: &Path, rel: &SafeRelativePath) -> PathBuf {
    rel.to_path_under(out)
}

/// `<final>.ferry-part`, shortened where needed so it stays within 255 bytes (names from the network
/// may already use all 255).
pub fn part_path(out: &Path, rel: &SafeRelativePath) -> PathBuf {
    let mut p = rel.to_path_under(out);
    let mut name = rel.file_name().to_string();
    while name.len() + PART_SUFFIX.len() > 255 {
        name.pop();
    }
    name.push_str(PART_SUFFIX);
    p.set_file_name(name);
    p
}

/// An existing partial file we can resume from: its length and the hash of its bytes.
pub async fn resumable(part: &Path, size: u64) -> Option<(u64, Hasher)> {
    let meta = tokio::fs::metadata(part).await.ok()?;
    let len = meta.len();
    if !meta.is_file() || len == 0 || len > size {
        return None;
    }
    let mut f = tokio::fs::File::open(part).await.ok()?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = f.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let n = n.min(left as usize);
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Some((len, h))
}

/// `name.ext`, `name (1).ext`, `name (2).ext`, …
pub fn candidate(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (&name[..], ""),
    };
    path.with_file_name(format!("{stem} ({n}){ext}"))
}

/// Moves the verified partial file to the first free name. `hard_link` fails if the target
/// exists, so a file that appears meanwhile is never overwritten.
pub async fn publish(part: &Path, target: &Path) -> std::io::Result<PathBuf> {
    for n in 0..10_000 {
        let to = candidate(target, n);
        match tokio::fs::hard_link(part, &to).await {
            Ok(()) => {
                tokio::fs::remove_file(part).await?;
                return Ok(to);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                // File systems without hard links: check, then rename.
                if tokio::fs::symlink_metadata(&to).await.is_ok() {
                    continue;
                }
                tokio::fs::rename(part, &to).await?;
                return Ok(to);
            }
        }
    }
    Err(std::io::Error::other(format!(
        "no free name for {}",
        target.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::candidate;
    use std::path::Path;

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(
            candidate(Path::new("/o/a.txt"), 1),
            Path::new("/o/a (1).txt")
        );
        assert_eq!(
            candidate(Path::new("/o/.bashrc"), 2),
            Path::new("/o/.bashrc (2)")
        );
        assert_eq!(candidate(Path::new("/o/noext"), 0), Path::new("/o/noext"));
    }
}
