//! `ferry send <file-or-folder>...`: create a code room, show the code, link and QR code, wait
//! for a receiver, ask the user whether to send to it (room codes can be guessed), and send once
//! the receiver accepts.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;
use ferry_protocol::signaling::{PeerInfo, ServerMessage};
use ferry_transport::SignalingClient;

use crate::peer_common::{
    LossWording, PeerArgs, connection_lost, ctrl_c, link, report, wait_after_loss,
};
use crate::session::{Mode, Session};
use crate::ui::{Ui, json_line, qr};

#[derive(Args)]
pub struct SendArgs {
    /// Files and folders to send (folders keep their structure).
    #[arg(required_unless_present = "text")]
    paths: Vec<PathBuf>,
    /// A text message to send (before the files, or on its own); the receiver prints it.
    #[arg(long)]
    text: Option<String>,
    /// Do not print the QR code.
    #[arg(long)]
    no_qr: bool,
    /// Send to the first peer that joins the room without asking (with --receivers: to each
    /// that joins). Needed when stdin is not a terminal (scripts): anyone who guesses the room
    /// code could be that peer.
    #[arg(long, short)]
    yes: bool,
    /// Send the same files to N receivers at once (1 to 63: a room holds 64 peers). Each one
    /// that joins is asked about (unless --yes) and gets its own connection and transfer; one
    /// declining or failing does not stop the others. 0 keeps offering to whoever joins until
    /// Ctrl-C. The summary lists every receiver and its result; the exit status is non-zero if
    /// any receiver failed or was cancelled, or none got the files (a decline alone is not a
    /// failure). Without this flag: one receiver, as before.
    #[arg(long, value_name = "N", value_parser = crate::multi_send::parse_receivers)]
    receivers: Option<u16>,
    /// Keep offering to whoever joins until Ctrl-C (the same as --receivers 0).
    #[arg(long, conflicts_with = "receivers")]
    keep_open: bool,
    #[command(flatten)]
    peer: PeerArgs,
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
    if !args.yes && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "ferry send asks before sending to a peer that joins its room (a room code can be \
             guessed), but stdin is not a terminal to ask on; pass --yes (-y) to send to the first \
             peer that joins without asking"
        );
    }
    let sources = if args.paths.is_empty() {
        Vec::new()
    } else {
        crate::sources::collect(&args.paths)?
    };
    if let Some(t) = &args.text
        && t.len() > ferry_protocol::transfer::MAX_TEXT_BYTES
    {
        anyhow::bail!(
            "the text is {} bytes; a message may have at most {} (send it as a file instead)",
            t.len(),
            ferry_protocol::transfer::MAX_TEXT_BYTES
        );
    }
    let mut sig = SignalingClient::connect(&args.peer.server).await?;
    crate::peer_common::announce_self(&sig, &Ui::new(args.peer.json));
    let room = sig.create_room().await?;
    let link_url = format!("{}/?room={}", sig.http_base, room.id);
    let ui = Ui::new(args.peer.json);
    let total: u64 = sources.iter().map(|s| s.offered.size).sum();
    if !sources.is_empty() {
        eprintln!(
            "Sending {} file{} ({}).",
            sources.len(),
            if sources.len() == 1 { "" } else { "s" },
            indicatif::HumanBytes(total)
        );
    }
    if let Some(t) = &args.text {
        eprintln!("Sending a text message ({} characters).", t.chars().count());
    }
    if args.peer.json {
        json_line(serde_json::json!({"event":"room","code":room.id,"link":link_url}));
    } else {
        println!("Code: {}", room.id);
        println!("Link: {link_url}");
        if !args.no_qr
            && let Some(q) = qr(&link_url)
        {
            println!("{q}");
        }
        println!("On the other machine: ferry receive {}", room.id);
    }
    let what = what_to_send(sources.len(), total, args.text.is_some());
    if let Some(count) = args.receivers.or(args.keep_open.then_some(0)) {
        let offer = crate::multi_send::Offer {
            sources,
            text: args.text.clone(),
            what,
        };
        let room_id = room.id.clone();
        return crate::multi_send::run(
            sig, &room_id, room.peers, offer, count, args.yes, &args.peer,
        )
        .await;
    }
    let peer = choose_receiver(&mut sig, &room.id, room.peers, &what, args.yes, &ui).await?;
    let peer_id = peer.id;
    let mut ui = ui;
    let mut sources = sources;
    let mut text = args.text.clone();
    loop {
        let peer_link = link(&mut sig, &peer_id, &peer.client, &args.peer, &ui).await?;
        let mut session = Session::new(
            Mode::Send {
                sources: sources.clone(),
                text: text.clone(),
            },
            ui,
        );
        session.verify(peer_link.identities());
        let departed = peer_link.departed(&mut sig, &peer_id);
        let outcome = session.run(&peer_link, ctrl_c(), departed).await?;
        ui = Ui::new(args.peer.json);
        if connection_lost(&outcome) && !sources.is_empty() {
            // Offered again once the receiver is back: only what it has not verified (its
            // accept then resumes a cut-short file from what it kept); the text went first.
            let delivered = session.delivered();
            sources.retain(|s| !delivered.contains(&s.offered.path));
            text = None;
            let say = LossWording {
                who: "receiver",
                kept: "",
                then: ", then the rest is offered again",
                otherwise: "",
            };
            wait_after_loss(&mut sig, &peer_link, &peer_id, &room.id, &say, &ui).await?;
            continue;
        }
        let r = report(outcome, &session, &peer_link, "sent", &ui);
        peer_link.close().await;
        sig.close().await;
        return r;
    }
}

