//! `ferry send --receivers N`: the same files to several receivers at once.
//!
//! One signaling connection, shared through a [`SignalingMux`]: the lobby (this loop) sees who
//! joins the room and asks the user about each in turn (or `--yes`); every receiver chosen gets a
//! [`MuxPeer`] and a task of its own that connects, runs its own [`Session`] (its own engine,
//! reading the files from disk in chunks as that receiver takes them — nothing is buffered per
//! receiver) and reports one [`ReceiverResult`]. A receiver declining, cancelling, failing or
//! vanishing ends only its own task.
//!
//! The rule of the loop: after every input (a lobby message, an answer, a finished task,
//! Ctrl-C), start as many prompts or sessions as the count allows; stop when the count is
//! reached (or Ctrl-C) and every task has reported.

use std::collections::{HashSet, VecDeque};

use ferry_protocol::signaling::{PeerInfo, ServerMessage};
use ferry_transport::{MuxPeer, SignalingClient, SignalingMux};
use indicatif::MultiProgress;
use tokio::task::JoinSet;

use crate::peer_common::{PeerArgs, ctrl_c, link};
use crate::session::{Mode, Outcome, Session};
use crate::sources::Source;
use crate::ui::{Ui, json_line, rate_line};

/// The receivers a code room can hold besides the sender (the hub's cap is 64 peers a room).
pub const MAX_RECEIVERS: u16 = (ferry_server::hub::MAX_PEERS_PER_CODE_ROOM - 1) as u16;

/// `--receivers` as clap parses it: 0 (keep offering) or 1 to [`MAX_RECEIVERS`].
pub fn parse_receivers(s: &str) -> Result<u16, String> {
    let n: u16 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of receivers"))?;
    if n > MAX_RECEIVERS {
        return Err(format!(
            "at most {MAX_RECEIVERS}: a room holds {} peers, the sender and {MAX_RECEIVERS} \
             receivers (0 keeps offering until Ctrl-C)",
            MAX_RECEIVERS + 1
        ));
    }
    Ok(n)
}

/// What one receiver ended with.
#[derive(Debug)]
enum Ending {
    /// Everything arrived and the receiver verified every file (or the text was delivered).
    Sent {
        detail: String,
    },
    Declined,
    Cancelled {
        reason: String,
    },
    Failed {
        reason: String,
    },
}

struct ReceiverResult {
    peer: PeerInfo,
    result: Ending,
}

impl Ending {
    fn word(&self) -> &'static str {
        match self {
            Ending::Sent { .. } => "sent",
            Ending::Declined => "declined",
            Ending::Cancelled { .. } => "cancelled",
            Ending::Failed { .. } => "failed",
        }
    }

    fn line(&self) -> String {
        match self {
            Ending::Sent { detail } => format!("sent and verified: {detail}"),
            Ending::Declined => "declined".into(),
            Ending::Cancelled { reason } => format!("cancelled: {reason}"),
            Ending::Failed { reason } => format!("failed: {reason}"),
        }
    }
}

/// What is offered to each receiver (cloned per task: paths and sizes, never file contents).
pub struct Offer {
    pub sources: Vec<Source>,
    pub text: Option<String>,
    /// "2 files (1.00 MiB)", for the question.
    pub what: String,
}

