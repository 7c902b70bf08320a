//! `ferry send <file-or-folder>...`: create a code room, show the code, link and QR code, wait
//! for a receiver, and send once it accepts.

use std::path::PathBuf;

use clap::Args;
use ferry_protocol::signaling::ServerMessage;
use ferry_transport::SignalingClient;

use crate::peer_common::{PeerArgs, ctrl_c, json_line, link, report};
use crate::session::{Mode, Session};
use crate::ui::{Ui, qr};

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
    #[command(flatten)]
    peer: PeerArgs,
}

pub async fn run(args: SendArgs) -> anyhow::Result<()> {
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
    // Wait for a receiver: someone already in the room, or the next to join it.
    let peer_id = match room.peers.first() {
        Some(p) => p.id.clone(),
        None => {
            eprintln!("Waiting for a receiver…");
            loop {
                tokio::select! {
                    m = sig.recv() => {
                        if let ServerMessage::PeerJoined { room: r, peer } = m? && r == room.id {
                            eprintln!("{} ({}) joined", peer.name, peer.client);
                            break peer.id;
                        }
                    }
                    _ = ctrl_c() => anyhow::bail!("cancelled before a receiver joined"),
                }
            }
        }
    };
    let peer_link = link(&mut sig, &peer_id, &args.peer, &ui).await?;
    let mut session = Session::new(
        Mode::Send {
            sources,
            text: args.text.clone(),
        },
        ui,
    );
    let departed = peer_link.departed(&mut sig, &peer_id);
    let outcome = session.run(&peer_link, ctrl_c(), departed).await?;
    let ui = Ui::new(args.peer.json);
    let r = report(outcome, &session, &peer_link, "sent", &ui);
    peer_link.close().await;
    sig.close().await;
    r
}
