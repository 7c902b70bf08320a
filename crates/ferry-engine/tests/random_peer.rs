//! Property test: a peer that sends anything at all, in any order, interleaved with whatever the
//! local user does. The engine must never panic, everything it puts on the pipe must be valid
//! protocol (control messages that parse, frames within the size limit), and reads it asks the
//! driver for must lie inside the files it offered.
//!
//! Inputs are drawn from well-formed messages with hostile field values (ids and offsets at the
//! edges of their types, hostile names, wrong hashes) as well as from raw garbage, because
//! garbage alone is rejected by the JSON parser before it reaches interesting states.

use ferry_engine::{Engine, Event, LocalFile, Output, ResumeFrom};
use ferry_protocol::transfer::{ControlMessage, DataFrame};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The byte every generated data frame carries.
const FILL: u8 = 0xA5;

#[derive(Debug, Clone)]
enum Input {
    Text(String),
    Binary(Vec<u8>),
    AcceptNewest {
        resume_offset: u64,
    },
    DeclineNewest,
    CancelAll,
    SendText(String),
    SendOffer(Vec<u64>),
    ServeReads {
        short: bool,
    },
    ReadFailed,
    Closed,
    /// Time passes (milliseconds): the engine's timers (hello retries) may fire.
    Wait(u16),
    /// The peer follows the protocol for the oldest offer it made: the next frame of the current
    /// file (`chunk` bytes at most), or its `file-end` with the right or a wrong hash.
    PeerProceeds {
        chunk: u64,
        good_hash: bool,
    },
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u32..4).prop_map(|n| json!(n)),
        1 => any::<u32>().prop_map(|n| json!(n)),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<u64>().prop_map(|n| json!(n)),
        1 => Just(json!(u64::MAX)),
        1 => Just(json!(-1)),
        1 => Just(json!(1.5)),
        1 => Just(json!("7")),
        1 => Just(Value::Null),
    ]
}

fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("a.txt")),
        Just(json!("dir/b.bin")),
        Just(json!("../../etc/passwd")),
        Just(json!("/etc/passwd")),
        Just(json!("a\u{0}b")),
        Just(json!("C:\\x\\..\\y")),
        Just(json!("")),
        Just(json!("x".repeat(5000))),
        ".{0,40}".prop_map(|s| json!(s)),
        Just(json!(7)),
    ]
}

fn files() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (name(), number(), any::<bool>()).prop_map(|(path, size, typed)| {
            if typed {
                json!({"path": path, "size": size, "type": "application/octet-stream", "mtime": 1})
            } else {
                json!({"path": path, "size": size})
            }
        }),
        0..4,
    )
    .prop_map(Value::Array)
}

fn control() -> impl Strategy<Value = String> {
    // Right hashes too (of what `frame()` sends), or verification is never reached.
    let sha = prop_oneof![
        1 => Just(json!("0".repeat(64))),
        4 => (0usize..4).prop_map(|n| json!(hex::encode(Sha256::digest(vec![FILL; n])))),
        1 => "[0-9a-f]{0,70}".prop_map(|s| json!(s)),
    ];
    let role = prop_oneof![
        Just(json!("sender")),
        Just(json!("receiver")),
        Just(json!("x"))
    ];
    let resume = prop::collection::vec(
        (number(), number()).prop_map(|(index, offset)| json!({"index": index, "offset": offset})),
        0..3,
    );
    (
        prop::sample::select(vec![
            "hello",
            "offer",
            "accept",
            "decline",
            "cancel",
            "file-end",
            "file-verified",
            "done",
            "text",
            "error",
            "warp",
        ]),
        number(),
        number(),
        files(),
        sha,
        role,
        resume,
        any::<bool>(),
    )
        .prop_map(|(ty, id, index, files, sha, role, resume, ok)| {
            let msg = match ty {
                "hello" => json!({"type": ty, "version": index, "app": "fuzz"}),
                "offer" => {
                    // Mostly a consistent total, or offers are refused before anything happens.
                    let sum = files.as_array().and_then(|fs| {
                        fs.iter()
                            .try_fold(0u64, |a, f| a.checked_add(f["size"].as_u64()?))
                    });
                    let total = match sum {
                        Some(sum) if ok => json!(sum),
                        _ => index,
                    };
                    json!({"type": ty, "transferId": id, "totalSize": total, "files": files})
                }
                "accept" => json!({"type": ty, "transferId": id, "resume": resume}),
                "decline" | "done" => json!({"type": ty, "transferId": id}),
                "cancel" => json!({"type": ty, "transferId": id, "role": role, "reason": "r"}),
                "file-end" => json!({"type": ty, "transferId": id, "index": index, "sha256": sha}),
                "file-verified" => json!({"type": ty, "transferId": id, "index": index, "ok": ok}),
                "text" => json!({"type": ty, "id": "m", "text": files.to_string()}),
                "error" => json!({"type": ty, "code": "bad-message", "message": "m"}),
                _ => json!({"type": ty, "transferId": id}),
            };
            msg.to_string()
        })
}

