//! Reading and writing file bytes on dedicated threads, a bounded number of chunks ahead.
//!
//! Why: with `tokio::fs`, each chunk is a hop to the blocking pool and back, done strictly in
//! turn with sending, so disk latency and network latency add up. A reader thread that stays a
//! few chunks ahead (and a writer thread a few chunks behind) overlaps them, with memory bounded
//! by the queue depth. (On the loaded 2-core dev machine this did not move the loopback numbers —
//! the WebRTC stack's CPU share is the limit there, see docs/benchmarks.md — but it takes disk
//! latency out of the loop on real disks.)

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_protocol::transfer::FRAME_HEADER_BYTES;
use tokio::sync::{mpsc, oneshot};

use crate::writeback::{WRITEBACK_EVERY, Writeback};

/// Chunks read ahead of the sender (at 256 KiB: 2 MiB).
const READ_AHEAD: usize = 8;
/// Chunks queued for the disk on the receiver (at 256 KiB: 4 MiB).
const WRITE_BEHIND: usize = 16;

/// Sequential reads of one file from `offset` to `end`, in `chunk`-byte pieces, each with
/// `FRAME_HEADER_BYTES` of room in front for the frame header.
pub struct ChunkReader {
    pub key: (u32, u32),
    pub next_offset: u64,
    pub chunk: usize,
    rx: mpsc::Receiver<std::io::Result<Vec<u8>>>,
}

impl ChunkReader {
    pub fn start(key: (u32, u32), path: PathBuf, offset: u64, end: u64, chunk: usize) -> Self {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        std::thread::spawn(move || {
            let run = || -> std::io::Result<()> {
                let mut f = File::open(&path)?;
                f.seek(SeekFrom::Start(offset))?;
                let mut at = offset;
                while at < end {
                    let len = (end - at).min(chunk as u64) as usize;
                    let mut buf = vec![0u8; FRAME_HEADER_BYTES + len];
                    let mut got = 0;
                    while got < len {
                        let n = f.read(&mut buf[FRAME_HEADER_BYTES + got..])?;
                        if n == 0 {
                            break; // shorter than offered: the engine cancels with a reason
                        }
                        got += n;
                    }
                    buf.truncate(FRAME_HEADER_BYTES + got);
                    at += got as u64;
                    let short = got < len;
                    if tx.blocking_send(Ok(buf)).is_err() || short {
                        return Ok(());
                    }
                }
                Ok(())
            };
            if let Err(e) = run() {
                let _ = tx.blocking_send(Err(e));
            }
        });
        ChunkReader {
            key,
            next_offset: offset,
            chunk,
            rx,
        }
    }

    pub async fn next(&mut self) -> std::io::Result<Vec<u8>> {
        let buf = self
            .rx
            .recv()
            .await
            .unwrap_or_else(|| Err(std::io::Error::other("reader stopped")))?;
        self.next_offset += (buf.len() - FRAME_HEADER_BYTES) as u64;
        Ok(buf)
    }
}

/// Which file a write belongs to: (transfer id, file index).
pub type FileKey = (u32, u32);

enum WriteCmd {
    Open {
        key: FileKey,
        path: PathBuf,
        offset: u64,
        reply: oneshot::Sender<std::io::Result<()>>,
    },
    Write(FileKey, Vec<u8>),
    /// Flush and close; replies with the first error since `Open`.
    Close(FileKey, oneshot::Sender<std::io::Result<()>>),
}

/// Files written on one dedicated thread, each by its key: a peer may stream two accepted
/// offers at once (a browser runs every accepted transfer concurrently), so writes of one
/// transfer must never land in another's file.
pub struct DiskWriter {
    tx: mpsc::Sender<WriteCmd>,
    errors: Arc<Mutex<HashMap<FileKey, String>>>,
    /// Bytes the thread has written, per file, as they hit the file: the engine grants the
    /// sender credit from these (flow control), not from what was merely queued.
    written: Option<mpsc::UnboundedReceiver<(FileKey, u64)>>,
}

struct OpenFile {
    file: File,
    path: PathBuf,
    failed: Option<std::io::Error>,
    /// Bytes written since the last background flush was asked for (`writeback.rs`).
    unflushed: u64,
    /// Whether any background flush was asked for: only then has `close` to wait for the
    /// flusher (which may be busy with another file) before the final fsync.
    flushed: bool,
}

