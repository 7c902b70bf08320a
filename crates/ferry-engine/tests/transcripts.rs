//! The conformance transcripts of `crates/ferry-protocol/vectors/transcripts/*.json` (format in
//! its README.md) run against the Rust [`Engine`]. `e2e/unit/transcripts.test.js` runs the very
//! same files against the browser's engine: one suite, two implementations (rustls' BoGo idea).
//!
//! This runner is the driver: it feeds each step to the engine, serves file reads from the
//! step's contents, accepts every I/O request, and compares what went on the wire and the
//! (normalized) events with the transcript, exactly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferry_engine::{Engine, Event, IoRequest, LocalFile, Output};
use ferry_protocol::transfer::{DataFrame, FRAME_HEADER_BYTES, Role};
use serde_json::{Value, json};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ferry-protocol/vectors/transcripts")
}

/// `"abc"` or `{"prefix", "repeat", "times", "suffix"}` (for long inputs).
fn build(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        o => format!(
            "{}{}{}",
            o["prefix"].as_str().unwrap_or(""),
            o["repeat"]
                .as_str()
                .unwrap_or("")
                .repeat(o["times"].as_u64().unwrap_or(0) as usize),
            o["suffix"].as_str().unwrap_or("")
        ),
    }
}

fn role(r: Role) -> Value {
    serde_json::to_value(r).unwrap()
}

fn parse_role(v: &Value) -> Role {
    serde_json::from_value(v.clone()).expect("role")
}

/// The events both engines report, in one vocabulary (README.md, "Events").
fn normalize(e: Event) -> Option<Value> {
    Some(match e {
        Event::OfferReceived {
            transfer_id,
            files,
            selection,
            ..
        } => {
            let mut v = json!({"event":"offer","transferId":transfer_id,
                "files": files.iter().map(|f| f.path.as_str().to_string()).collect::<Vec<_>>()});
            if let Some(s) = selection {
                v["selection"] = json!(s);
            }
            v
        }
        Event::OfferRefused { transfer_id, .. } => {
            json!({"event":"offer-refused","transferId":transfer_id})
        }
        Event::Accepted { transfer_id } => json!({"event":"accepted","transferId":transfer_id}),
        Event::Declined { transfer_id } => json!({"event":"declined","transferId":transfer_id}),
        Event::FileVerified {
            transfer_id,
            role: r,
            index,
            ok,
            ..
        } => {
            json!({"event":"file-verified","transferId":transfer_id,"role":role(r),"index":index,"ok":ok})
        }
        Event::TransferDone {
            transfer_id,
            role: r,
            ..
        } => json!({"event":"done","transferId":transfer_id,"role":role(r)}),
        Event::Cancelled {
            transfer_id,
            role: r,
            by_peer,
            ..
        } => json!({"event":"cancelled","transferId":transfer_id,"role":role(r),"byPeer":by_peer}),
        Event::Text { text, .. } => json!({"event":"text","text":text}),
        Event::PeerError { code, .. } => json!({"event":"peer-error","code":code}),
        Event::SecurityCode { code } => json!({"event":"security-code","code":code}),
        // Only a resuming receiver sees FileRestarted, and the browser's engine does not
        // resume yet: no transcript can expect it of both.
        Event::PeerHello { .. }
        | Event::Progress { .. }
        | Event::ProtocolError { .. }
        | Event::FileRestarted { .. } => {
            return None;
        }
    })
}

fn frame_json(b: &[u8]) -> Value {
    let f = DataFrame::parse(b).expect("the engine sends well-formed frames");
    json!({"frame":{"transferId":f.transfer_id,"index":f.index,"offset":f.offset,
        "payload":String::from_utf8_lossy(f.payload)}})
}

/// Free-text fields are compared only when the expectation spells them out.
fn comparable(actual: &[Value], expected: &[Value]) -> Vec<Value> {
    actual
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = a.clone();
            let want = expected.get(i).cloned().unwrap_or(Value::Null);
            let free = match a["type"].as_str() {
                Some("error") => "message",
                Some("cancel") => "reason",
                Some("text") => "id",
                Some("hello") => "app",
                _ => "",
            };
            if !free.is_empty()
                && want.get(free).is_none()
                && let Some(o) = a.as_object_mut()
            {
                o.remove(free);
            }
            a
        })
        .collect()
}

struct Runner {
    engine: Engine,
    now: Instant,
    contents: BTreeMap<u32, Vec<Vec<u8>>>,
    wire: Vec<Value>,
    events: Vec<Value>,
}