fn frame() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![0u32..4, any::<u32>()],
        prop_oneof![0u32..4, any::<u32>()],
        prop_oneof![4 => Just(0u64), 2 => 0u64..8, 1 => 0u64..4096, 1 => any::<u64>()],
        prop_oneof![4 => 0usize..4, 1 => 0usize..3000],
    )
        .prop_map(|(transfer_id, index, offset, len)| {
            DataFrame {
                transfer_id,
                index,
                offset,
                payload: &vec![FILL; len],
            }
            .encode()
        })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        6 => control().prop_map(Input::Text),
        1 => ".{0,64}".prop_map(Input::Text),
        4 => frame().prop_map(Input::Binary),
        1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Input::Binary),
        2 => prop_oneof![Just(0u64), 0u64..5000, any::<u64>()]
            .prop_map(|resume_offset| Input::AcceptNewest { resume_offset }),
        1 => Just(Input::DeclineNewest),
        1 => Just(Input::CancelAll),
        1 => ".{0,20}".prop_map(Input::SendText),
        2 => prop::collection::vec(prop_oneof![0u64..5000, Just(0u64)], 1..3)
            .prop_map(Input::SendOffer),
        3 => any::<bool>().prop_map(|short| Input::ServeReads { short }),
        1 => Just(Input::ReadFailed),
        1 => Just(Input::Closed),
        1 => any::<u16>().prop_map(Input::Wait),
        6 => (1u64..3000, prop::bool::weighted(0.8))
            .prop_map(|(chunk, good_hash)| Input::PeerProceeds { chunk, good_hash }),
    ]
}

/// What the local side offered: transfer id → file sizes, to check read requests against.
type Offered = std::collections::HashMap<u32, Vec<u64>>;

/// An offer the peer made, as the peer steps through it.
struct PeerOffer {
    transfer_id: u32,
    sizes: Vec<u64>,
    index: usize,
    offset: u64,
}

/// The local side's view: offers it has not answered yet, and the peer's offers in progress.
#[derive(Default)]
struct Seen {
    unanswered: Vec<u32>,
    peer_offers: Vec<PeerOffer>,
}

impl Seen {
    /// The peer's next protocol-correct message for its oldest offer, if any is left.
    fn peer_step(&mut self, chunk: u64, good_hash: bool) -> Option<Input> {
        let o = self.peer_offers.first_mut()?;
        let Some(&size) = o.sizes.get(o.index) else {
            let done = json!({"type": "done", "transferId": o.transfer_id});
            self.peer_offers.remove(0);
            return Some(Input::Text(done.to_string()));
        };
        if o.offset < size {
            let len = chunk.min(size - o.offset);
            let frame = DataFrame {
                transfer_id: o.transfer_id,
                index: o.index as u32,
                offset: o.offset,
                payload: &vec![FILL; len as usize],
            }
            .encode();
            o.offset += len;
            return Some(Input::Binary(frame));
        }
        let sha = if good_hash {
            hex::encode(Sha256::digest(vec![FILL; size as usize]))
        } else {
            "0".repeat(64)
        };
        let end = json!({"type": "file-end", "transferId": o.transfer_id, "index": o.index, "sha256": sha});
        o.index += 1;
        o.offset = 0;
        Some(Input::Text(end.to_string()))
    }
}