/// "2 files (1.00 MiB)", "a text message", "1 file (3 B) and a text message".
fn what_to_send(files: usize, bytes: u64, text: bool) -> String {
    let files = match files {
        0 => String::new(),
        1 => format!("1 file ({})", indicatif::HumanBytes(bytes)),
        n => format!("{n} files ({})", indicatif::HumanBytes(bytes)),
    };
    match (files.is_empty(), text) {
        (false, true) => format!("{files} and a text message"),
        (false, false) => files,
        (true, _) => "a text message".to_string(),
    }
}

fn peer_json(p: &PeerInfo) -> serde_json::Value {
    serde_json::json!({"id":p.id,"name":p.name,"client":p.client})
}

/// Waits for a peer in the room and asks the user whether to send to it (`--yes`: the first
/// one). A declined peer is skipped and the next one to join is asked about. Signaling is read
/// all the while (that answers the server's heartbeats); the messages a peer sends while the
/// user decides — its WebRTC offer, already on its way — are handed back to the client for the
/// connection to the chosen peer.
async fn choose_receiver(
    sig: &mut SignalingClient,
    room: &str,
    already_there: Vec<PeerInfo>,
    what: &str,
    yes: bool,
    ui: &Ui,
) -> anyhow::Result<PeerInfo> {
    let mut waiting: VecDeque<PeerInfo> = already_there.into();
    let mut held: Vec<ServerMessage> = Vec::new();
    let mut answers: Option<tokio::sync::mpsc::UnboundedReceiver<String>> = None;
    let mut said_waiting = false;
    loop {
        let Some(peer) = waiting.pop_front() else {
            if !said_waiting {
                eprintln!("Waiting for a receiver…");
                said_waiting = true;
            }
            tokio::select! {
                m = sig.recv() => match m? {
                    ServerMessage::PeerJoined { room: r, peer } if r == room => waiting.push_back(peer),
                    ServerMessage::RoomPeers { room: r, peers } if r == room => waiting.extend(peers),
                    ServerMessage::Signal { .. } => {} // from a declined peer (or a stray one)
                    _ => {}
                },
                _ = ctrl_c() => anyhow::bail!("cancelled before a receiver joined"),
            }
            continue;
        };
        said_waiting = false;
        eprintln!("\"{}\" ({}) joined the room.", peer.name, peer.client);
        if ui.json {
            json_line(serde_json::json!({"event":"peer-joined","peer":peer_json(&peer)}));
        }
        if yes {
            if ui.json {
                json_line(
                    serde_json::json!({"event":"answer","peer":peer.id,"send":true,"by":"--yes"}),
                );
            }
            sig.unread(held);
            return Ok(peer);
        }
        let question = format!("Send {what} to \"{}\" ({})?", peer.name, peer.client);
        if ui.json {
            json_line(
                serde_json::json!({"event":"prompt","peer":peer_json(&peer),"question":question}),
            );
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::Write::flush(&mut std::io::stderr());
        let lines = answers.get_or_insert_with(stdin_lines);
        // `Some(send)` once answered; `None` when the peer left before the answer.
        let decision = loop {
            tokio::select! {
                line = lines.recv() => {
                    let line = line.unwrap_or_default(); // end of input: no
                    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
                    break Some(yes);
                }
                m = sig.recv() => match m? {
                    ServerMessage::PeerLeft { room: r, peer_id } if r == room => {
                        if peer_id == peer.id {
                            break None;
                        }
                        waiting.retain(|p| p.id != peer_id);
                    }
                    ServerMessage::PeerJoined { room: r, peer } if r == room => waiting.push_back(peer),
                    ServerMessage::RoomPeers { room: r, peers } if r == room => waiting.extend(peers),
                    other => hold(&mut held, other),
                },
                _ = ctrl_c() => {
                    eprintln!();
                    anyhow::bail!("cancelled before a receiver was chosen");
                }
            }
        };
        let by = if decision.is_some() {
            "user"
        } else {
            "peer-left"
        };
        let send = decision == Some(true);
        if ui.json {
            json_line(serde_json::json!({"event":"answer","peer":peer.id,"send":send,"by":by}));
        }
        if send {
            sig.unread(held);
            return Ok(peer);
        }
        if decision.is_none() {
            eprintln!();
            eprintln!("\"{}\" left before you answered.", peer.name);
        } else {
            eprintln!("Not sending to \"{}\".", peer.name);
        }
        // Keep what later peers said; what the skipped one said is of no use.
        held.retain(|m| !matches!(m, ServerMessage::Signal { from, .. } if *from == peer.id));
    }
}

/// What a peer may say while the user decides is bounded: an SDP offer and its ICE candidates
/// are a few dozen messages; a peer that sends more (a guesser flooding us) loses the rest.
const MAX_HELD_PER_PEER: usize = 128;

fn hold(held: &mut Vec<ServerMessage>, msg: ServerMessage) {
    if held.len() >= 8 * MAX_HELD_PER_PEER {
        return; // presence chatter (renames and the like) is of no use to the connection
    }
    if let ServerMessage::Signal { from, .. } = &msg {
        let n = held
            .iter()
            .filter(|m| matches!(m, ServerMessage::Signal { from: f, .. } if f == from))
            .count();
        if n >= MAX_HELD_PER_PEER {
            tracing::debug!(%from, "dropping a signal: too many while the user decides");
            return;
        }
    }
    held.push(msg);
}

/// Lines typed on stdin, read by one thread for the whole run (a prompt that ends because the
/// peer left must not leave a second reader behind to swallow the next answer).
pub(crate) fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}