impl DiskWriter {
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::channel::<WriteCmd>(WRITE_BEHIND);
        let errors: Arc<Mutex<HashMap<FileKey, String>>> = Arc::default();
        let errs = errors.clone();
        // Unbounded, yet bounded in practice: one entry per write, and writes are bounded by
        // the queue above and the flow-control window.
        let (written_tx, written) = mpsc::unbounded_channel();
        let slow_disk = test_disk_rate();
        std::thread::spawn(move || {
            let writeback = Writeback::start();
            let mut files: HashMap<FileKey, OpenFile> = HashMap::new();
            while let Some(cmd) = rx.blocking_recv() {
                match cmd {
                    WriteCmd::Open {
                        key,
                        path,
                        offset,
                        reply,
                    } => {
                        errs.lock().expect("not poisoned").remove(&key);
                        let r = open_at(&path, offset).map(|file| {
                            files.insert(
                                key,
                                OpenFile {
                                    file,
                                    path,
                                    failed: None,
                                    unflushed: 0,
                                    flushed: false,
                                },
                            );
                        });
                        let _ = reply.send(r);
                    }
                    WriteCmd::Write(key, data) => {
                        let Some(f) = files.get_mut(&key) else {
                            continue;
                        };
                        if f.failed.is_some() {
                            continue;
                        }
                        if let Some(rate) = slow_disk {
                            std::thread::sleep(Duration::from_secs_f64(data.len() as f64 / rate));
                        }
                        match f.file.write_all(&data) {
                            Ok(()) => {
                                let _ = written_tx.send((key, data.len() as u64));
                                f.unflushed += data.len() as u64;
                                if f.unflushed >= WRITEBACK_EVERY && writeback.flush(key, &f.file) {
                                    f.unflushed = 0;
                                    f.flushed = true;
                                }
                            }
                            Err(e) => {
                                errs.lock()
                                    .expect("not poisoned")
                                    .insert(key, format!("cannot write {}: {e}", f.path.display()));
                                f.failed = Some(e);
                            }
                        }
                    }
                    WriteCmd::Close(key, reply) => {
                        let r = match files.remove(&key) {
                            Some(OpenFile {
                                failed: Some(e), ..
                            }) => Err(e),
                            Some(f) if f.flushed => {
                                writeback.finish(key).and_then(|()| f.file.sync_all())
                            }
                            Some(f) => f.file.sync_all(),
                            None => Ok(()),
                        };
                        errs.lock().expect("not poisoned").remove(&key);
                        let _ = reply.send(r);
                    }
                }
            }
        });
        DiskWriter {
            tx,
            errors,
            written: Some(written),
        }
    }

    /// The reports of bytes written, `((transfer id, file index), bytes)`; taken once.
    pub fn take_written(&mut self) -> Option<mpsc::UnboundedReceiver<(FileKey, u64)>> {
        self.written.take()
    }

    pub async fn open(&self, key: FileKey, path: PathBuf, offset: u64) -> std::io::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteCmd::Open {
                key,
                path,
                offset,
                reply,
            })
            .await
            .map_err(|_| std::io::Error::other("writer stopped"))?;
        rx.await
            .unwrap_or_else(|_| Err(std::io::Error::other("writer stopped")))
    }

    /// Queues bytes; fails with the first write error seen so far for this file (so a full
    /// disk cancels the transfer promptly, not only at the end of the file).
    pub async fn write(&self, key: FileKey, data: Vec<u8>) -> Result<(), String> {
        if let Some(e) = self.errors.lock().expect("not poisoned").get(&key).cloned() {
            return Err(e);
        }
        self.tx
            .send(WriteCmd::Write(key, data))
            .await
            .map_err(|_| "writer stopped".to_string())
    }

    pub async fn close(&self, key: FileKey) -> std::io::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteCmd::Close(key, reply))
            .await
            .map_err(|_| std::io::Error::other("writer stopped"))?;
        rx.await
            .unwrap_or_else(|_| Err(std::io::Error::other("writer stopped")))
    }
}

/// Test switch: with `FERRY_TEST_DISK_RATE=B` (bytes per second) every write waits `len / B` s
/// first, a slow disk, so that a test can see the sender follow the disk
/// (`e2e/browser/cli-slow-disk.test.js`). Ignored unless a positive number.
fn test_disk_rate() -> Option<f64> {
    std::env::var("FERRY_TEST_DISK_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| r.is_finite() && *r > 0.0)
}

fn open_at(path: &std::path::Path, offset: u64) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    f.set_len(offset)?;
    f.seek(SeekFrom::Start(offset))?;
    Ok(f)
}