fn drain(e: &mut Engine, seen: &mut Seen, max: usize) {
    while let Some(o) = e.poll_output() {
        match o {
            Output::SendText(t) => {
                assert!(
                    ControlMessage::parse(&t).is_ok(),
                    "engine sent invalid control message {t}"
                );
            }
            Output::SendBinary(b) => {
                assert!(b.len() <= max, "frame of {} bytes", b.len());
                assert!(DataFrame::parse(&b).is_ok(), "engine sent a bad frame");
            }
            Output::Event(Event::OfferReceived {
                transfer_id, files, ..
            }) => {
                seen.unanswered.push(transfer_id);
                // Generated files are tiny; a big one is stepped through only partly.
                if files.iter().all(|f| f.size < 1 << 20) {
                    seen.peer_offers.push(PeerOffer {
                        transfer_id,
                        sizes: files.iter().map(|f| f.size).collect(),
                        index: 0,
                        offset: 0,
                    });
                }
            }
            Output::Io(_) | Output::Event(_) | Output::Close => {}
        }
    }
}

fn run(inputs: Vec<Input>) {
    let max = 16 * 1024;
    let mut e = Engine::new("fuzz");
    e.set_max_message_size(max);
    let mut now = std::time::Instant::now();
    e.start(now);
    let mut seen = Seen::default();
    let mut offered = Offered::new();
    drain(&mut e, &mut seen, max);
    for input in inputs {
        match input {
            Input::Text(t) => e.handle_text(&t),
            Input::Binary(b) => e.handle_binary(&b),
            Input::AcceptNewest { resume_offset } => {
                if let Some(id) = seen.unanswered.pop() {
                    let resume = vec![ResumeFrom {
                        index: 0,
                        offset: resume_offset,
                        hasher: Default::default(),
                    }];
                    let _ = e.accept(id, resume);
                }
            }
            Input::DeclineNewest => {
                if let Some(id) = seen.unanswered.pop() {
                    let _ = e.decline(id);
                }
            }
            Input::CancelAll => e.cancel_all("user"),
            Input::SendText(t) => {
                let _ = e.send_text(&t);
            }
            Input::SendOffer(sizes) => {
                let files = sizes
                    .iter()
                    .enumerate()
                    .map(|(i, &size)| LocalFile {
                        path: format!("f{i}"),
                        size,
                        mime: String::new(),
                        mtime: None,
                    })
                    .collect();
                if let Ok(id) = e.send_offer(files) {
                    offered.insert(id, sizes);
                }
            }
            Input::ServeReads { short } => {
                for _ in 0..8 {
                    let Some(req) = e.next_read() else { break };
                    let sizes = offered
                        .get(&req.transfer_id)
                        .expect("read for an offer we made");
                    let size = sizes[req.index as usize];
                    assert!(
                        req.offset + req.len as u64 <= size,
                        "read {req:?} past the end of a {size}-byte file"
                    );
                    let len = if short { req.len / 2 } else { req.len };
                    e.handle_read(req, vec![1; len]);
                    drain(&mut e, &mut seen, max);
                }
            }
            Input::ReadFailed => {
                if let Some(req) = e.next_read() {
                    e.io_failed(
                        req.transfer_id,
                        ferry_protocol::transfer::Role::Sender,
                        "EIO",
                    );
                }
            }
            Input::Closed => e.handle_closed(),
            Input::Wait(ms) => {
                now += std::time::Duration::from_millis(ms.into());
                e.handle_timeout(now);
            }
            Input::PeerProceeds { chunk, good_hash } => match seen.peer_step(chunk, good_hash) {
                Some(Input::Text(t)) => e.handle_text(&t),
                Some(Input::Binary(b)) => e.handle_binary(&b),
                _ => {}
            },
        }
        drain(&mut e, &mut seen, max);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_peer_input_and_user_action_sequence_is_handled(
        inputs in prop::collection::vec(input(), 1..60)
    ) {
        run(inputs);
    }

    #[test]
    fn a_greeted_peer_with_an_accepted_offer_then_anything(
        inputs in prop::collection::vec(input(), 1..40)
    ) {
        let mut all = vec![
            Input::Text(r#"{"type":"hello","version":1,"app":"p"}"#.into()),
            Input::Text(r#"{"type":"offer","transferId":1,"totalSize":3,"files":[{"path":"a","size":3}]}"#.into()),
            Input::AcceptNewest { resume_offset: 0 },
            Input::SendOffer(vec![3000, 0]),
            Input::Text(r#"{"type":"accept","transferId":1,"resume":[]}"#.into()),
        ];
        all.extend(inputs);
        run(all);
    }
}
