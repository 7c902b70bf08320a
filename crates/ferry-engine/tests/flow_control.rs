//! End-to-end flow control (docs/protocol.md §2 "Flow control") between two engines: a receiver
//! whose disk drains slower than the pipe delivers keeps the sender within the window of what it
//! has written; with flow control off on the receiver (a version-1 peer) the sender runs ahead.

use std::collections::VecDeque;
use std::time::Instant;

use ferry_engine::{Engine, Event, FLOW_WINDOW_BYTES, IoRequest, LocalFile, Output};
use ferry_protocol::transfer::{DataFrame, FRAME_HEADER_BYTES, Role};

enum Msg {
    Text(String),
    Binary(Vec<u8>),
}

/// What a run saw: the largest gap between payload bytes sent and bytes the disk wrote, the
/// stored file, and whether the transfer finished on both sides.
struct Run {
    worst_gap: u64,
    stored: Vec<u8>,
    done: bool,
    credits: usize,
}

/// Sends `file` from a to b; b's disk writes at most `disk_per_step` bytes per step, while the
/// pipe delivers everything a sent. `receiver_flow`: b turns flow control on.
fn run(file: &[u8], disk_per_step: usize, receiver_flow: bool) -> Run {
    let now = Instant::now();
    let mut a = Engine::new("sender/1");
    let mut b = Engine::new("receiver/1");
    a.enable_flow_control(FLOW_WINDOW_BYTES);
    if receiver_flow {
        b.enable_flow_control(FLOW_WINDOW_BYTES);
    }
    a.set_max_message_size(256 * 1024);
    a.start(now);
    b.start(now);
    let id = a
        .send_offer(vec![LocalFile {
            path: "big.bin".into(),
            size: file.len() as u64,
            mime: String::new(),
            mtime: None,
        }])
        .expect("a valid offer");
    let (mut to_a, mut to_b) = (VecDeque::new(), VecDeque::new());
    // The slow disk: writes queue here and drain `disk_per_step` bytes per step.
    let mut disk: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
    let mut stored = Vec::new();
    let (mut sent, mut written, mut worst_gap, mut credits) = (0u64, 0u64, 0u64, 0usize);
    let (mut a_done, mut b_done) = (false, false);
    // Bounded: the file needs size / disk_per_step steps; twice that plus slack is a hang.
    let bound = 2 * file.len() / disk_per_step + 1000;
    for _ in 0..bound {
        while let Some(o) = a.poll_output() {
            match o {
                Output::SendText(t) => to_b.push_back(Msg::Text(t)),
                Output::SendBinary(f) => {
                    sent += (f.len() - FRAME_HEADER_BYTES) as u64;
                    to_b.push_back(Msg::Binary(f));
                }
                Output::Event(Event::TransferDone {
                    role: Role::Sender, ..
                }) => a_done = true,
                _ => {}
            }
        }
        // The pipe always has room: a reads and sends whatever its credit allows.
        while let Some(req) = a.next_read() {
            let mut buf = vec![0u8; FRAME_HEADER_BYTES];
            let at = req.offset as usize;
            buf.extend_from_slice(&file[at..at + req.len]);
            a.handle_read(req, buf);
            while let Some(o) = a.poll_output() {
                if let Output::SendBinary(f) = o {
                    sent += (f.len() - FRAME_HEADER_BYTES) as u64;
                    to_b.push_back(Msg::Binary(f));
                } else if let Output::SendText(t) = o {
                    to_b.push_back(Msg::Text(t));
                }
            }
        }
        worst_gap = worst_gap.max(sent - written);
        for m in to_b.drain(..) {
            match m {
                Msg::Text(t) => b.handle_text(&t),
                Msg::Binary(f) => {
                    assert!(DataFrame::parse(&f).is_ok());
                    b.handle_binary(&f)
                }
            }
        }
        let mut budget = disk_per_step;
        loop {
            while let Some(o) = b.poll_output() {
                match o {
                    Output::SendText(t) => {
                        credits += usize::from(t.contains("\"credit\""));
                        to_a.push_back(Msg::Text(t));
                    }
                    Output::Event(Event::OfferReceived { transfer_id, .. }) => {
                        b.accept(transfer_id, vec![]).expect("the offer waits");
                    }
                    Output::Event(Event::TransferDone {
                        role: Role::Receiver,
                        ..
                    }) => b_done = true,
                    Output::Io(IoRequest::Write {
                        transfer_id, data, ..
                    }) => disk.push_back((transfer_id, data)),
                    _ => {}
                }
            }
            // The disk writes what its budget allows this step and reports it.
            let Some((tid, data)) = disk.pop_front() else {
                break;
            };
            if data.len() > budget {
                disk.push_front((tid, data));
                break;
            }
            budget -= data.len();
            written += data.len() as u64;
            stored.extend_from_slice(&data);
            b.written(tid, data.len() as u64);
        }
        for m in to_a.drain(..) {
            match m {
                Msg::Text(t) => a.handle_text(&t),
                Msg::Binary(f) => a.handle_binary(&f),
            }
        }
        if a_done && b_done && disk.is_empty() {
            break;
        }
    }
    let _ = id;
    Run {
        worst_gap,
        stored,
        done: a_done && b_done,
        credits,
    }
}

fn file(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 4096) as u8).collect()
}

#[test]
fn a_slow_disk_keeps_the_sender_within_the_window() {
    let data = file(24 * 1024 * 1024);
    let r = run(&data, 1024 * 1024, true);
    assert!(r.done, "the transfer finished");
    assert!(r.stored == data, "byte for byte");
    assert!(
        r.worst_gap <= FLOW_WINDOW_BYTES,
        "sender ahead by {} bytes, window {FLOW_WINDOW_BYTES}",
        r.worst_gap
    );
    // Credit goes in steps of at least an eighth of the window (1 MiB), not one per frame:
    // 24 MiB is 97 frames and at most 24 credits.
    assert!((3..=24).contains(&r.credits), "{} credits", r.credits);
}

#[test]
fn without_flow_control_on_the_receiver_the_sender_runs_ahead() {
    let data = file(16 * 1024 * 1024);
    let r = run(&data, 1024 * 1024, false);
    assert!(r.done && r.stored == data);
    assert_eq!(r.credits, 0, "a version-1 receiver sends no credit");
    assert!(
        r.worst_gap > FLOW_WINDOW_BYTES,
        "the check can fail: ahead by {}",
        r.worst_gap
    );
}
