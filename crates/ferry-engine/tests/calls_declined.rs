//! The native engine does not do calls: its `hello` lists no features, and a peer that invites it
//! anyway gets `call-decline` `unsupported` — not an `unknown-type` error, and nothing else
//! changes (transfers and chat go on). docs/protocol.md §2, "Calls".

use ferry_engine::{Engine, Event, Output};
use ferry_protocol::transfer::{CALL_DECLINE_UNSUPPORTED, ControlMessage};

fn drain(e: &mut Engine) -> Vec<Output> {
    std::iter::from_fn(|| e.poll_output()).collect()
}

fn sent(outs: &[Output]) -> Vec<ControlMessage> {
    outs.iter()
        .filter_map(|o| match o {
            Output::SendText(t) => Some(ControlMessage::parse(t).expect("we send what we parse")),
            _ => None,
        })
        .collect()
}

#[test]
fn hello_lists_no_features() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    let outs = drain(&mut e);
    let Output::SendText(hello) = &outs[0] else {
        panic!("hello first: {outs:?}")
    };
    assert!(!hello.contains("features"), "{hello}");
    assert!(
        matches!(&sent(&outs)[..], [ControlMessage::Hello { features, .. }] if features.is_empty())
    );
}

#[test]
fn a_call_invite_is_declined_as_unsupported_and_the_rest_of_a_call_is_dropped() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    e.handle_text(r#"{"type":"hello","version":1,"app":"ferry-web/0.1.0","features":["call","from-the-future"]}"#);
    let outs = drain(&mut e);
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Event(Event::PeerHello { .. })))
    );

    e.handle_text(r#"{"type":"call-invite","callId":"c-1","audio":true,"video":true}"#);
    let outs = drain(&mut e);
    assert_eq!(
        sent(&outs),
        [ControlMessage::CallDecline {
            call_id: "c-1".into(),
            reason: CALL_DECLINE_UNSUPPORTED.into()
        }]
    );
    assert_eq!(outs.len(), 1, "no event, no error: {outs:?}");

    for late in [
        r#"{"type":"call-end","callId":"c-1"}"#,
        r#"{"type":"call-accept","callId":"c-1"}"#,
        r#"{"type":"call-decline","callId":"c-1","reason":"busy"}"#,
        r#"{"type":"call-media","callId":"c-1","muted":true,"cameraOff":false,"screen":false}"#,
    ] {
        e.handle_text(late);
        assert_eq!(drain(&mut e), [], "{late}");
    }

    // A broken call message is refused like any other broken message.
    e.handle_text(r#"{"type":"call-invite","audio":true,"video":true}"#);
    e.handle_text(&format!(
        r#"{{"type":"call-invite","callId":"{}","audio":true,"video":true}}"#,
        "x".repeat(65)
    ));
    let codes: Vec<String> = sent(&drain(&mut e))
        .into_iter()
        .filter_map(|m| match m {
            ControlMessage::Error { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, ["bad-message", "bad-message"]);

    // The pipe is as usable as before: chat still goes out.
    e.send_text("still here").expect("text");
    assert!(
        matches!(&sent(&drain(&mut e))[..], [ControlMessage::Text { text, .. }] if text == "still here")
    );
}

/// The native engine keeps no pairings (docs/protocol.md "Feature `pair`"): its hello does not
/// list `pair`, and pair-* messages a peer sends anyway are dropped without a word — not
/// `unknown-type` — while malformed ones are refused like any broken message.
#[test]
fn pair_messages_are_dropped_and_malformed_ones_refused() {
    let mut e = Engine::new("t");
    e.start(std::time::Instant::now());
    e.handle_text(
        r#"{"type":"hello","version":1,"app":"ferry-web/0.1.0","features":["pair","verify"]}"#,
    );
    drain(&mut e);
    let room = "9af18c370a108cd6544008fdd6335397";
    let h64 = "ab".repeat(32);
    for msg in [
        format!(r#"{{"type":"pair-request","secret":"{h64}"}}"#),
        format!(r#"{{"type":"pair-accept","room":"{room}"}}"#),
        format!(r#"{{"type":"pair-decline","room":"{room}"}}"#),
        format!(r#"{{"type":"pair-proof","room":"{room}","proof":"{h64}"}}"#),
        format!(r#"{{"type":"pair-revoke","room":"{room}"}}"#),
        format!(r#"{{"type":"pair-revoked","room":"{room}"}}"#),
    ] {
        e.handle_text(&msg);
        assert_eq!(drain(&mut e), [], "{msg}");
    }
    e.handle_text(r#"{"type":"pair-proof","room":"K7H3QD","proof":"x"}"#);
    assert!(
        matches!(&sent(&drain(&mut e))[..], [ControlMessage::Error { code, .. }] if code == "bad-message")
    );
}
