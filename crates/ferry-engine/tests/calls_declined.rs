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