impl Runner {
    fn settle(&mut self) {
        loop {
            while let Some(o) = self.engine.poll_output() {
                match o {
                    Output::SendText(t) => self.wire.push(serde_json::from_str(&t).unwrap()),
                    Output::SendBinary(b) => self.wire.push(frame_json(&b)),
                    Output::Close => self.wire.push(json!({"close":true})),
                    Output::Event(e) => self.events.extend(normalize(e)),
                    // The storage always succeeds here, at once: report the write as stored.
                    Output::Io(IoRequest::Write {
                        transfer_id, data, ..
                    }) => self.engine.written(transfer_id, data.len() as u64),
                    Output::Io(_) => {}
                }
            }
            let Some(req) = self.engine.next_read() else {
                return;
            };
            let src = &self.contents[&req.transfer_id][req.index as usize];
            let start = req.offset as usize;
            let mut buf = vec![0u8; FRAME_HEADER_BYTES];
            buf.extend_from_slice(&src[start..start + req.len]);
            self.engine.handle_read(req, buf);
        }
    }

    /// Runs one step; returns whether a user command was refused.
    fn step(&mut self, s: &Value) -> bool {
        let mut refused = false;
        if s.get("start").is_some() {
            self.engine.start(self.now);
        } else if let Some(m) = s.get("peer") {
            self.engine.handle_text(&m.to_string());
        } else if let Some(t) = s.get("peerText") {
            self.engine.handle_text(&build(t));
        } else if let Some(f) = s.get("peerFrame") {
            let payload = build(&f["payload"]).into_bytes();
            let mut buf = vec![0u8; FRAME_HEADER_BYTES];
            buf.extend_from_slice(&payload);
            DataFrame::write_header(
                f["transferId"].as_u64().unwrap() as u32,
                f["index"].as_u64().unwrap() as u32,
                f["offset"].as_u64().unwrap(),
                &mut buf,
            );
            self.engine.handle_binary(&buf);
        } else if let Some(h) = s.get("peerBinaryHex") {
            self.engine
                .handle_binary(&hex::decode(h.as_str().unwrap()).unwrap());
        } else if let Some(ms) = s.get("wait") {
            self.now += Duration::from_millis(ms.as_u64().unwrap());
            self.engine.handle_timeout(self.now);
        } else if s.get("closed").is_some() {
            self.engine.handle_closed();
        } else if let Some(u) = s.get("user") {
            let id = || u["transferId"].as_u64().unwrap() as u32;
            refused = match u["do"].as_str().unwrap() {
                "offer" => {
                    let files = u["files"].as_array().unwrap();
                    let bytes: Vec<Vec<u8>> = files
                        .iter()
                        .map(|f| build(&f["content"]).into_bytes())
                        .collect();
                    let local = files
                        .iter()
                        .zip(&bytes)
                        .map(|(f, b)| LocalFile {
                            path: f["path"].as_str().unwrap().into(),
                            size: b.len() as u64,
                            mime: f["type"].as_str().unwrap_or("").into(),
                            mtime: f["mtime"].as_u64(),
                        })
                        .collect();
                    match self.engine.send_offer(local) {
                        Ok(id) => {
                            self.contents.insert(id, bytes);
                            false
                        }
                        Err(_) => true,
                    }
                }
                "accept" => self.engine.accept(id(), vec![]).is_err(),
                "decline" => self.engine.decline(id()).is_err(),
                "cancel" => self
                    .engine
                    .cancel(
                        id(),
                        parse_role(&u["role"]),
                        u["reason"].as_str().unwrap_or(""),
                    )
                    .is_err(),
                "text" => self.engine.send_text(&build(&u["text"])).is_err(),
                other => panic!("unknown user command {other:?}"),
            };
        } else {
            panic!("unknown step {s}");
        }
        self.settle();
        refused
    }
}

fn run(path: &std::path::Path) -> usize {
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mut r = Runner {
        engine: Engine::new("ferry-transcripts/1"),
        now: Instant::now(),
        contents: BTreeMap::new(),
        wire: Vec::new(),
        events: Vec::new(),
    };
    if let Some(w) = t["flowWindow"].as_u64() {
        r.engine.enable_flow_control(w);
    }
    if let Some(m) = t["maxMessageSize"].as_u64() {
        r.engine.set_max_message_size(m as usize);
    }
    if let Some(v) = t.get("verify") {
        let nonce: [u8; 32] = hex::decode(v["nonce"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let id = |k: &str| v[k].as_str().unwrap().to_string();
        r.engine.enable_verify(id("ownId"), id("peerId"), nonce);
    }
    let steps = t["steps"].as_array().expect("steps");
    for (i, s) in steps.iter().enumerate() {
        let refused = r.step(s);
        let at = format!("{name} step {i} ({})", s["note"].as_str().unwrap_or(""));
        assert_eq!(
            refused,
            s["refused"].as_bool().unwrap_or(false),
            "{at}: command refused?"
        );
        let wire = std::mem::take(&mut r.wire);
        let events = std::mem::take(&mut r.events);
        let want = s["wire"]
            .as_array()
            .unwrap_or_else(|| panic!("{at}: no \"wire\""));
        assert_eq!(&comparable(&wire, want), want, "{at}: wire");
        if let Some(want) = s.get("events") {
            assert_eq!(&Value::Array(events), want, "{at}: events");
        }
    }
    steps.len()
}

#[test]
fn every_transcript_passes_against_the_rust_engine() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "transcripts in {}", dir().display());
    for f in &files {
        run(f);
    }
}
