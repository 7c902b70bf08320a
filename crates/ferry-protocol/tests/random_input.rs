//! Property tests for everything the network hands the protocol layer: control messages, data
//! frames, signaling messages and relay frames. Garbage is an `Err`, never a panic, and a relay
//! frame with any byte changed never decrypts.

use ferry_protocol::relay_crypto::{RelayKeyPair, RelayPayload};
use ferry_protocol::signaling::ClientMessage;
use ferry_protocol::transfer::{ControlMessage, DataFrame};
use proptest::prelude::*;

/// JSON-shaped text, so parsing gets past the first byte: a known `type` with random fields.
fn json_like() -> impl Strategy<Value = String> {
    let ty = prop::sample::select(vec![
        "hello",
        "offer",
        "accept",
        "cancel",
        "file-end",
        "text",
        "signal",
        "join-room",
        "create-room",
        "set-name",
        "pong",
        "relay-request",
        "x",
    ]);
    let value = prop_oneof![
        Just("null".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1e308".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        "\"[^\"\\\\]{0,30}\"",
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    let field = prop::sample::select(vec![
        "transferId",
        "files",
        "index",
        "sha256",
        "to",
        "signal",
        "code",
        "name",
        "resume",
        "id",
        "text",
        "version",
        "sdp",
        "candidate",
    ]);
    (ty, prop::collection::vec((field, value), 0..6)).prop_map(|(ty, fields)| {
        let mut s = format!("{{\"type\":\"{ty}\"");
        for (k, v) in fields {
            s.push_str(&format!(",\"{k}\":{v}"));
        }
        s.push('}');
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn control_and_signaling_parsers_never_panic(
        text in prop_oneof![json_like(), any::<String>()]
    ) {
        let _ = ControlMessage::parse(&text);
        let _ = ClientMessage::parse(&text);
    }

    #[test]
    fn frame_parser_never_panics_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(f) = DataFrame::parse(&bytes) {
            prop_assert_eq!(f.encode(), bytes);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn relay_frames_with_any_byte_changed_or_cut_never_open(
        payload in prop::collection::vec(any::<u8>(), 0..300),
        flip_at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
        garbage in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let a = RelayKeyPair::generate();
        let b = RelayKeyPair::generate();
        let mut sa = a.agree("r", "a", "b", b.public_key()).unwrap();
        let frame = sa.seal(&RelayPayload::Binary(payload.clone()));

        let mut flipped = frame.clone();
        flipped[flip_at.index(frame.len())] ^= flip;
        let mut sb = b.agree("r", "b", "a", a.public_key()).unwrap();
        prop_assert!(sb.open(&flipped).is_err());
        prop_assert!(sb.open(&frame[..cut.index(frame.len())]).is_err());
        prop_assert!(sb.open(&garbage).is_err());
        // Failed attempts do not advance the counter: the genuine frame still opens.
        prop_assert_eq!(sb.open(&frame).unwrap(), RelayPayload::Binary(payload));
    }
}
