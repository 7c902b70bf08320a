//! The instance's link to Redis: its channel subscription, its heartbeat, and what happens when
//! Redis goes away and comes back.
//!
//! The loop's rule: while subscribed, every iteration delivers one batch from the channel or
//! sends one heartbeat. A heartbeat that fails, or a subscription that ends, drops the link;
//! it is then retried every [`RETRY`] until Redis answers, and the first success after a loss
//! re-asserts every local peer (events published meanwhile are lost; fresh listings replace them).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::{DEAD_AFTER, HEARTBEAT, REDIS_TIMEOUT, RedisHub};

const RETRY: Duration = Duration::from_millis(500);

pub(super) async fn run(hub: Arc<RedisHub>) {
    let channel = format!("ferry:to:{}", hub.inst);
    let mut ever_up = false;
    let mut down_since: Option<Instant> = None;
    loop {
        let subscribed = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut pubsub = hub.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                note_down(&hub, &mut down_since, &e.to_string());
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(_) => {
                note_down(&hub, &mut down_since, "timed out");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        // Alive before anything else, so that no other instance sweeps our peers meanwhile.
        if heartbeat(&hub).await.is_err() {
            note_down(&hub, &mut down_since, "heartbeat failed");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        hub.up.store(true, Ordering::Relaxed);
        if ever_up {
            let away = down_since.map(|t| t.elapsed()).unwrap_or_default();
            tracing::warn!(
                away_ms = away.as_millis() as u64,
                instance = %hub.inst,
                "Redis is back: subscribed again; re-asserting this instance's peers"
            );
            resync(&hub).await;
        } else {
            tracing::info!(instance = %hub.inst, "connected to Redis");
        }
        ever_up = true;
        down_since = None;

        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_beat = Instant::now();
        let reason = loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => hub.dispatch(msg.get_payload_bytes()),
                    None => break "subscription closed".to_string(),
                },
                _ = tick.tick() => match heartbeat(&hub).await {
                    Ok(()) => {
                        // Silent for long enough that the others may have swept us: our peers'
                        // presence is gone, and so may be events for them.
                        if last_beat.elapsed() >= DEAD_AFTER {
                            resync(&hub).await;
                        }
                        last_beat = Instant::now();
                    }
                    Err(e) => break e,
                },
            }
        };
        note_down(&hub, &mut down_since, &reason);
    }
}

fn note_down(hub: &RedisHub, down_since: &mut Option<Instant>, why: &str) {
    if down_since.is_none() {
        *down_since = Some(Instant::now());
        hub.up.store(false, Ordering::Relaxed);
        hub.metrics.redis_disconnects.inc();
        tracing::error!(
            error = why,
            "lost Redis: serving this instance's connections locally; signaling operations \
             fail until it is back"
        );
    }
}

async fn heartbeat(hub: &RedisHub) -> Result<(), String> {
    let dead_after = DEAD_AFTER.as_millis().to_string();
    let url = hub.url.clone().unwrap_or_default();
    let reply = hub
        .call("heartbeat", &[&dead_after, &url])
        .await
        .map_err(|e| e.message)?;
    if let [gone, expired, code_rooms] = reply.as_slice() {
        if gone != "0" {
            tracing::info!(peers = %gone, "removed the presence of a dead instance");
        }
        if expired != "0" {
            tracing::debug!(expired = %expired, "code rooms expired");
        }
        hub.code_rooms
            .store(code_rooms.parse().unwrap_or(0), Ordering::Relaxed);
    }
    let paths = hub
        .pipes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|p| p.path_names())
        .unwrap_or_default();
    if !paths.is_empty() {
        let ttl = super::forward::PIPE_CLAIM_TTL.as_millis().to_string();
        let mut args = vec![ttl.as_str()];
        args.extend(paths.iter().map(String::as_str));
        hub.call("hold-pipes", &args).await.map_err(|e| e.message)?;
    }
    Ok(())
}

/// Makes Redis agree with this instance: its peers that are gone are removed, those still here
/// are (re)registered in their rooms, and each gets a fresh `welcome` with all its rooms.
async fn resync(hub: &RedisHub) {
    hub.metrics.redis_resyncs.inc();
    let peers: Vec<Vec<String>> = hub
        .local()
        .iter()
        .map(|(id, p)| {
            let mut args = vec![
                id.clone(),
                p.conn.to_string(),
                p.info.client.clone(),
                p.info.name.clone(),
                p.net.clone(),
                if p.quiet { "1" } else { "0" }.to_string(),
                p.info.device.clone(),
            ];
            args.extend(p.codes.iter().map(|c| format!("code:{c}")));
            args.extend(p.paired.iter().map(|r| format!("pair:{r}")));
            args
        })
        .collect();
    let ids: Vec<&str> = peers.iter().map(|a| a[0].as_str()).collect();
    if hub.call("prune", &ids).await.is_err() {
        return;
    }
    for args in &peers {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match hub.call("resync", &args).await.as_deref() {
            Ok([elsewhere]) if elsewhere == "elsewhere" => {
                if let Some(p) = hub.local().get(args[0]) {
                    p.outbox.close(crate::outbox::CloseReason::Replaced);
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
    tracing::info!(
        peers = peers.len(),
        "re-asserted this instance's peers in Redis"
    );
}