/// Runs until `count` receivers were served (0: until Ctrl-C). The exit status: success when
/// no receiver failed or was cancelled and at least one got everything; a decline alone is the
/// receiver's choice, not a failure.
pub async fn run(
    sig: SignalingClient,
    room: &str,
    already_there: Vec<PeerInfo>,
    offer: Offer,
    count: u16,
    yes: bool,
    args: &PeerArgs,
) -> anyhow::Result<()> {
    let json = args.json;
    let mut mux = SignalingMux::start(sig);
    let bars = MultiProgress::new();
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let mut tasks: JoinSet<ReceiverResult> = JoinSet::new();
    let mut results: Vec<ReceiverResult> = Vec::new();
    let mut waiting: VecDeque<PeerInfo> = already_there.into();
    // Everyone asked about or served once: a receiver that reconnects is not offered again.
    let mut seen: HashSet<String> = HashSet::new();
    let mut asking: Option<PeerInfo> = None;
    let mut answers: Option<tokio::sync::mpsc::UnboundedReceiver<String>> = None;
    let mut started: u16 = 0;
    let mut stopped = false;
    let mut said_waiting = false;
    // Ctrl-C is one future, polled until it fires once.
    let mut interrupted = false;
    let mut lobby_gone = false;
    let mut interrupt = std::pin::pin!(ctrl_c());
    let target = if count == 0 {
        "until Ctrl-C".to_string()
    } else {
        format!("to {count} receiver{}", if count == 1 { "" } else { "s" })
    };
    eprintln!("Offering {} {target}.", offer.what);
    loop {
        // Start what can start: sessions for `--yes`, else one question at a time.
        while !stopped && asking.is_none() {
            let Some(peer) = waiting.pop_front() else {
                break;
            };
            if !seen.insert(peer.id.clone()) || peer.id == mux.me().id {
                continue;
            }
            eprintln!("\"{}\" ({}) joined the room.", peer.name, peer.client);
            if json {
                json_line(serde_json::json!({"event":"peer-joined","peer":peer_json(&peer)}));
            }
            if yes {
                if json {
                    json_line(
                        serde_json::json!({"event":"answer","peer":peer.id,"send":true,"by":"--yes"}),
                    );
                }
                spawn_receiver(&mut tasks, &mux, peer, &offer, args, &bars, &cancel_rx);
                started += 1;
                stopped = count != 0 && started >= count;
                continue;
            }
            let question = format!(
                "Send {} to \"{}\" ({})?",
                offer.what, peer.name, peer.client
            );
            if json {
                json_line(
                    serde_json::json!({"event":"prompt","peer":peer_json(&peer),"question":question}),
                );
            }
            let _ = bars.suspend(|| {
                eprint!("{question} [y/N] ");
                std::io::Write::flush(&mut std::io::stderr())
            });
            answers.get_or_insert_with(crate::send::stdin_lines);
            asking = Some(peer);
        }
        if stopped && asking.is_none() && tasks.is_empty() {
            break;
        }
        if !stopped && asking.is_none() && tasks.is_empty() && !said_waiting {
            eprintln!("Waiting for a receiver…");
            said_waiting = true;
        }
        tokio::select! {
            m = mux.recv(), if !lobby_gone => match m {
                Ok(ServerMessage::PeerJoined { room: r, peer }) if r == room => {
                    if stopped {
                        eprintln!("\"{}\" joined the room; not offering to anyone new ({started} served or being served).", peer.name);
                    } else {
                        waiting.push_back(peer);
                    }
                }
                Ok(ServerMessage::RoomPeers { room: r, peers }) if r == room => waiting.extend(peers),
                Ok(ServerMessage::PeerLeft { room: r, peer_id }) if r == room => {
                    waiting.retain(|p| p.id != peer_id);
                    if asking.as_ref().is_some_and(|p| p.id == peer_id) {
                        let p = asking.take().expect("checked");
                        eprintln!();
                        eprintln!("\"{}\" left before you answered.", p.name);
                        if json {
                            json_line(serde_json::json!({"event":"answer","peer":p.id,"send":false,"by":"peer-left"}));
                        }
                        mux.forget(&p.id);
                    }
                }
                Ok(ServerMessage::Error { message, .. }) => tracing::warn!(%message, "signaling error"),
                Ok(_) => {}
                Err(e) => {
                    // Signaling is gone: no one new can join; running sessions go on over their
                    // own connections (their departure watch stops, ICE alone decides).
                    if !stopped {
                        eprintln!("Lost the connection to the server ({e}); not offering to anyone new.");
                    }
                    lobby_gone = true;
                    stopped = true;
                    if asking.take().is_some() {
                        eprintln!();
                    }
                }
            },
            line = next_line(&mut answers), if asking.is_some() => {
                let peer = asking.take().expect("guarded");
                let send = matches!(line.unwrap_or_default().trim().to_ascii_lowercase().as_str(), "y" | "yes");
                if json {
                    json_line(serde_json::json!({"event":"answer","peer":peer.id,"send":send,"by":"user"}));
                }
                if send {
                    spawn_receiver(&mut tasks, &mux, peer, &offer, args, &bars, &cancel_rx);
                    started += 1;
                    stopped = count != 0 && started >= count;
                } else {
                    eprintln!("Not sending to \"{}\".", peer.name);
                    mux.forget(&peer.id);
                }
            }
            Some(r) = tasks.join_next(), if !tasks.is_empty() => {
                let r = joined(r);
                said_waiting = false;
                results.push(r);
            }
            _ = &mut interrupt, if !interrupted && (!stopped || asking.is_some() || !tasks.is_empty()) => {
                interrupted = true;
                if asking.take().is_some() {
                    eprintln!();
                }
                if !tasks.is_empty() {
                    eprintln!("Ctrl-C: cancelling the running transfers.");
                }
                stopped = true;
                let _ = cancel_tx.send(true);
            }
        }
    }
    let _ = bars.clear();
    drop(tasks);
    mux.close().await;
    summarize(&results, json)
}

fn peer_json(p: &PeerInfo) -> serde_json::Value {
    serde_json::json!({"id":p.id,"name":p.name,"client":p.client})
}

