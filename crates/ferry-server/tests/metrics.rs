//! `/metrics` is served in the Prometheus text format, parses with a Prometheus parser, reflects
//! what happened, and lists every metric docs/metrics.md documents.

mod common;

use std::collections::HashMap;

use common::*;
use ferry_server::MetricsEndpoint;
use serde_json::json;

async fn scrape(url: &str) -> HashMap<String, f64> {
    let resp = reqwest::get(url).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    scrape
        .samples
        .into_iter()
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>();
            let key = if labels.is_empty() {
                s.metric
            } else {
                format!("{}{{{}}}", s.metric, labels.join(","))
            };
            (key, value)
        })
        .collect()
}

#[tokio::test]
async fn metrics_reflect_what_happened_and_match_the_docs() {
    let mut cfg = loopback_config();
    // The embedded TURN server too, so its metrics are exposed.
    cfg.turn.enabled = true;
    cfg.turn.port = 0;
    let addr = start(cfg).await;
    let mut a = connect(addr).await;
    let mut b = connect(addr).await;
    recv(&mut a.ws).await; // b joined
    send_json(
        &mut a.ws,
        json!({"type":"signal","to": b.id,"signal":{"kind":"app","payload":1}}),
    )
    .await;
    recv_until(&mut b.ws, |m| {
        matches!(m, ferry_protocol::signaling::ServerMessage::Signal { .. })
    })
    .await;
    send_json(&mut a.ws, json!({"type":"create-room"})).await;
    recv(&mut a.ws).await;

    let m = scrape(&format!("http://{addr}/metrics")).await;
    assert_eq!(m["ferry_signaling_peers"], 2.0, "{m:?}");
    assert_eq!(m["ferry_signals_forwarded_total"], 1.0);
    assert_eq!(m["ferry_signaling_connections_total"], 2.0);
    assert_eq!(m["ferry_signaling_rooms{kind=code}"], 1.0);
    assert_eq!(m["ferry_signaling_rooms{kind=lan}"], 1.0);
    assert!(m["ferry_open_fds"] > 0.0);
    assert!(m["ferry_http_connections"] >= 1.0, "this scrape");

    // Every metric in docs/metrics.md is exposed (labelled families once they have a sample).
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/metrics.md"
    ))
    .unwrap();
    for name in doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `ferry_"))
        .map(|l| format!("ferry_{}", l.split(['`', '{']).next().unwrap()))
    {
        if name == "ferry_limit_hits_total" {
            continue;
        }
        assert!(
            m.keys()
                .any(|k| k == &name || k.starts_with(&format!("{name}{{"))),
            "{name} documented but not exposed"
        );
    }
}

#[tokio::test]
async fn metrics_can_move_to_their_own_address_or_be_disabled() {
    let metrics_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = loopback_config();
    cfg.metrics = MetricsEndpoint::Separate(metrics_port);
    let addr = start(cfg).await;
    let own = scrape(&format!("http://{metrics_port}/metrics")).await;
    assert!(own.contains_key("ferry_signaling_peers"));
    let main = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(main.status(), 404);

    let mut cfg = loopback_config();
    cfg.metrics = MetricsEndpoint::Disabled;
    let addr = start(cfg).await;
    let main = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(main.status(), 404);
}
