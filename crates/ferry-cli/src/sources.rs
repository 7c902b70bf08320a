//! What `ferry send` offers: files and folders from the command line, walked into a flat list
//! of relative `/`-separated paths (folders keep their structure, named from their last component).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_engine::LocalFile;

#[derive(Clone)]
pub struct Source {
    pub local: PathBuf,
    pub offered: LocalFile,
}

pub fn collect(args: &[PathBuf]) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    for arg in args {
        let meta =
            std::fs::metadata(arg).with_context(|| format!("cannot read {}", arg.display()))?;
        let name = arg
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .with_context(|| format!("{} has no name to send it under", arg.display()))?;
        if meta.is_dir() {
            walk(arg, &name, &mut out)?;
        } else {
            out.push(source(arg, name, &meta));
        }
    }
    if out.is_empty() {
        bail!("nothing to send: the folders given contain no files");
    }
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<Source>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let rel = format!("{prefix}/{}", e.file_name().to_string_lossy());
        if meta.is_dir() {
            walk(&path, &rel, out)?;
        } else if meta.is_file() {
            out.push(source(&path, rel, &meta));
        }
    }
    Ok(())
}

fn source(path: &Path, rel: String, meta: &std::fs::Metadata) -> Source {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    Source {
        local: path.to_path_buf(),
        offered: LocalFile {
            mime: mime_guess::from_path(path)
                .first()
                .map(|m| m.to_string())
                .unwrap_or_default(),
            path: rel,
            size: meta.len(),
            mtime,
        },
    }
}