async fn next_line(
    answers: &mut Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
) -> Option<String> {
    match answers {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn joined(r: Result<ReceiverResult, tokio::task::JoinError>) -> ReceiverResult {
    r.unwrap_or_else(|e| ReceiverResult {
        peer: PeerInfo {
            id: String::new(),
            name: "?".into(),
            client: String::new(),
            device: String::new(),
        },
        result: Ending::Failed {
            reason: format!("the session ended abnormally: {e}"),
        },
    })
}

#[allow(clippy::too_many_arguments)]
fn spawn_receiver(
    tasks: &mut JoinSet<ReceiverResult>,
    mux: &SignalingMux,
    peer: PeerInfo,
    offer: &Offer,
    args: &PeerArgs,
    bars: &MultiProgress,
    cancel: &tokio::sync::watch::Receiver<bool>,
) {
    // Registered now, in the lobby's order: the signals it already sent are handed over.
    let psig = mux.peer(&peer.id);
    let ui = Ui::for_receiver(args.json, &peer.id, &peer.name, bars.clone());
    let mode = Mode::Send {
        sources: offer.sources.clone(),
        text: offer.text.clone(),
    };
    let args = args.clone();
    let cancel = cancel.clone();
    tasks.spawn(async move {
        let result = serve_receiver(psig, &peer, mode, ui, &args, cancel).await;
        ReceiverResult { peer, result }
    });
}

async fn serve_receiver(
    mut psig: MuxPeer,
    peer: &PeerInfo,
    mode: Mode,
    ui: Ui,
    args: &PeerArgs,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Ending {
    let json = args.json;
    let cancelled = |mut c: tokio::sync::watch::Receiver<bool>| async move {
        let _ = c.wait_for(|c| *c).await;
    };
    let link = tokio::select! {
        l = link(&mut psig, &peer.id, &peer.client, args, &ui) => match l {
            Ok(l) => l,
            Err(e) => return finish(&ui, json, Ending::Failed { reason: format!("{e:#}") }),
        },
        _ = cancelled(cancel.clone()) => {
            let reason = "cancelled by the user (Ctrl-C) while connecting".to_string();
            return finish(&ui, json, Ending::Cancelled { reason });
        }
    };
    let mut session = Session::new(mode, ui);
    session.verify(link.identities());
    let departed = link.departed(&mut psig, &peer.id);
    let outcome = session.run(&link, cancelled(cancel), departed).await;
    let result = match outcome {
        Ok(Outcome::Done {
            bytes,
            files,
            failed: 0,
        }) => Ending::Sent {
            detail: format!(
                "{} file{}, {}, path: {}",
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                rate_line(bytes, session.elapsed()),
                link.path_label()
            ),
        },
        Ok(Outcome::Done { failed, .. }) => Ending::Failed {
            reason: format!("{failed} file(s) failed verification on the receiver"),
        },
        Ok(Outcome::TextOnly { .. }) => Ending::Sent {
            detail: format!("text message, path: {}", link.path_label()),
        },
        Ok(Outcome::Declined) => Ending::Declined,
        Ok(Outcome::Cancelled {
            by_peer: true,
            reason,
        }) => Ending::Cancelled {
            reason: format!("by the receiver: {reason}"),
        },
        Ok(Outcome::Cancelled {
            by_peer: false,
            reason,
        }) => Ending::Cancelled { reason },
        Err(e) => Ending::Failed {
            reason: match link.close_reason() {
                Some(why) => format!("{e:#} ({why})"),
                None => format!("{e:#}"),
            },
        },
    };
    link.close().await;
    finish(session.ui(), json, result)
}

fn finish(ui: &Ui, json: bool, result: Ending) -> Ending {
    ui.note(&result.line());
    if json {
        let reason = match &result {
            Ending::Cancelled { reason } | Ending::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        ui.json_event(
            serde_json::json!({"event":"receiver-done","result":result.word(),"reason":reason}),
        );
    }
    result
}

fn summarize(results: &[ReceiverResult], json: bool) -> anyhow::Result<()> {
    if results.is_empty() {
        anyhow::bail!("cancelled before any receiver was served");
    }
    eprintln!(
        "Summary ({} receiver{}):",
        results.len(),
        if results.len() == 1 { "" } else { "s" }
    );
    for r in results {
        eprintln!(
            "  \"{}\" ({}, {}): {}",
            r.peer.name,
            r.peer.client,
            r.peer.id,
            r.result.line()
        );
    }
    let bad = results
        .iter()
        .filter(|r| matches!(r.result, Ending::Failed { .. } | Ending::Cancelled { .. }))
        .count();
    let sent = results
        .iter()
        .filter(|r| matches!(r.result, Ending::Sent { .. }))
        .count();
    if json {
        json_line(serde_json::json!({
            "event":"summary",
            "ok": bad == 0 && sent > 0,
            "receivers": results.iter().map(|r| {
                let reason = match &r.result {
                    Ending::Cancelled { reason } | Ending::Failed { reason } => Some(reason.clone()),
                    _ => None,
                };
                serde_json::json!({"peer":peer_json(&r.peer),"result":r.result.word(),"reason":reason})
            }).collect::<Vec<_>>(),
        }));
    }
    if bad > 0 {
        anyhow::bail!(
            "{bad} of {} receivers did not get everything",
            results.len()
        );
    }
    if sent == 0 {
        anyhow::bail!("every receiver declined");
    }
    Ok(())
}
