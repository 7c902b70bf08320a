//! Flushing a received file to disk while it is still arriving.
//!
//! `ferry receive` fsyncs every file before it calls it saved. Left to the end, that one fsync
//! writes the whole file out after its last byte has arrived: 0.4 s of a 2.6 s 1 GiB transfer
//! on the benchmark machine (docs/benchmarks.md). Flushing what has been written every
//! [`WRITEBACK_EVERY`] bytes, on a thread of its own, overlaps that work with the transfer; the
//! final fsync then only has the tail left. The guarantee is unchanged: a file is reported saved
//! only after an fsync of all of it succeeded.

use std::collections::HashMap;
use std::fs::File;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use crate::prefetch::FileKey;

/// Bytes written to a file between two background flushes.
pub const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

enum Job {
    Flush(FileKey, File),
    Barrier(std::sync::mpsc::Sender<()>),
}

pub struct Writeback {
    jobs: SyncSender<Job>,
    /// A background flush's error, kept for the file's final check: Linux reports a writeback
    /// error once per open file, so the final fsync on the same file may not see it again.
    failed: Arc<Mutex<HashMap<FileKey, String>>>,
}

impl Writeback {
    pub fn start() -> Self {
        // One flush queued behind the running one at most: a flush covers everything written
        // before it, so a later request can wait for the next one.
        let (jobs, rx) = sync_channel::<Job>(1);
        let failed: Arc<Mutex<HashMap<FileKey, String>>> = Arc::default();
        let record = failed.clone();
        std::thread::spawn(move || {
            while let Ok(job) = rx.recv() {
                match job {
                    Job::Flush(key, file) => {
                        if let Err(e) = file.sync_data() {
                            record
                                .lock()
                                .expect("not poisoned")
                                .entry(key)
                                .or_insert_with(|| e.to_string());
                        }
                    }
                    Job::Barrier(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Writeback { jobs, failed }
    }

    /// Asks for what has been written to `file` to be flushed in the background. Returns
    /// whether the request was taken; `false` when the flusher is still busy with earlier ones.
    pub fn flush(&self, key: FileKey, file: &File) -> bool {
        let Ok(handle) = file.try_clone() else {
            return false;
        };
        self.jobs.try_send(Job::Flush(key, handle)).is_ok()
    }

    /// Waits for the flushes asked for so far and returns the first error one of them hit for
    /// `key`.
    pub fn finish(&self, key: FileKey) -> std::io::Result<()> {
        let (done, wait) = std::sync::mpsc::channel();
        if self.jobs.send(Job::Barrier(done)).is_ok() {
            let _ = wait.recv();
        }
        match self.failed.lock().expect("not poisoned").remove(&key) {
            Some(e) => Err(std::io::Error::other(format!(
                "flushing to disk failed: {e}"
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn flushed_in_the_background_then_finished() {
        let dir = std::env::temp_dir().join(format!("ferry-writeback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        let mut f = File::create(&path).unwrap();
        let wb = Writeback::start();
        f.write_all(&[7u8; 4096]).unwrap();
        assert!(wb.flush((1, 0), &f));
        f.write_all(&[8u8; 4096]).unwrap();
        wb.flush((1, 0), &f);
        wb.finish((1, 0)).unwrap();
        f.sync_all().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8192);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_background_flush_error_reaches_the_final_check() {
        // fsync of a pipe fails (EINVAL): the error must be reported by `finish`, once.
        let (reader, writer) = std::io::pipe().unwrap();
        let file = File::from(std::os::fd::OwnedFd::from(writer));
        let wb = Writeback::start();
        assert!(wb.flush((2, 0), &file));
        let e = wb.finish((2, 0)).unwrap_err();
        assert!(e.to_string().contains("flushing to disk failed"), "{e}");
        wb.finish((2, 0)).unwrap();
        drop(reader);
    }
}
